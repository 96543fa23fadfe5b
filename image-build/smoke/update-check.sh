#!/bin/bash
# A/B update test, inside the guest (run_ab.py puts it only into its scratch copy, and boots
# the card through U-Boot and boot.scr). What it does depends on "release-station.ab=STEP" on
# the kernel command line (cmdline.txt):
#   install   wait for the station's idle screen and the slot marked good, add a badge, try a
#             bundle signed with another key (foreign.raucb beside it: must be refused), then
#             start release-station-update.service, which installs the bundle the build
#             host's HTTPS server offers in its manifest, while a session is held open; end
#             the session, and the service reboots into the new slot
#   broken    the checks of "check", then rauc install broken.raucb (by hand, from the bundle's
#             folder on the build host, whose address follows "release-station.ab_url="; its
#             station never becomes ready) into the other slot and reboot into it
#   cut       (the card came back by itself from the broken slot) wait for the idle screen,
#             report the station's metrics, then rauc install the bundle again and ask the
#             host to cut the power (AB_POWER_CUT_NOW) once 400 MB of it are on the other slot
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

check() {  # the pairing and the badge (data partition) are still there
  paired=$(as_station release-station status 2>/dev/null | grep -c '^paired: yes')
  badges=$(as_station release-station badges list 2>/dev/null | grep -c "$badge")
  # The bundle that made this slot is not taken again (the manifest still offers it).
  again=$(release-station update check 2>/dev/null | cut -d: -f1)
  say "checked station=$(systemctl is-active "$unit") paired_lines=$paired badge=$badges" \
    "update_again=${again:-none}" \
    "started_s=$(seconds "$(systemctl show -p ExecMainStartTimestampMonotonic --value "$unit")")"
}

install_from() {  # rauc install URL, then reboot into the slot it wrote; KEY names the figures
  local key=$1 url=$2 start rc
  start=$(date +%s)
  rauc install "$url" > "/tmp/rauc-$key.txt" 2>&1
  rc=$?
  sed 's/^/AB_INSTALL /' "/tmp/rauc-$key.txt" > /dev/console
  say "${key}_rc=$rc ${key}_s=$(( $(date +%s) - start )) ${key}_boot_state=$(state)"
  systemctl --no-block reboot
}

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
    # As in the field: the update timer's service reads the manifest beside the bundle
    # ([update] url of the station's configuration), fetches the bundle to /data/update, checks
    # and installs it, then reboots once no session runs. A session is held open here (the
    # station's own lock) until the install is reported: the reboot must wait for its end.
    exec 9< /run/release-station/session.lock
    flock -x 9
    start=$(date +%s)
    systemctl start --no-block release-station-update.service
    result=none
    for _ in $(seq 1800); do
      result=$(sed -n 's/.*"result": "\([a-z_]*\)".*/\1/p' /data/update/last-run.json 2>/dev/null)
      case "$result" in installed | failed | no_update | not_in_share) break ;; esac
      sleep 1
    done
    install_s=$(( $(date +%s) - start ))
    rc=1
    [ "$result" = installed ] && rc=0
    waits=no  # the service says it waits for the session, and has not rebooted the machine
    for _ in $(seq 60); do
      journalctl -u release-station-update.service -o cat --no-pager | grep -q 'the reboot waits' &&
        waits=yes && break
      sleep 1
    done
    journalctl -u release-station-update.service -o cat --no-pager | sed 's/^/AB_INSTALL /' > /dev/console
    say "installed install_rc=$rc result=$result install_s=$install_s reboot_waits=$waits boot_state=$(state)"
    exec 9<&-  # the session ends: the service reboots into the new slot
    [ "$rc" = 0 ] || systemctl --no-block reboot
    ;;
  broken)
    check
    install_from broken "${url%/*}/broken.raucb"
    ;;
  cut)
    # The metrics file the station writes (node_exporter's textfile collector reads it).
    for _ in $(seq 120); do
      grep -qs '^release_station_slot_info' /run/release-station-metrics/*.prom && break
      sleep 1
    done
    grep -hs '^release_station_\(slot_info\|update_result\)' /run/release-station-metrics/*.prom |
      sed 's/^/AB_METRIC /' > /dev/console
    sed 's/^/AB_RECORD /' /data/slot/last-install > /dev/console
    # The other slot's partition, and how much the kernel wrote to it (/proc/diskstats: sectors).
    other=$(readlink -f "/dev/card/rootfs-$( [ "$slot" = B ] && echo a || echo b)")
    written() { awk -v dev="${other##*/}" '$3 == dev { print $10 }' /proc/diskstats; }
    before=$(written)
    rauc install "$url" > /tmp/rauc-cut.txt 2>&1 &
    mb=0
    for _ in $(seq 1800); do
      mb=$(( ($(written) - before) / 2048 ))
      [ "$mb" -ge 400 ] && break
      sleep 0.5
    done
    say "cut_written_mb=$mb cut_boot_state=$(state)"
    echo "AB_POWER_CUT_NOW" > /dev/console
    wait
    ;;
  *)
    check
    systemctl --no-block poweroff
    ;;
esac
