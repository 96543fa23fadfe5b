#!/usr/bin/env bash
# mmdebstrap customise hook: puts the application layer onto the root file system in $1.
# Runs on the build host (as mmdebstrap's --customize-hook, with /proc, /sys and /dev of the
# chroot mounted by mmdebstrap); commands inside the arm64 chroot run under qemu-user.
# build.sh exports RS_REPO (the checkout), RS_IMAGE_BUILD, RS_WHEELS (pinned dependency
# wheels) and RS_APP (the station's wheel).
set -euo pipefail
root=$1
config=$RS_REPO/config
# Commands inside the image, without the build host's environment (pip settings, proxies).
in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }

# Image-only operating-system settings (fstab, overlayroot, network, SSH, drop-ins).
cp -rT --preserve=mode "$RS_IMAGE_BUILD/overlay" "$root"

# The station's system integration, where a package would put it.
install -D -m 0644 -t "$root/usr/lib/systemd/system" "$config"/systemd/*.service
install -D -m 0644 -t "$root/usr/lib/udev/rules.d" "$config"/udev/*.rules
install -D -m 0644 -t "$root/usr/lib/modprobe.d" "$config"/modprobe.d/*.conf
install -D -m 0644 -t "$root/usr/lib/systemd/journald.conf.d" "$config"/journald.conf.d/*.conf
install -D -m 0644 -t "$root/usr/lib/systemd/system.conf.d" "$config"/system.conf.d/*.conf
install -D -m 0644 -t "$root/usr/lib/sysctl.d" "$config"/sysctl.d/*.conf
install -D -m 0644 -t "$root/usr/lib/sysusers.d" "$config"/sysusers.d/*.conf
install -D -m 0644 "$config/station.toml" "$root/usr/share/doc/release-station/station.toml"
systemd-sysusers --root="$root" "$root/usr/lib/sysusers.d/release-station.conf"

# The station: its wheel and the pinned dependency wheels, nothing from an index.
mkdir -p "$root/tmp/wheels"
cp "$RS_WHEELS"/*.whl "$RS_APP"/*.whl "$root/tmp/wheels/"
in_root python3 -m venv --system-site-packages /opt/release-station
in_root /opt/release-station/bin/pip install --quiet --no-cache-dir --no-index \
  --find-links /tmp/wheels release-station
in_root /opt/release-station/bin/pip check
rm -rf "$root/tmp/wheels"
# The firewall and USB allow-list until first boot makes them from its files at every boot:
# nothing comes in, only hubs, readers and touch panels get a driver.
in_root /opt/release-station/bin/python -c \
  'from station.lockdown import nftables_ruleset; print(nftables_ruleset([], ssh=False, node_exporter=False), end="")' \
  > "$root/etc/nftables.conf"
in_root /opt/release-station/bin/python -c \
  'from station.lockdown import usbguard_rules; print(usbguard_rules(), end="")' > "$root/etc/usbguard/rules.conf"
chmod 0600 "$root/etc/usbguard/rules.conf"

# Kept on the data partition (mounted at /data), reached through fixed paths.
install -d "$root/data" "$root/etc/release-station" "$root/var/lib/release-station" \
  "$root/var/lib/systemd/timesync"
ln -sfn /data/config/station.toml "$root/etc/release-station/station.toml"
ln -sfn /data/system/wpa_supplicant-wlan0.conf "$root/etc/wpa_supplicant/wpa_supplicant-wlan0.conf"

systemctl --root="$root" enable release-station.service release-station-firstboot.service \
  systemd-networkd.service systemd-timesyncd.service nftables.service usbguard.service \
  release-station-mark-good.service release-station-slot-check.service release-station-trial.timer \
  release-station-update.timer
# tty1 is the kiosk screen: no login prompt over the station or over a first-boot message, and
# none on any other console either (a serial one only when system.toml asks: its drop-in).
# A keyboard's Ctrl-Alt-Del does nothing (with CtrlAltDelBurstAction=none in system.conf.d).
# USBGuard's D-Bus front end (started with it, and activatable over D-Bus) would be one more way
# to change the allow-list: only first boot writes it.
# The root file system is read-only: apt's timers would only fill the overlay.
systemctl --root="$root" mask getty@tty1.service getty@.service autovt@.service ctrl-alt-del.target \
  usbguard-dbus.service apt-daily.timer apt-daily-upgrade.timer
# Wi-Fi runs as wpa_supplicant@wlan0 (started by udev), not as the D-Bus service.
systemctl --root="$root" disable wpa_supplicant.service

# Nothing secret or machine-specific in the image: no host keys, no passwords, no machine id
# (mmdebstrap empties /etc/machine-id; systemd makes one at each boot).
rm -f "$root"/etc/ssh/ssh_host_*
rm -f "$root/var/lib/dbus/machine-id"
cut -d: -f1 "$root/etc/shadow" | while read -r account; do
  in_root usermod --lock "$account" </dev/null >/dev/null
done

# Every boot starts from this root (read-only, under a tmpfs overlay), so it never needs the
# "after an update" units: the stamps systemd-update-done would write say it is up to date.
# Without them systemd-sysusers ran at every boot, on the way to the station's start (2.8 s
# under emulation); the users were made above.
for dir in etc var; do
  printf 'TIMESTAMP_NSEC=%s\n' "$(stat -c %.9Y "$root/usr" | tr -d .)" > "$root/$dir/.updated"
  touch -r "$root/usr" "$root/$dir/.updated"
done
