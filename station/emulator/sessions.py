"""Browser sessions for the approval pages: a random cookie, who signed in, and a CSRF token."""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass

COOKIE = "emu_session"
MAX_SESSIONS = 1000


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    csrf: str
    email: str | None = None


class SessionStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def get_or_create(self, session_id: str | None) -> Session:
        with self._lock:
            session = self._sessions.get(session_id or "")
            if session is None:
                session = Session(secrets.token_urlsafe(24), secrets.token_urlsafe(24))
                self._store(session)
            return session

    def sign_in(self, old: Session, email: str | None) -> Session:
        """A fresh session id and CSRF token at every sign-in and sign-out (no fixation)."""
        with self._lock:
            self._sessions.pop(old.id, None)
            session = Session(secrets.token_urlsafe(24), secrets.token_urlsafe(24), email)
            self._store(session)
            return session

    def _store(self, session: Session) -> None:
        self._sessions[session.id] = session
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)


def csrf_ok(session: Session, submitted: object) -> bool:
    return isinstance(submitted, str) and secrets.compare_digest(session.csrf, submitted)
