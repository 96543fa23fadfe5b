#!/usr/bin/env bash
# Build the release station's SD-card image without mounting anything and without loop devices.
#
#   image-build/build.sh --keys DIR [--profile NAME] [--out DIR] [--work DIR] [--no-compress]
#
# DIR holds signing.cert.pem and signing.key.pem, which sign the RAUC bundle, and ca.cert.pem,
# the keyring the image trusts (/etc/rauc/keyring.pem). Never in the repository: CI makes a
# throw-away set for each run (rauc/dev-keys.sh DIR); a release uses the project's.
#
# Steps (each prints "== step" and its time):
#   base    mmdebstrap: the profile's arm64 root file system with every Debian package of
#           packages.txt and the profile, in one pass, one short initramfs. Cached in WORK as a
#           tarball keyed by the package lists, the profile and the initramfs settings; the
#           downloaded .debs are cached too, so a changed list downloads only what changed.
#           Prints the state of the Debian archive it was built from (the date of each suite's
#           InRelease), which the manifest keeps too.
#   wheels  the pinned Python dependencies (requirements-image.txt, hashes checked) as aarch64
#           wheels; the three that PyPI has only as sources are compiled under qemu-user in a
#           throw-away arm64 chroot. Cached, keyed by the requirements file. Runs beside
#           the base step (each keeps one core busy under qemu-user).
#   app     the station's own wheel, built from this checkout.
#   rootfs  mmdebstrap again, starting from the cached base: the file overlay, config/, the
#           station venv and the customise hook (hooks/customize.sh), which also cuts the
#           kernel modules to modules-allowlist.txt and the venv to what runs. (What nothing
#           reads never lands at all: dpkg-path-exclude.cfg, given to the base's dpkg.)
#   image   FAT boot partition (mkfs.vfat -C + mcopy) with U-Boot's boot.scr and boot-state.env
#           (mkimage, mkenvimage), ext4 root slot A and data (mkfs.ext4 -d), MBR image with an
#           empty slot B (genimage), what fills the root (RESULT rootfs_used_mb, the largest
#           directories and the areas of the budget), package manifest (exact versions, checked against the allow-list
#           by allowlist.py), then xz and SHA-256.
#   bundle  the signed RAUC bundle (rauc/bundle.sh) of the same ext4 root as the image:
#           out/release-station-VERSION-PROFILE.raucb.
#
# Needs root (or mmdebstrap's unshare mode), binfmt_misc with qemu-aarch64 on a non-arm64 host,
# and: mmdebstrap arch-test qemu-user-static binfmt-support genimage mtools dosfstools
# e2fsprogs fdisk xz-utils python3-pip rauc squashfs-tools u-boot-tools binutils-aarch64-linux-gnu
# (ci.sh installs them).
# mmdebstrap hooks get the chroot as "$1": single quotes on purpose.
# shellcheck disable=SC2016
set -euo pipefail

# The whole script is one block, read before it runs: editing it during a build is safe.
{
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
profile=debian-bookworm-arm64
out=$here/out
work=$here/work
compress=1
keys=''

usage() { sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --no-compress) compress=0; shift ;;
    --keys) keys=$(realpath "$2"); shift 2 ;;
    *) usage ;;
  esac
done

signing_cert=$keys/signing.cert.pem signing_key=$keys/signing.key.pem keyring=$keys/ca.cert.pem
for file in "$signing_cert" "$signing_key" "$keyring"; do
  [ -n "$keys" ] && [ -f "$file" ] && continue
  echo "--keys DIR: no $file (rauc/dev-keys.sh DIR makes a throw-away set)" >&2
  usage
done
profile_file=$here/profiles/$profile.conf
[ -f "$profile_file" ] || { echo "no such profile: $profile (see $here/profiles)" >&2; exit 2; }
# shellcheck source=/dev/null
. "$profile_file"

# What is slow to make and keyed by its inputs (base trees, .debs, wheels) can live outside the
# checkout, so a fresh clone on the same machine rebuilds fast (ci.sh sets RS_IMAGE_CACHE).
cache=${RS_IMAGE_CACHE:-$work/cache}
mkdir -p "$work" "$out" "$cache"
work=$(cd "$work" && pwd)
out=$(cd "$out" && pwd)
cache=$(cd "$cache" && pwd)
stage=$work/$profile
# One build at a time per cache: two would write the same .part files.
exec 9> "$cache/.lock"
if ! flock -n 9; then
  echo "waiting for the other build using $cache"
  flock 9
fi
# An image from an earlier build must not pass for this one's if this one fails.
rm -f "$stage/release-station.img"
export TMPDIR=$work/tmp
mkdir -p "$TMPDIR"

step_start=$SECONDS
build_start=$SECONDS
step() {
  echo "== $* (previous step $((SECONDS - step_start)) s)"
  step_start=$SECONDS
}

keyring_args=()
for keyring in "${KEYRINGS[@]}"; do keyring_args+=("--keyring=$keyring"); done

packages() { sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$here/packages.txt"; printf '%s\n' "${PROFILE_PACKAGES[@]}"; }
include=$(packages | tr -s '[:space:]' ',' | sed 's/,$//')

# --- base and wheels: the slow, cached steps, side by side --------------------------------------
# Both are mostly arm64 code under qemu-user and each keeps one core busy, so they run in
# parallel (the wheels in the background, their log printed when they are done).
base_key=$( { packages; cat "$profile_file" "$here/hooks/archive-state.sh" "$here/dpkg-path-exclude.cfg"; \
  cat "$here"/overlay/etc/initramfs-tools/modules "$here"/overlay/etc/initramfs-tools/conf.d/*; } \
  | sha256sum | cut -c1-16)
base=$cache/base-$profile-$base_key.tar
apt_cache=$cache/apt-cache-$ARCH
wheels_key=$( { cat "$here/requirements-image.txt"; echo "$SUITE $ARCH"; } | sha256sum | cut -c1-16)
wheels=$cache/wheels-$ARCH-$wheels_key

build_base() {  # Debian packages, kernel and initramfs
  mkdir -p "$apt_cache"
  # dpkg keeps our initramfs settings (copied in before the kernel is installed) as they are.
  nice -n 10 mmdebstrap --arch="$ARCH" --variant=minbase --include="$include" --format=tar \
    "${keyring_args[@]}" \
    --aptopt='Acquire::Retries "3"' \
    --dpkgopt='force-confold' --dpkgopt='force-confdef' --dpkgopt="$here/dpkg-path-exclude.cfg" \
    --setup-hook='mkdir -p "$1/var/cache/apt/archives"' \
    --setup-hook="sync-in $apt_cache /var/cache/apt/archives" \
    --essential-hook='mkdir -p "$1/etc/initramfs-tools"' \
    --essential-hook="sync-in $here/overlay/etc/initramfs-tools /etc/initramfs-tools" \
    --customize-hook="sync-out /var/cache/apt/archives $apt_cache" \
    --customize-hook="$here/hooks/archive-state.sh" \
    "$SUITE" "${base%.tar}.part.tar" "${SOURCES[@]}"
  mv "${base%.tar}.part.tar" "$base"
}

build_wheels() {  # the pinned Python dependencies for aarch64
  rm -rf "$wheels.part"
  mkdir -p "$wheels.part/sources"
  # Downloads happen here on the build host (its pip reaches the index); hashes are required.
  # A small tool venv has a setuptools new enough to read the sources' metadata.
  # The same build tools compile the sources in the chroot (Debian's setuptools 66 cannot read
  # their pyproject.toml).
  local build_tools=(setuptools==84.2.1 wheel==0.48.0)
  local tools=$cache/tools-venv
  # The compilers' .debs have their own cache: the base build writes its cache at the same time.
  local tools_apt_cache=$cache/apt-cache-$ARCH-compilers
  mkdir -p "$tools_apt_cache"
  if [ ! -x "$tools/bin/pip" ]; then
    python3 -m venv "$tools"
    "$tools/bin/pip" install --quiet "${build_tools[@]}"
  fi
  "$tools/bin/pip" download --quiet --only-binary=:all: --dest "$wheels.part/tools" "${build_tools[@]}"
  sed '/^# --- built from source/,$d' "$here/requirements-image.txt" > "$wheels.part/binary.txt"
  sed -n '/^# --- built from source/,$p' "$here/requirements-image.txt" > "$wheels.part/source.txt"
  "$tools/bin/pip" download --quiet --no-deps --require-hashes --only-binary=:all: \
    --platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64 --python-version 3.11 \
    --implementation cp --abi cp311 --abi abi3 --abi none \
    --dest "$wheels.part" -r "$wheels.part/binary.txt"
  "$tools/bin/pip" download --quiet --no-deps --require-hashes --no-binary=:all: --no-build-isolation \
    --dest "$wheels.part/sources" -r "$wheels.part/source.txt"
  # The sources are compiled inside a throw-away arm64 chroot against the same Debian libraries
  # the image has, offline and with none of the host's pip settings.
  nice -n 10 mmdebstrap --arch="$ARCH" --variant=minbase \
    --include=python3-venv,python3-dev,gcc,libc6-dev,swig,libpcsclite-dev,linux-libc-dev \
    --aptopt='Acquire::Retries "3"' \
    --setup-hook='mkdir -p "$1/var/cache/apt/archives"' \
    --setup-hook="sync-in $tools_apt_cache /var/cache/apt/archives" \
    --customize-hook="copy-in $wheels.part/sources $wheels.part/tools /tmp" \
    --customize-hook='chroot "$1" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root sh -c "python3 -m venv /tmp/build && /tmp/build/bin/pip install -q --no-index --find-links /tmp/tools '"${build_tools[*]}"' && /tmp/build/bin/pip wheel --no-index --no-deps --no-build-isolation --wheel-dir /tmp/wheels /tmp/sources/*"' \
    --customize-hook="sync-out /tmp/wheels $wheels.part" \
    --customize-hook="sync-out /var/cache/apt/archives $tools_apt_cache" \
    "$SUITE" /dev/null "${SOURCES[@]}"
  rm -rf "$wheels.part/sources" "$wheels.part/tools" "$wheels.part"/*.txt
  mv "$wheels.part" "$wheels"
}

step "base $base_key, wheels $wheels_key"
wheels_pid=
if [ -d "$wheels" ]; then
  echo "cached: $wheels"
else
  # In its own process group (set -m), so that a failed base build stops all of it.
  set -m
  build_wheels > "$work/wheels.log" 2>&1 &
  wheels_pid=$!
  set +m
  trap 'kill -- "-$wheels_pid" 2>/dev/null || true' EXIT
fi
if [ -s "$base" ]; then
  echo "cached: $base"
else
  build_base
fi
archive_state=./usr/share/release-station/debian-archive.txt
echo "Debian archive as of (code name, date of its InRelease, suite):"
tar -xOf "$base" "$archive_state" | sed 's/^/  /'
if [ -n "$wheels_pid" ]; then
  wheels_status=0
  wait "$wheels_pid" || wheels_status=$?
  trap - EXIT
  sed 's/^/wheels: /' "$work/wheels.log"
  [ "$wheels_status" = 0 ] || { echo "the wheels build failed ($wheels_status)" >&2; exit 1; }
fi
ls "$wheels"

# --- app: the station's wheel from this checkout -----------------------------------------------
step app
python=$repo/.venv/bin/python
[ -x "$python" ] || python=python3
app=$stage/app
rm -rf "$app" "$stage/src"
mkdir -p "$app" "$stage/src"
# Build from a copy, so the shared checkout gets no build/ or egg-info from us.
tar -C "$repo" -c --exclude='__pycache__' pyproject.toml README.md station ui drivers | tar -C "$stage/src" -x
"$python" -m pip wheel --quiet --no-deps --wheel-dir "$app" "$stage/src"
rm -rf "$stage/src"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/pyproject.toml")
name=release-station-$version-$profile
ls "$app"

# --- rootfs: the application layer on top of the cached base -----------------------------------
step rootfs
rootfs=$stage/rootfs
rm -rf "$rootfs"
export RS_REPO=$repo RS_IMAGE_BUILD=$here RS_WHEELS=$wheels RS_APP=$app RS_PROFILE=$profile
nice -n 10 mmdebstrap --arch="$ARCH" --variant=custom --skip=update --format=directory \
  "${keyring_args[@]}" \
  --setup-hook="tar -C \"\$1\" --exclude='./dev/*' -xf $base" \
  --customize-hook="$here/hooks/customize.sh" \
  "$SUITE" "$rootfs" "${SOURCES[@]}"

# --- image: three file systems, one disk image -------------------------------------------------
step image
bootfs=$stage/bootfs
rm -rf "$bootfs" "$stage/data" "$stage/genimage-tmp" "$stage/images"
mkdir -p "$bootfs" "$stage/data"
# The CA the station trusts for updates (rauc/system.conf's keyring).
install -D -m 0644 "$keyring" "$rootfs/etc/rauc/keyring.pem"
# The firmware partition's files move out of the root file system (its mount point stays).
find "$rootfs/boot/firmware" -mindepth 1 -maxdepth 1 -exec mv -t "$bootfs" {} +
disk_signature=$(printf '0x%08x' "$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')")
partuuid=$(printf '%08x' "$disk_signature")-02
{
  boot_kernel_lines "$bootfs" "$rootfs"
  echo
  cat "$here/boot/config.txt"
} > "$bootfs/config.txt"
sed "s/@ROOT_PARTUUID@/$partuuid/" "$here/boot/cmdline.txt" > "$bootfs/cmdline.txt"
# The A/B choice (boot/boot.cmd) and a new card's boot-count state: slot A first.
mkimage -A arm64 -T script -C none -n "release-station A/B" -d "$here/boot/boot.cmd" "$bootfs/boot.scr" >/dev/null
mkenvimage -s 0x4000 -o "$bootfs/boot-state.env" "$here/boot/boot-state.txt"
# fstab mounts the card's partitions by these ids, never by label (a USB stick could copy one).
sed -i "s/@DISK_ID@/${partuuid%-02}/g" "$rootfs/etc/fstab"
# Documented examples for whoever flashes the card (README.md, "First boot").
cp "$repo/config/station.toml" "$bootfs/release-station.toml.example"
cp "$here/boot/system.toml.example" "$bootfs/"

# The data partition starts with the directories the services expect.
station_uid=$(awk -F: '$1 == "release-station" {print $3 ":" $4}' "$rootfs/etc/passwd")
install -d -m 0755 "$stage/data/config" "$stage/data/system"
# RAUC's slot status (rauc/system.conf: data-directory).
install -d -m 0700 "$stage/data/rauc"
install -d -m 0700 -o "${station_uid%:*}" -g "${station_uid#*:}" "$stage/data/state"

rm -f "$stage"/boot.vfat "$stage"/root.ext4 "$stage"/data.ext4
mkfs.vfat -n BOOTFS -F 32 -C "$stage/boot.vfat" $((256 * 1024)) >/dev/null
mcopy -s -p -m -i "$stage/boot.vfat" "$bootfs"/* ::/
# What fills a root slot, for the size budget (README.md: a slot holds one system, 700 MB used).
rootfs_used_mb=$(du -sxm "$rootfs" | cut -f1)
echo "root file system: $rootfs_used_mb MB; the largest directories (MB):"
du -xm --max-depth=4 "$rootfs" | sort -rn | sed -n '2,16p' | sed "s|$rootfs||; s/^/  /"
echo "by area (MB; the budget's table in image-build/README.md):"
for area in usr/lib/modules usr/lib/firmware boot opt/release-station usr/share usr/lib/python3.11 \
  usr/lib/aarch64-linux-gnu usr/lib/raspi-firmware usr/lib/u-boot; do
  printf '  %-28s %s\n' "/$area" "$(du -sxm "$rootfs/$area" 2>/dev/null | cut -f1)"
done
printf '  %-28s %s\n' "Mesa, LLVM and what they link" "$(du -cxm "$rootfs"/usr/lib/aarch64-linux-gnu/{dri,libLLVM*,libz3*,libicu*,libxml2*} | tail -n 1 | cut -f1)"
# Both slots have this size; an update's root must fit it (mkfs.ext4 fails when it does not).
slot_mb=1536
mkfs.ext4 -q -L rootfs -E root_owner=0:0 -d "$rootfs" "$stage/root.ext4" "${slot_mb}M"
# Room for the station's data and one downloaded update bundle (Debian's RAUC cannot stream).
mkfs.ext4 -q -L data -d "$stage/data" "$stage/data.ext4" 1024M
sed -e "s/@DISK_SIGNATURE@/$disk_signature/" -e "s/@SLOT_SIZE@/${slot_mb}M/" "$here/genimage.cfg.in" \
  > "$stage/genimage.cfg"
genimage --config "$stage/genimage.cfg" --inputpath "$stage" --outputpath "$stage/images" \
  --tmppath "$stage/genimage-tmp" --rootpath /nonexistent >/dev/null
rm -rf "$stage/genimage-tmp"

image=$stage/release-station.img
mv "$stage/images/release-station.img" "$image"
rmdir "$stage/images"

manifest=$out/$name.manifest.txt
{
  echo "# $name: installed packages (built $(date -u +%Y-%m-%dT%H:%MZ))"
  echo "# The Debian archive the packages came from: code name, date of its InRelease, suite"
  sed 's/^/archive /' "$rootfs/$archive_state"
  echo "# Debian packages"
  dpkg-query --admindir="$rootfs/var/lib/dpkg" -W -f='deb ${Package} ${Version} ${Architecture}\n' | sort
  echo "# Python packages in /opt/release-station"
  for info in "$rootfs"/opt/release-station/lib/python3*/site-packages/*.dist-info; do
    # The headers only (some end their lines with CR LF; the description may say "Version:").
    # (sed reads to the end: quitting early would break the pipe under pipefail).
    tr -d '\r' < "$info/METADATA" | sed -n '1,/^$/{s/^Name: /pip /p;s/^Version: //p;}' | paste -sd' '
  done | sort
} > "$manifest"
cp "$manifest" "$stage/manifest.txt"
python3 "$here/allowlist.py" "$manifest" || echo "review these (the artefact tests fail on them)"

step bundle
bundle=$out/$name.raucb
nice -n 10 "$here/rauc/bundle.sh" --cert "$signing_cert" --key "$signing_key" --keyring "$keyring" \
  --version "$version" "$stage/root.ext4" "$bundle"
ls -l "$bundle"

step compress
cd "$out"
rm -f "$name.img.xz" "$name.img.xz.sha256"
if [ "$compress" = 1 ]; then
  nice -n 10 xz -T2 -3 -c "$image" > "$name.img.xz"
  sha256sum "$name.img.xz" > "$name.img.xz.sha256"
else
  echo "skipped (--no-compress)"
fi

step finished
echo "image:    $image ($(du -h --apparent-size "$image" | cut -f1) apparent, $(du -h "$image" | cut -f1) used)"
[ "$compress" = 1 ] && echo "xz:       $out/$name.img.xz ($(du -h "$out/$name.img.xz" | cut -f1))"
echo "manifest: $manifest"
echo "bundle:   $bundle"
echo "RESULT image_build_s=$((SECONDS - build_start)) image_mb=$(( $(stat -c %s "$image") / 1048576 ))" \
  "image_used_mb=$(( $(du -k "$image" | cut -f1) / 1024 ))" "rootfs_used_mb=$rootfs_used_mb" \
  "bundle_mb=$(( $(stat -c %s "$bundle") / 1048576 ))" \
  "xz_mb=$( [ "$compress" = 1 ] && echo $(( $(stat -c %s "$out/$name.img.xz") / 1048576 )) || echo none)"
exit
}
