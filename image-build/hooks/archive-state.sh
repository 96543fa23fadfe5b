#!/usr/bin/env bash
# mmdebstrap customise hook of the base step: records which state of the Debian archive the root
# file system in $1 was built from, one line a suite: "CODENAME DATE SUITE" (bookworm-security
# 2026-12-05T03:33:28Z oldstable-security: the date of its signed InRelease file, UTC; the suite
# name changes when Debian releases the next version, the code name does not), in
# /usr/share/release-station/debian-archive.txt. build.sh prints it and
# copies it into the manifest: the archive moves on every day, and a build says which day it saw.
set -euo pipefail
root=$1
out=$root/usr/share/release-station/debian-archive.txt
mkdir -p "$(dirname "$out")"
: > "$out"
for release in "$root"/var/lib/apt/lists/*_InRelease; do
  codename=$(sed -n 's/^Codename: //p' "$release" | head -n 1)
  suite=$(sed -n 's/^Suite: //p' "$release" | head -n 1)
  date=$(sed -n 's/^Date: //p' "$release" | head -n 1)
  echo "$codename $(date -u -d "$date" +%Y-%m-%dT%H:%M:%SZ) $suite" >> "$out"
done
[ -s "$out" ] || { echo "archive-state.sh: no InRelease files in $root/var/lib/apt/lists" >&2; exit 1; }
sort -o "$out" "$out"
