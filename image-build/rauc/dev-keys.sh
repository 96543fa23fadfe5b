#!/usr/bin/env bash
# Make a throw-away signing key for RAUC bundles: a CA and a code-signing certificate it issued.
#
#   image-build/rauc/dev-keys.sh DIR
#
# Writes DIR/ca.cert.pem (the keyring build.sh puts into the image), DIR/signing.cert.pem and
# DIR/signing.key.pem (what build.sh signs the bundle with). The CA's own key is deleted at
# once: nothing can issue a second certificate under this CA. CI makes a new set for every run;
# a real release uses the project's key, kept off the build machine's disk when not in use and
# never in the repository. Two runs give two unrelated keys (the tests' "another key").
set -euo pipefail
[ $# -eq 1 ] || { sed -n '4p' "$0" | sed 's/^# *//' >&2; exit 2; }
dir=$1
mkdir -p "$dir"
ca_key=$(mktemp "$dir/.ca-key.XXXXXX")
trap 'rm -f "$ca_key" "$dir/signing.csr.pem" "$dir/leaf.ext" "$dir/ca.cert.srl"' EXIT
# The keys are only for this run: no passphrase (the build runs unattended), readable by us only.
umask 077
openssl req -x509 -newkey rsa:3072 -nodes -days 90 -keyout "$ca_key" -out "$dir/ca.cert.pem" \
  -subj "/O=release-station/CN=release-station throw-away CA $(date -u +%Y%m%dT%H%M%SZ)" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey rsa:3072 -nodes -keyout "$dir/signing.key.pem" -out "$dir/signing.csr.pem" \
  -subj "/O=release-station/CN=release-station bundle signing" 2>/dev/null
# codeSigning: the key can sign bundles and nothing else (system.conf: check-purpose=codesign).
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n' \
  > "$dir/leaf.ext"
openssl x509 -req -in "$dir/signing.csr.pem" -CA "$dir/ca.cert.pem" -CAkey "$ca_key" -CAcreateserial \
  -days 90 -extfile "$dir/leaf.ext" -out "$dir/signing.cert.pem" 2>/dev/null
chmod 0644 "$dir/ca.cert.pem" "$dir/signing.cert.pem"
