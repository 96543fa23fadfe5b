#!/usr/bin/env bash
# Build a signed RAUC bundle (verity format) that writes ROOT_EXT4 into the other root slot.
#
#   image-build/rauc/bundle.sh --cert CERT --key KEY --keyring CA --version V ROOT_EXT4 OUT.raucb
#
# build.sh calls it with the root file system of the image it just made, so the bundle and the
# image carry the same system. The bundle is checked against CA (the keyring the image carries)
# before it is kept: a key from another CA fails the build, not the stations.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
usage() { sed -n '4p' "$0" | sed 's/^# *//' >&2; exit 2; }
cert='' key='' keyring='' version=''
while [ $# -gt 2 ]; do
  case "$1" in
    --cert) cert=$2; shift 2 ;;
    --key) key=$2; shift 2 ;;
    --keyring) keyring=$2; shift 2 ;;
    --version) version=$2; shift 2 ;;
    *) usage ;;
  esac
done
if [ $# -ne 2 ] || [ -z "$cert" ] || [ -z "$key" ] || [ -z "$keyring" ] || [ -z "$version" ]; then usage; fi
root=$1 out=$2
content=$(mktemp -d "${TMPDIR:-/tmp}/rauc-bundle.XXXXXX")
trap 'rm -rf "$content"' EXIT
# A hard link where possible: the root image is a gigabyte.
ln "$root" "$content/rootfs.ext4" 2>/dev/null || cp --sparse=always "$root" "$content/rootfs.ext4"
cat > "$content/manifest.raucm" <<MANIFEST
[update]
compatible=release-station-arm64
version=$version

[bundle]
format=verity

[image.rootfs]
filename=rootfs.ext4
MANIFEST
# The image's own system.conf, with the keyring given here: the same rules as the station's.
# Without its data directory (the station's /data): nothing is written on the build host.
sed -e "s|^path=.*|path=$(realpath "$keyring")|" -e '/^data-directory=/d' \
  "$here/../overlay/etc/rauc/system.conf" > "$content.conf"
trap 'rm -rf "$content" "$content.conf"' EXIT
rm -f "$out"
rauc --conf="$content.conf" bundle --cert="$cert" --key="$key" "$content" "$out"
rauc --conf="$content.conf" info "$out" >/dev/null
