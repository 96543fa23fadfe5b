#!/bin/bash
# A/B update test, inside the guest (run_ab.py puts it only into its scratch copy, and boots
# the card through U-Boot and boot.scr). What it does depends on "release-station.ab=STEP" on
# the kernel command line (cmdline.txt):
#   install   wait for the station's idle screen and the slot marked good, add a badge, try a
#             bundle signed with another key (foreign.raucb beside it: must be refused), then
#             rauc install the bundle from the build host's HTTPS server (its address follows
#             "release-station.ab_url="), then reboot into the new slot
#   check     wait for the station's idle screen and the slot marked good, report the booted
#             slot, RAUC's view of both slots, the pairing and the badge, then power off
# Prints "AB_RESULT key=value ..." lines on the console.
set -u
unit=release-station.service
step=$(sed -n 's/.*release-station\.ab=\([a-z]*\).*/\1/p' /proc/cmdline)
url=$(sed -n 's/.*release-station\.ab_url=\([^ ]*\).*/\1/p' /proc/cmdline)
badge=04AB15C0
say() { echo "AB_RESULT $*" > /dev/console; }
as_station() { runuser -u release-station -- env RELEASE_STATION_CONFIG=/etc/release-station/station.toml "$@"; }
seconds() { awk -v us="$1" 'BEGIN { printf "%.1f", us / 1e6 }'; }  # monotonic µs since boot

# The station's idle screen, then the mark-good unit it pulls in (10 minutes at most: TCG on a
# busy host).
ready_s=none
for _ in $(seq 600); do
  line=$(journalctl -b -u "$unit" -o short-monotonic --no-pager 2>/dev/null | grep -m1 -- '-> Idle')
  if [ -n "$line" ]; then ready_s=$(printf '%s' "$line" | sed -n 's/^\[ *\([0-9.]*\)\].*/\1/p'); break; fi
  sleep 1
done
mark_good=release-station-mark-good.service
for _ in $(seq 60); do
  [ "$(systemctl show -p ExecMainExitTimestampMonotonic --value "$mark_good")" != 0 ] && break
  sleep 1
done
result=$(systemctl show -p Result --value "$mark_good")
slot=$(sed -n 's/.*rauc\.slot=\([AB]\).*/\1/p' /proc/cmdline)
state() { fw_printenv 2>/dev/null | paste -sd, -; }
rauc status --detailed > /tmp/rauc-status.txt 2>&1
sed 's/^/AB_STATUS /' /tmp/rauc-status.txt > /dev/console
say "step=${step:-none} slot=${slot:-none} ready_s=$ready_s mark_good=${result:-none}" \
  "boot_state=$(state) root=$(findmnt -rn -o SOURCE /media/root-ro)"

case "$step" in
  install)
    as_station release-station badges add "$badge" --user-id u-ab-test --name "A B" > /dev/console 2>&1
    # A bundle signed with another key (same server, "foreign.raucb") must be refused.
    rauc install "${url%/*}/foreign.raucb" > /tmp/rauc-foreign.txt 2>&1
    foreign_rc=$?
    sed 's/^/AB_FOREIGN /' /tmp/rauc-foreign.txt > /dev/console
    refused=no
    grep -q 'signature verification failed' /tmp/rauc-foreign.txt && refused=yes
    say "foreign_rc=$foreign_rc foreign_refused=$refused foreign_boot_state=$(state)"
    start=$(date +%s)
    rauc install "$url" > /tmp/rauc-install.txt 2>&1
    rc=$?
    sed 's/^/AB_INSTALL /' /tmp/rauc-install.txt > /dev/console
    say "installed rc=$rc install_s=$(( $(date +%s) - start )) boot_state=$(state)"
    systemctl --no-block reboot
    ;;
  *)
    paired=$(as_station release-station status 2>/dev/null | grep -c '^paired: yes')
    badges=$(as_station release-station badges list 2>/dev/null | grep -c "$badge")
    say "checked station=$(systemctl is-active "$unit") paired_lines=$paired badge=$badges" \
      "started_s=$(seconds "$(systemctl show -p ExecMainStartTimestampMonotonic --value "$unit")")"
    systemctl --no-block poweroff
    ;;
esac
