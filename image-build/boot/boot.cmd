# U-Boot script (boot.scr, made by build.sh with mkimage): which root slot to start, by RAUC's
# boot-count scheme. The same script runs on a Pi 3/4 (mmc, U-Boot rpi_arm64 started by the
# firmware) and on QEMU (virtio on virt, mmc on raspi3b): distro boot sets devtype and devnum.
#
#   BOOT_ORDER    slots to try, first the preferred one ("A B" or "B A"; rauc install sets it)
#   BOOT_A_LEFT   attempts slot A has left (3 when good; rauc status mark-good resets it)
#   BOOT_B_LEFT   the same for slot B
#
# They live in boot-state.env on the FAT partition in U-Boot's binary environment format (CRC32
# and name=value pairs, 16 KiB): read with env import, written with env export and fatwrite, and
# from Linux by RAUC through fw_printenv/fw_setenv (/etc/fw_env.config). Slot A is partition 2,
# slot B partition 3; kernel and initrd come from the slot itself, so a kernel update is A/B too.
# Lines starting "AB:" are what the boot tests read on the serial console.
if test "${board}" = "rpi"; then
  # rpi's default kernel_addr_r (0x80000) leaves too little room below the initrd for Debian's
  # 33 MB kernel.
  setenv kernel_addr_r 0x10000000
  setenv ramdisk_addr_r 0x14000000
fi
setenv BOOT_ORDER
setenv BOOT_A_LEFT
setenv BOOT_B_LEFT
if load ${devtype} ${devnum}:1 ${ramdisk_addr_r} boot-state.env; then
  env import -c ${ramdisk_addr_r} ${filesize} BOOT_ORDER BOOT_A_LEFT BOOT_B_LEFT || echo "AB: boot-state.env damaged"
fi
# A missing or damaged state starts over from slot A, each slot with its full attempts.
test -n "${BOOT_ORDER}" || setenv BOOT_ORDER "A B"
test -n "${BOOT_A_LEFT}" || setenv BOOT_A_LEFT 3
test -n "${BOOT_B_LEFT}" || setenv BOOT_B_LEFT 3
echo "AB: state BOOT_ORDER=${BOOT_ORDER} BOOT_A_LEFT=${BOOT_A_LEFT} BOOT_B_LEFT=${BOOT_B_LEFT}"

# The first slot in BOOT_ORDER with attempts left, and one attempt fewer for it.
setenv rauc_slot
for slot in "${BOOT_ORDER}"; do
  if test -n "${rauc_slot}"; then
    # chosen already
  elif test "${slot}" = "A" && test ${BOOT_A_LEFT} -gt 0; then
    setexpr BOOT_A_LEFT ${BOOT_A_LEFT} - 1
    setenv rauc_slot A
    setenv rootpart 2
  elif test "${slot}" = "B" && test ${BOOT_B_LEFT} -gt 0; then
    setexpr BOOT_B_LEFT ${BOOT_B_LEFT} - 1
    setenv rauc_slot B
    setenv rootpart 3
  fi
done
if test -z "${rauc_slot}"; then
  # Neither slot came up three times (a power cut in a loop, say): give both their attempts back
  # rather than stop for good.
  echo "AB: no slot has attempts left: both get 3 again"
  setenv BOOT_A_LEFT 3
  setenv BOOT_B_LEFT 3
  env export -c -s 0x4000 ${ramdisk_addr_r} BOOT_ORDER BOOT_A_LEFT BOOT_B_LEFT
  fatwrite ${devtype} ${devnum}:1 ${ramdisk_addr_r} boot-state.env 0x4000
  reset
fi
# The attempt is counted before the kernel is loaded: a hang or reset from here on costs it.
env export -c -s 0x4000 ${ramdisk_addr_r} BOOT_ORDER BOOT_A_LEFT BOOT_B_LEFT
fatwrite ${devtype} ${devnum}:1 ${ramdisk_addr_r} boot-state.env 0x4000

# The kernel command line: cmdline.txt (which the Pi firmware would read too) without root=,
# then the slot's root by the PARTUUID of this very disk (first boot changes the disk id) and
# the slot's name for RAUC.
part uuid ${devtype} ${devnum}:${rootpart} rootuuid
load ${devtype} ${devnum}:1 ${kernel_addr_r} cmdline.txt
setexpr cmdend ${kernel_addr_r} + ${filesize}
setexpr cmdend ${cmdend} - 1
# Cut a final newline, then end the string.
setexpr.b lastbyte *${cmdend}
if test "${lastbyte}" != "a"; then setexpr cmdend ${cmdend} + 1; fi
mw.b ${cmdend} 0 1
setexpr.s cmdline *${kernel_addr_r}
setenv bootargs "${cmdline} root=PARTUUID=${rootuuid} rauc.slot=${rauc_slot}"
echo "AB: booting slot ${rauc_slot} (partition ${rootpart}), attempts left A=${BOOT_A_LEFT} B=${BOOT_B_LEFT}"
echo "AB: bootargs ${bootargs}"

if load ${devtype} ${devnum}:${rootpart} ${kernel_addr_r} /vmlinuz; then
  if load ${devtype} ${devnum}:${rootpart} ${ramdisk_addr_r} /initrd.img; then
    # The device tree U-Boot was given: the Pi firmware's (serial number, overlays) or QEMU's.
    booti ${kernel_addr_r} ${ramdisk_addr_r}:${filesize} ${fdt_addr}
  fi
fi
# No kernel in the slot, or it did not start: the attempt is spent, try again.
echo "AB: slot ${rauc_slot} did not start"
reset
