"""RS256 signing of access tokens and the JWKS that publishes the public key."""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


@functools.cache
def default_signing_key() -> rsa.RSAPrivateKey:
    """One 2048-bit key per process: generating it takes a noticeable fraction of a second."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class InvalidToken(Exception):
    """A bearer token that is not one of ours (bad signature or shape)."""


class Signer:
    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        self._key = key
        public = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.kid = hashlib.sha256(public).hexdigest()[:16]
        # A token's signature and claims never change under the same key: checking each token
        # once keeps the emulator's own CPU (PyJWT checks a token character by character) out of
        # what a benchmark measures. Expiry and revocation are still checked on every request.
        self._verified = functools.lru_cache(maxsize=256)(self._verify)

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a token we signed. Expiry is the caller's business (its clock)."""
        return dict(self._verified(token))  # a copy: the cached claims stay as signed

    def _verify(self, token: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key.public_key(),
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_iat": False, "verify_aud": False},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from None
        return claims

    def jwks(self) -> dict[str, Any]:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}]}
