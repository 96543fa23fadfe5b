#!/bin/bash
# Boot test, inside the guest (run_qemu.py puts it only into its scratch copy of the image).
# What it does depends on "release-station.smoke=MODE" on the kernel command line:
#   plain     wait, bounded, for the station's idle screen, check the system, stop the
#             service (timed)
#   rejected  a wrong release-station.toml was put on the boot partition: the station must
#             stay off and the screen (tty1) must say why
# In every mode it also reports what a passer-by's USB stick and keyboard got (lock-down).
# With "release-station.smoke_keys=1" it prints SMOKE_CTRL_ALT_DEL_NOW, run_qemu.py presses
# Ctrl-Alt-Del through QEMU's monitor, and it checks that systemd saw the keys and ignored them.
# It prints the listening sockets (SMOKE_LISTEN) and the firewall (SMOKE_NFT) line by line.
# Once the station is ready it prints its boot's critical chain (SMOKE_CHAIN, line by line) and
# measures the CPU and the wake-ups of the idle station, thread by thread (idle-cpu.py,
# SMOKE_IDLE_THREAD lines), over IDLE_WINDOW_S next to two references in the same guest
# (systemd-journald, and a Python process waking 10 times a second, what a kiosk that polls
# would cost): emulation is slow and uneven, so only the ratio means something.
# With a screen (virt) it asks run_qemu.py for QEMU's screendump (SMOKE_SCREENDUMP_NOW) and reads
# the station's frames back from the DRM framebuffer itself (/data/smoke-frame-NAME.ppm, for
# run_qemu.py to compare); with a wedge reader (virt: QEMU's USB keyboard) it asks run_qemu.py to
# touch the screen through QEMU's USB tablet (SMOKE_PRESS_NOW) and to type a badge
# (SMOKE_TYPE_NOW). Its last step stops the station while the emulator holds the print call of
# a tap (issue 13): the stop must end in time, cleanly and without traceback.
# Then it prints ONE line "SMOKE_RESULT key=value ..." on the console and powers off.
set -u
timeout_s=${1:-300}
unit=release-station.service
mode=$(sed -n 's/.*release-station\.smoke=\([a-z]*\).*/\1/p' /proc/cmdline)
smoke_dir=/usr/local/lib/release-station-smoke
failed_units() { systemctl list-units --state=failed --no-legend --plain | awk '{print $1}' | paste -sd, -; }
firstboot_line() {
  journalctl -b -u release-station-firstboot.service -o cat --no-pager | grep -m1 '^FIRSTBOOT' |
    tr ' ' '\n' | grep '=' | paste -sd, -
}

# What a USB stick and a keyboard got: no driver (USBGuard, no usb_storage), no mount, no
# console, no SysRq, no getty anywhere.
lockdown() {
  local stick=absent kbmode
  if usbguard list-devices --blocked 2>/dev/null | grep -q 'id 46f4:0001'; then stick=blocked
  elif usbguard list-devices 2>/dev/null | grep -q 'id 46f4:0001'; then stick=allowed; fi
  kbmode=$(python3 -c 'import fcntl, os, struct
fd = os.open("/dev/tty1", os.O_RDONLY | os.O_NOCTTY)
mode = struct.unpack("i", fcntl.ioctl(fd, 0x4B44, b"\0" * 4))[0]
print({0: "raw", 1: "xlate", 2: "mediumraw", 3: "unicode", 4: "off"}.get(mode, mode))' 2>/dev/null)
  echo "usb_stick=$stick usb_storage=$(lsmod | grep -c '^usb_storage ')" \
    "disks=$(lsblk -dn -o NAME | grep -v '^zram' | paste -sd, -)" \
    "mounted_from=$(findmnt -rn -o SOURCE --target /data),$(findmnt -rn -o SOURCE --target /boot/firmware)" \
    "usbguard=$(systemctl is-active usbguard.service) sysrq=$(cat /proc/sys/kernel/sysrq)" \
    "kbmode=${kbmode:-none} cad_target=$(systemctl is-enabled ctrl-alt-del.target 2>/dev/null)" \
    "gettys=$(systemctl list-units --no-legend --plain --state=active '*getty*' | grep -c '\.service')"
}

if [ "$mode" = rejected ]; then
  # multi-user.target is reached: first boot has run and the station was started, or not.
  screen=no
  grep -a -q 'did not take these settings' /dev/vcs1 && screen=yes
  echo "SMOKE_RESULT mode=rejected firstboot=$(firstboot_line)" \
    "station=$(systemctl is-active "$unit") restarts=$(systemctl show -p NRestarts --value "$unit")" \
    "screen=$screen failed_units=$(failed_units) $(lockdown)" > /dev/console
  systemctl --no-block poweroff
  exit 0
fi

idle_line() { journalctl -b -u "$unit" -o short-monotonic --no-pager 2>/dev/null | grep -m1 -- '-> Idle'; }
for _ in $(seq "$timeout_s"); do
  [ -n "$(idle_line)" ] && break
  sleep 1
done
line=$(idle_line)
# "[   41.123456] host release-station[412]: state Pairing -> Idle": seconds since the kernel started.
ready_s=$(printf '%s' "$line" | sed -n 's/^\[ *\([0-9.]*\)\].*/\1/p')
# The station may pass Idle while it settles; give restarts and late failures a moment to show.
sleep 5

# What the station waited for: systemd-analyze answers once the boot has finished (this unit is
# Type=simple, so its own run does not hold the boot open).
for _ in $(seq 60); do
  chain=$(systemd-analyze critical-chain --no-pager "$unit" 2>/dev/null) && break
  sleep 1
done
printf '%s\n' "${chain:-none}" | sed 's/^/SMOKE_CHAIN /' > /dev/console
# One word for the result: unit@activated+took, the station first, each unit it waited for next.
chain_word=$(printf '%s\n' "${chain:-}" | grep -E '\.(service|target|socket|mount)' |
  sed -E 's/^[^a-zA-Z]*//; s/(min|h) ([0-9])/\1\2/g; s/ @/@/; s/ \+/+/; s/ .*//' | paste -sd'<' -)

# The frame on the screen: QEMU's view of it (run_qemu.py, through its monitor) and the
# guest's own (the framebuffer on the display's CRTC), both of the idle screen.
frame=none
if [ -e /dev/dri/card0 ]; then
  echo "SMOKE_SCREENDUMP_NOW" > /dev/console
  sleep 2
  frame=$(python3 "$smoke_dir/frame-grab.py" /data/smoke-frame-idle.ppm 2>&1 | tail -n 1 | tr ' ' ',')
fi

# CPU and wake-ups over an idle window: the station per thread, and the references.
IDLE_WINDOW_S=60
python3 "$smoke_dir/idle-cpu.py" "$(systemctl show -p MainPID --value "$unit")" \
  "$(systemctl show -p MainPID --value systemd-journald.service)" "$IDLE_WINDOW_S" > /run/smoke-idle-cpu 2>&1 &
idle_watch=$!

# Monitoring end to end: the station's textfile, read by node_exporter, says paired and reader up.
scrape() { python3 "$smoke_dir/metrics-client.py" scrape 2>/dev/null; }
metrics=no
for _ in $(seq 30); do
  page=$(scrape)
  if grep -q '^release_station_token_state{state="paired"} 1$' <<< "$page" &&
     grep -q '^release_station_reader_up{.*} 1$' <<< "$page"; then
    metrics=yes
    break
  fi
  sleep 1
done

# node_exporter as a stranger sees it: plain HTTP and a wrong password refused.
access=$(python3 "$smoke_dir/metrics-client.py" access 2>&1)
echo "SMOKE_NODE_EXPORTER $access" > /dev/console
node_exporter_access=$(printf '%s' "$access" | cut -d' ' -f1-3 | tr ' ' ',')

# The idle window ends before the keys: a key wakes the station (SDL reads every keyboard).
wait "$idle_watch"
idle=$(head -n 1 /run/smoke-idle-cpu)
echo "SMOKE_IDLE_CPU window_s=$IDLE_WINDOW_S $idle" > /dev/console
sed '1d; s/^/SMOKE_IDLE_THREAD /' /run/smoke-idle-cpu > /dev/console
value() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# Ctrl-Alt-Del from a keyboard (run_qemu.py presses it 8 times through QEMU's monitor: more than
# systemd's burst of 7 in 2 s). The keyboard must deliver all 8 (keyboard-watch.py reads them
# from evdev), and nothing may happen: the console keyboard is off (the kernel then does not
# even tell systemd), ctrl-alt-del.target is masked, the station keeps running.
ctrl_alt_del=none
if grep -q 'release-station.smoke_keys=1' /proc/cmdline; then
  keys=$(mktemp)
  python3 "$smoke_dir/keyboard-watch.py" 8 40 > "$keys" 2>&1 &
  watcher=$!
  for _ in $(seq 20); do grep -q '^ready$' "$keys" && break; sleep 0.5; done
  echo "SMOKE_CTRL_ALT_DEL_NOW" > /dev/console
  wait "$watcher"
  ctrl_alt_del=$(tail -n 1 "$keys")
  sleep 5  # a reboot or a restart of the station would show by now
  echo "SMOKE_CTRL_ALT_DEL_LOG presses=$ctrl_alt_del systemd:" \
    "$(journalctl -b _PID=1 -o cat --no-pager | grep -i -m3 'ctrl-alt-del' | paste -sd'|' -)" > /dev/console
fi

# Touch through QEMU's USB tablet, where the station's reader is QEMU's USB keyboard as a
# keyboard wedge (virt): run_qemu.py makes the gestures named here. Each must take the station
# to the next screen; the frame then on the display is kept for run_qemu.py to compare. While
# the station runs, its wedge reader is grabbed: no one else gets its keys.
transitions() { journalctl -b -u "$unit" -o cat --no-pager | grep -cE -- "-> $1( |\$)"; }
gesture() {  # NAME MODE FRAME: the gesture, the station entering MODE, the frame as FRAME
  local before
  before=$(transitions "$2")
  echo "SMOKE_PRESS_NOW $1" > /dev/console
  for _ in $(seq 60); do
    if [ "$(transitions "$2")" -gt "$before" ]; then
      sleep 2  # drawn and presented
      python3 "$smoke_dir/frame-grab.py" "/data/smoke-frame-$3.ppm" > /dev/null 2>&1
      echo yes
      return
    fi
    sleep 0.5
  done
  {
    echo "SMOKE_GESTURE_LOG $1: the station did not enter $2"
    journalctl -b -u "$unit" -o cat -n 8 --no-pager
  } > /dev/console
  echo no
}
wedge=$(sed -n 's/^wedge_device = "\(.*\)"$/\1/p' /etc/release-station/station.toml)
touch_corner=none touch_pin=none touch_close=none wedge_grabbed=none
if [ -n "$wedge" ]; then
  touch_corner=$(gesture corner PinCheck pin)  # the technician corner's long press
  touch_pin=$(gesture technician-pin Technician technician)  # the PIN on the keypad, OK
  touch_close=$(gesture close-technician Idle closed)
  wedge_grabbed=$(python3 - "$wedge" <<'PY'
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
try:
    fcntl.ioctl(fd, 0x40044590, 1)  # EVIOCGRAB: refused while another holds the grab
except OSError:
    print("yes")
else:
    print("no")
PY
)
fi

seconds() { awk -v us="$1" 'BEGIN { printf "%.1f", us / 1e6 }'; }  # monotonic µs since boot
started_s=$(seconds "$(systemctl show -p ExecMainStartTimestampMonotonic --value "$unit")")

clock_from=$(systemctl show -p InactiveExitTimestampMonotonic --value release-station-time-sync.service)
clock_to=$(systemctl show -p ActiveEnterTimestampMonotonic --value release-station-time-sync.service)
clock_wait_s=$(seconds "$((clock_to - clock_from))")
# How the time-sync unit's wait ended: systemd-time-wait-sync returned (0: NTP set the clock) or
# its 30 s ran out (timeout's 124). And when the guest had an address and when NTP first set
# the clock, in seconds since the kernel started: the answer can only come once the network
# is there, which a loaded host delays (raspi3b's USB network most).
case $(systemctl show -p ExecMainStatus --value release-station-time-sync.service) in
  0) clock_gate=synced ;; 124) clock_gate=timed_out ;; *) clock_gate=none ;;
esac
mono_of() {  # UNIT PATTERN: the first matching journal line's time since the kernel started
  journalctl -b -u "$1" -o short-monotonic --no-pager 2>/dev/null | grep -m1 -E "$2" |
    sed -n 's/^\[ *\([0-9.]*\)\].*/\1/p'
}
network_at=$(mono_of systemd-networkd.service 'DHCPv4 address')
synced_at=$(mono_of systemd-timesyncd.service 'Initial clock synchronization|Contacted time server')
clock_after_network_s=none
if [ -n "$network_at" ] && [ -n "$synced_at" ]; then
  clock_after_network_s=$(awk -v n="$network_at" -v s="$synced_at" 'BEGIN { printf "%.1f", s - n }')
fi
state=$(systemctl is-active "$unit")
restarts=$(systemctl show -p NRestarts --value "$unit")
pid=$(systemctl show -p MainPID --value "$unit")
# KMSDRM holds the DRM device open; SDL's dummy driver would not.
drm=no
if [ "$pid" != 0 ]; then
  for fd in /proc/"$pid"/fd/*; do
    case "$(readlink "$fd")" in /dev/dri/card*) drm=yes ;; esac
  done
fi
user=$(ps -o user= -p "$pid" 2>/dev/null | tr -d ' ')
# Whose frame the display shows: the program that made the framebuffer on the first plane with
# one (the kernel's DRM state; no GPU, as on raspi3b, gives "none").
scanout=$(awk '/allocated by = / { print $4; exit }' /sys/kernel/debug/dri/0/state 2>/dev/null)
failed=$(failed_units)
watchdog=$(journalctl -b -o cat --no-pager | grep -c 'Using hardware watchdog')
firstboot=$(firstboot_line)
root_ro=no; findmnt -n -o OPTIONS /media/root-ro 2>/dev/null | grep -q '^ro' && root_ro=yes
overlay=$(findmnt -n -o FSTYPE /)
data=$(findmnt -n -o SOURCE /data)
machine_id_fresh=no; [ -s /etc/machine-id ] && machine_id_fresh=yes
ssh=$(systemctl is-active ssh.service)
node_exporter=$(systemctl is-active prometheus-node-exporter.service)
time_sync=$(systemctl show -p ActiveState --value release-station-time-sync.service)
ntp_synced=$(timedatectl show -p NTPSynchronized --value 2>/dev/null)

# What the station and the network did, when it did not get there.
if [ -z "$ready_s" ]; then
  {
    echo "SMOKE_NOT_READY station log:"
    journalctl -b -u "$unit" -o short-monotonic -n 40 --no-pager
    networkctl --no-pager list
    ip -brief address
  } > /dev/console 2>&1
fi
# Why each failed unit failed, for whoever reads the serial log.
for failed_unit in ${failed//,/ }; do
  echo "SMOKE_FAILED_UNIT $failed_unit:"
  journalctl -b -u "$failed_unit" -o cat -n 12 --no-pager
done > /dev/console 2>&1

# What the network sees: the listening sockets and the firewall in front of them.
{
  ss -Hltun | sed 's/^/SMOKE_LISTEN /'
  nft list ruleset | sed 's/^/SMOKE_NFT /'
} > /dev/console 2>&1
# TCP ports listening beyond loopback, and whether the firewall drops what it does not name.
listen_tcp=$(ss -Hltn | awk '{print $4}' | grep -v -e '^127\.' -e '^\[::1\]' | sed 's/.*://' | sort -un | paste -sd, -)
firewall=none
nft list chain inet release_station input 2>/dev/null | grep -q 'policy drop' && firewall=drop
lockdown_now=$(lockdown)

# The stop with a request stuck at ezeep (issue 13): a tap's print call is held by the emulator
# (slow_done_s: read, held 30 s, then carried out) when systemd stops the station, which must
# be gone within the unit's TimeoutStopSec=5: exit 0, no SIGKILL, no traceback in its journal.
emulator() {  # faults JSON | held: the emulator's admin API, through the relay
  python3 - "$@" <<'PY'
import json, sys, urllib.request

def call(path, body=None):  # POST with a body, else GET
    request = urllib.request.Request(f"http://127.0.0.1:@PORT@/_emulator/{path}",
        data=body.encode() if body else None, headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(request, timeout=20))

action = sys.argv[1]
if action == "faults":
    call("faults", sys.argv[2])
else:  # held: how many requests the emulator holds now
    print(call("stats")["slow_held"])
PY
}
tap() {  # BADGE (hex): typed by the wedge reader (run_qemu.py, in decimal), else the simulated one
  if [ -n "$wedge" ]; then
    echo "SMOKE_TYPE_NOW $(python3 -c 'import sys; print(int(sys.argv[1], 16))' "$1")" > /dev/console
    return 0
  fi
  python3 - "$1" <<'PY'
import socket, sys
with socket.socket(socket.AF_UNIX) as conn:
    conn.settimeout(20)
    conn.connect("/run/release-station/badges.sock")
    conn.sendall(f"tap {sys.argv[1]}\n".encode())
    sys.exit(conn.recv(16) != b"ok\n")
PY
}
offline_taps() { journalctl -b -u "$unit" -o cat --no-pager | grep -c 'state Identifying -> Idle' || true; }
held_after_tap() {  # BADGE: tap, then wait until the emulator holds the tap's print call (0), or
  # the station gave the tap up as offline (1): under TCG a lookup and job list can take longer
  # than the station's 1.5 s for a first answer, and a person would tap again.
  local held_before offline_before
  held_before=$(emulator held) && offline_before=$(offline_taps) && tap "$1" || return 1
  for _ in $(seq 120); do
    [ "$(emulator held)" -gt "$held_before" ] && return 0
    [ "$(offline_taps)" -gt "$offline_before" ] && return 1
    sleep 1  # another machine's state: nothing to wait on but a look
  done
  return 1
}
badge=04B0075700000D
stop_held=no
stop_taps=0
invocation=$(systemctl show -p InvocationID --value "$unit")
identified_before=$(transitions Identifying)
if setpriv --reuid release-station --regid release-station --init-groups \
     release-station badges add "$badge" --user-id @TAPPER_ID@ --name "Boot test" > /dev/console 2>&1 &&
   emulator faults '{"slow_done_s": 30, "slow_path": "/sfapi/Print/"}'; then
  while [ "$stop_held" = no ] && [ "$stop_taps" -lt 3 ]; do
    stop_taps=$((stop_taps + 1))
    held_after_tap "$badge" && stop_held=yes
  done
  [ -n "$wedge" ] && python3 "$smoke_dir/frame-grab.py" /data/smoke-frame-tap.ppm > /dev/null 2>&1
fi
start=$(date +%s%N)
systemctl stop "$unit"
stop_ms=$(( ($(date +%s%N) - start) / 1000000 ))
stop_result=$(systemctl show -p Result --value "$unit")
stop_exit=$(systemctl show -p ExecMainCode --value "$unit")/$(systemctl show -p ExecMainStatus --value "$unit")
stop_log=$(journalctl _SYSTEMD_INVOCATION_ID="$invocation" -o cat --no-pager)
stop_traceback=no; grep -q 'Traceback' <<< "$stop_log" && stop_traceback=yes
stop_sigkill=no
journalctl -b -u "$unit" -o cat --no-pager | grep -q -e 'SIGKILL' -e 'State .stop-sigterm. timed out' && stop_sigkill=yes
# What the station showed for the tap (it went on from Idle through Identifying).
tap_shown=no
[ "$(transitions Identifying)" -gt "$identified_before" ] && tap_shown=yes
if [ "$stop_held" != yes ] || [ "$stop_traceback" = yes ]; then
  echo "SMOKE_STOP_LOG held=$stop_held:" > /dev/console
  tail -n 30 <<< "$stop_log" > /dev/console
fi

echo "SMOKE_RESULT mode=${mode:-plain} station=$state restarts=$restarts ready_s=${ready_s:-none} started_s=$started_s" \
  "clock_wait_s=$clock_wait_s clock_gate=$clock_gate network_at_s=${network_at:-none}" \
  "clock_after_network_s=$clock_after_network_s drm=$drm scanout=${scanout:-none} user=${user:-none}" \
  "failed_units=${failed:-none} watchdog=$watchdog firstboot=${firstboot:-none} root=$overlay" \
  "root_ro=$root_ro data=${data:-none} machine_id=$machine_id_fresh ssh=$ssh node_exporter=$node_exporter" \
  "time_sync=$time_sync ntp_synced=${ntp_synced:-none} metrics=$metrics" \
  "stop_ms=$stop_ms stop_result=$stop_result stop_held=$stop_held stop_taps=$stop_taps" \
  "stop_exit=$stop_exit stop_traceback=$stop_traceback stop_sigkill=$stop_sigkill ctrl_alt_del=$ctrl_alt_del" \
  "idle_window_s=$IDLE_WINDOW_S idle_cpu_station_pct=$(value station "$idle")" \
  "idle_cpu_journald_pct=$(value journald "$idle") idle_cpu_sleep_loop_pct=$(value sleep_loop "$idle")" \
  "idle_guest_busy_pct=$(value guest_busy "$idle") idle_wakeups_station_hz=$(value station_wakeups_hz "$idle")" \
  "idle_wakeups_sleep_loop_hz=$(value sleep_loop_wakeups_hz "$idle") idle_from_s=$(value from_s "$idle")" \
  "idle_threads=$(value threads "$idle")" \
  "chain=${chain_word:-none} frame=$frame" \
  "touch_corner=$touch_corner touch_pin=$touch_pin touch_close=$touch_close" \
  "wedge_grabbed=$wedge_grabbed tap_shown=$tap_shown" \
  "node_exporter_access=$node_exporter_access listen_tcp=${listen_tcp:-none} firewall=$firewall" \
  "$lockdown_now" > /dev/console
systemctl --no-block poweroff
