#!/usr/bin/env bash
# CI for the SD image: host tools, binfmt, the debian profile's build (cached), the artefact
# tests and both QEMU boot tests.
#
#   image-build/ci.sh [--compress] [--stage all|build|test] [--ab]
#
# --ab adds the whole-card update test (run_ab.py, five boots through U-Boot: slot A installs
# the signed bundle over HTTPS into slot B; B installs a bundle whose station never gets ready
# into A, which falls back to B by itself; an install cut by a power loss leaves B booting).
# --stage build stops after the build and --stage test starts after it, so a caller can run the
# build beside other work (.ci/dev test runs it beside pytest). Without --compress the build
# skips xz (2 to 3 minutes here): CI tests the image, not its compression.
# Prints "IMAGE <stage> PASSED", "IMAGE <stage> FAILED" or "IMAGE <stage> SKIPPED: <reason>" for
# every stage, then one "RESULT key=value ..." line with the figures. Exit status: 0 when every
# stage passed, 1 when one failed, 3 when none failed but one could not run: a skip is never a
# pass. Runs as root (or with password-less sudo for apt and binfmt). Heavy steps run niced.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
repo=$(pwd)
here=$repo/image-build
profile=debian-bookworm-arm64
build_args=(--no-compress)
stage=all
ab=0
while [ $# -gt 0 ]; do
  case "$1" in
    --compress) build_args=(); shift ;;
    --ab) ab=1; shift ;;
    --stage) stage=${2:-}; shift; [ $# -gt 0 ] && shift ;;
    *) stage=usage; break ;;
  esac
done
case "$stage" in
  all|build|test) ;;
  *) sed -n '5p' "$0" | sed 's/^# *//' >&2; exit 2 ;;
esac
image=$here/work/$profile/release-station.img
logs=$here/work/ci-logs
keys=$here/work/keys  # this run's throw-away bundle signing key (rauc/dev-keys.sh)
mkdir -p "$logs"
python=$repo/.venv/bin/python
# Slow, input-keyed build results outlive the checkout (CI clones afresh on the same machine).
export RS_IMAGE_CACHE=${RS_IMAGE_CACHE:-/var/cache/release-station-image}
[ -x "$python" ] || python=python3

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi; }
failed=0
skipped=0
report() {  # stage status [reason]
  case "$2" in
    PASSED) echo "IMAGE $1 PASSED" ;;
    FAILED) echo "IMAGE $1 FAILED${3:+: $3}"; failed=1 ;;
    SKIPPED) echo "IMAGE $1 SKIPPED: $3"; skipped=1 ;;
  esac
}
figure() { sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p" "$2" 2>/dev/null | tail -n 1; }

run_build() {
  # --- host tools ----------------------------------------------------------------------------------
  tools=(mmdebstrap arch-test qemu-user-static binfmt-support genimage mtools dosfstools e2fsprogs
         fdisk xz-utils zstd qemu-system-arm ipxe-qemu seabios python3-pip rauc squashfs-tools
         u-boot-tools u-boot-qemu libubootenv-tool binutils-aarch64-linux-gnu)
  missing=()
  for pkg in "${tools[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing ${missing[*]}"
    if ! { as_root apt-get update -qq &&
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
      > "$logs/apt.log" 2>&1; then
      report tools FAILED "apt-get install (see $logs/apt.log)"
      exit 1
    fi
  fi
  report tools PASSED

  # --- binfmt: run arm64 programs while building ---------------------------------------------------
  if [ "$(dpkg --print-architecture)" != arm64 ]; then
    mountpoint -q /proc/sys/fs/binfmt_misc || as_root mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    as_root update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
    if ! arch-test arm64 >/dev/null 2>&1; then
      report binfmt FAILED "arm64 programs do not run (binfmt_misc / qemu-user-static)"
      exit 1
    fi
  fi
  report binfmt PASSED

  # --- signing key: a throw-away one for each run, never the project's ------------------------------
  rm -rf "$keys"
  if ! "$here/rauc/dev-keys.sh" "$keys" > "$logs/keys.log" 2>&1; then
    report keys FAILED "see $logs/keys.log"
    exit 1
  fi

  # --- build -----------------------------------------------------------------------------------------
  if "$here/build.sh" --profile "$profile" "${build_args[@]}" --keys "$keys" > "$logs/build.log" 2>&1; then
    report build PASSED
  else
    report build FAILED "see $logs/build.log"
    tail -n 30 "$logs/build.log"
  fi
  grep '^RESULT' "$logs/build.log" > "$logs/build.result" || true
}

run_tests() {
  # --- artefact tests ----------------------------------------------------------------------------------
  if [ ! -f "$image" ]; then
    report artefacts SKIPPED "no image (the build failed)"
  else
    RELEASE_STATION_IMAGE=$image "$python" -m pytest -q -p no:cacheprovider -rs \
      "$repo/tests/test_image_artefact.py" > "$logs/artefacts.log" 2>&1
    case $? in
      0) if grep -q ' skipped' "$logs/artefacts.log"; then
           report artefacts SKIPPED "$(grep -m1 'SKIPPED' "$logs/artefacts.log")"
         else report artefacts PASSED; fi ;;
      *) report artefacts FAILED "see $logs/artefacts.log"; tail -n 30 "$logs/artefacts.log" ;;
    esac
  fi

  # --- boot tests --------------------------------------------------------------------------------------
  # Both machines boot at once: each emulated CPU keeps one host core busy, and the tests share
  # nothing but the read-only image (each boots its own scratch copy against its own emulator).
  declare -A boot_pid
  for machine in virt raspi3b; do
    nice -n 10 "$python" "$here/run_qemu.py" --machine "$machine" --image "$image" \
      --timeout 900 --log "$logs/boot-$machine.serial.log" > "$logs/boot-$machine.log" 2>&1 &
    boot_pid[$machine]=$!
  done
  for machine in virt raspi3b; do
    status=0
    wait "${boot_pid[$machine]}" || status=$?
    grep "^== retrying" "$logs/boot-$machine.log"  # raspi3b's network lost at QEMU's end, booted again
    grep -A80 "^BOOT_RESULT" "$logs/boot-$machine.log"
    case $status in
      0) report "boot-$machine" PASSED ;;
      3) report "boot-$machine" SKIPPED "$(sed -n 's/.*reason=//p' "$logs/boot-$machine.log")" ;;
      *) report "boot-$machine" FAILED "see $logs/boot-$machine*.log" ;;
    esac
  done

  if [ "$ab" = 1 ]; then
    nice -n 10 "$python" "$here/run_ab.py" --image "$image" --timeout 900 \
      --log "$logs/boot-ab.serial.log" > "$logs/boot-ab.log" 2>&1
    status=$?
    grep -A40 "^AB_RESULT status" "$logs/boot-ab.log"
    case $status in
      0) report boot-ab PASSED ;;
      3) report boot-ab SKIPPED "$(sed -n 's/.*reason=//p' "$logs/boot-ab.log")" ;;
      *) report boot-ab FAILED "see $logs/boot-ab*.log" ;;
    esac
  fi

  build_result=$logs/build.result
  echo "RESULT image_build_s=$(figure image_build_s "$build_result") image_mb=$(figure image_mb "$build_result")" \
    "image_used_mb=$(figure image_used_mb "$build_result") xz_mb=$(figure xz_mb "$build_result")" \
    "bundle_mb=$(figure bundle_mb "$build_result") rootfs_used_mb=$(figure rootfs_used_mb "$build_result")" \
    "ab_install_s=$(figure install_s "$logs/boot-ab.log") ab_b_ready_s=$(figure b_ready_s "$logs/boot-ab.log")" \
    "ab_fallback_s=$(figure fallback_s "$logs/boot-ab.log") ab_wall_s=$(figure wall_s "$logs/boot-ab.log")" \
    "virt_boot_to_ready_s=$(figure boot_to_ready_s "$logs/boot-virt.log")" \
    "raspi3b_boot_to_ready_s=$(figure boot_to_ready_s "$logs/boot-raspi3b.log")" \
    "virt_stop_ms=$(figure stop_ms "$logs/boot-virt.log") raspi3b_stop_ms=$(figure stop_ms "$logs/boot-raspi3b.log")" \
    "rejected_boot_s=$(figure rejected_boot_s "$logs/boot-virt.log")"
}

[ "$stage" = test ] || run_build
[ "$stage" = build ] || run_tests
[ "$failed" = 1 ] && exit 1
[ "$skipped" = 1 ] && exit 3
exit 0
