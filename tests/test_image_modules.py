"""The root slot's kernel modules cut to the allow-list (``image-build/prune_modules.py``), on a
small module tree laid out as depmod leaves it; the built image's modules are checked by
``tests/test_image_artefact.py``."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from tests.support.image_scripts import load_image_script

VERSION = "6.1.0-99-arm64"
MODULES = {
    # path under the version's directory: the paths it needs (modules.dep)
    "kernel/drivers/gpu/drm/vc4/vc4.ko": ["kernel/drivers/gpu/drm/drm.ko", "kernel/drivers/media/cec/cec.ko"],
    "kernel/drivers/gpu/drm/drm.ko": [],
    "kernel/drivers/media/cec/cec.ko": [],
    "kernel/sound/soc/codecs/snd-soc-hdmi-codec.ko": ["kernel/sound/core/snd.ko"],
    "kernel/sound/core/snd.ko": [],
    "kernel/drivers/staging/vc04_services/bcm2835-audio/snd-bcm2835.ko": ["kernel/sound/core/snd.ko"],
    "kernel/fs/ext4/ext4.ko": [],
    "kernel/crypto/crc32c_generic.ko": [],
    "kernel/drivers/net/wireless/intel/iwlwifi/iwlwifi.ko": [],
    "kernel/drivers/usb/storage/usb-storage.ko": [],
}
ALLOWLIST = """\
# the SoC, by name ...
*bcm2835*
# ... but not its staging drivers
!drivers/staging/*
drivers/gpu/drm/vc4/*   # the screen
fs/ext4/*
drivers/nothing-here/*
"""


@pytest.fixture(scope="module")
def prune_modules() -> ModuleType:
    return load_image_script("prune_modules")


def _tree(root: Path) -> Path:
    moddir = root / "usr/lib/modules" / VERSION
    for path in MODULES:
        (moddir / path).parent.mkdir(parents=True, exist_ok=True)
        (moddir / path).write_bytes(b"\0" * 1024)
    (moddir / "modules.dep").write_text("".join(f"{p}: {' '.join(n)}\n" for p, n in MODULES.items()))
    # vc4 asks for the HDMI codec by name, ext4 for crc32c by an alias of its module
    (moddir / "modules.softdep").write_text(
        "# Soft dependencies extracted from modules themselves.\n"
        "softdep vc4 pre: snd-soc-hdmi-codec\nsoftdep ext4 pre: crypto-crc32c\n"
    )
    (moddir / "modules.alias").write_text(
        "alias crypto-crc32c crc32c_generic\nalias usb:v*p*d*dc*dsc*dp*ic08isc06ip50in* usb_storage\n"
    )
    return moddir


def _left(moddir: Path) -> set[str]:
    return {str(p.relative_to(moddir)) for p in moddir.rglob("*.ko")}


def test_keeps_the_allowed_modules_with_what_they_need_and_deletes_the_rest(
    prune_modules: ModuleType, tmp_path: Path
) -> None:
    moddir = _tree(tmp_path)
    allow_file = tmp_path / "allow.txt"
    allow_file.write_text(ALLOWLIST)
    result = prune_modules.prune(moddir, prune_modules.read_allowlist(allow_file))
    assert _left(moddir) == {
        "kernel/drivers/gpu/drm/vc4/vc4.ko",
        "kernel/drivers/gpu/drm/drm.ko",  # modules.dep
        "kernel/drivers/media/cec/cec.ko",  # modules.dep, though media is not listed
        "kernel/sound/soc/codecs/snd-soc-hdmi-codec.ko",  # softdep by name
        "kernel/sound/core/snd.ko",  # what the soft dependency needs
        "kernel/fs/ext4/ext4.ko",
        "kernel/crypto/crc32c_generic.ko",  # softdep by alias
    }
    assert (result.kept, result.total) == (7, len(MODULES))
    assert (result.kept_bytes, result.total_bytes) == (7 * 1024, len(MODULES) * 1024)
    # A line that matches nothing in this kernel is reported (a renamed driver); "!" lines are not.
    assert result.unmatched == ("drivers/nothing-here/*",)
    # Directories left empty go too.
    assert not (moddir / "kernel/drivers/staging").exists()
    assert not (moddir / "kernel/drivers/usb").exists()
    assert (moddir / "modules.dep").exists()


def test_the_script_prunes_every_kernel_and_says_what_it_kept(
    prune_modules: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    moddir = _tree(tmp_path)
    assert prune_modules.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"kernel {VERSION}: kept " in out and f" of {len(MODULES)} modules" in out
    left = _left(moddir)
    # The project's list: the screen, the root's file system and what they need stay; Wi-Fi
    # cards of PCs, USB storage (never given a driver) and the Pi's staging drivers go.
    assert {"kernel/drivers/gpu/drm/vc4/vc4.ko", "kernel/fs/ext4/ext4.ko", "kernel/sound/core/snd.ko"} <= left
    assert (
        not {
            "kernel/drivers/net/wireless/intel/iwlwifi/iwlwifi.ko",
            "kernel/drivers/usb/storage/usb-storage.ko",
            "kernel/drivers/staging/vc04_services/bcm2835-audio/snd-bcm2835.ko",
        }
        & left
    )


def test_the_allow_list_names_what_a_station_and_the_boot_tests_need(prune_modules: ModuleType) -> None:
    allow = prune_modules.read_allowlist()
    needed = [
        "drivers/mmc/host/bcm2835.ko",  # the Pi 3's SD card (and QEMU raspi3b's)
        "drivers/mmc/host/sdhci-iproc.ko",  # the Pi 4's
        "drivers/pci/controller/pcie-brcmstb.ko",  # the Pi 4's USB sits behind it
        "drivers/reset/reset-raspberrypi.ko",  # ... and needs this to come up
        "drivers/usb/dwc2/dwc2.ko",
        "drivers/usb/host/xhci-pci.ko",
        "drivers/hid/usbhid/usbhid.ko",
        "drivers/hid/hid-multitouch.ko",
        "drivers/input/evdev.ko",
        "drivers/input/touchscreen/edt-ft5x06.ko",  # the official 7" display's touch
        "drivers/input/touchscreen/raspberrypi-ts.ko",
        "drivers/gpu/drm/vc4/vc4.ko",
        "drivers/gpu/drm/v3d/v3d.ko",
        "drivers/gpu/drm/virtio/virtio-gpu.ko",
        "drivers/gpu/drm/panel/panel-raspberrypi-touchscreen.ko",
        "drivers/net/wireless/broadcom/brcm80211/brcmfmac/brcmfmac.ko",
        "drivers/net/ethernet/broadcom/genet/genet.ko",
        "drivers/net/usb/smsc95xx.ko",
        "drivers/net/usb/lan78xx.ko",
        "drivers/net/usb/rndis_host.ko",
        "drivers/net/usb/cdc_ether.ko",
        "drivers/net/virtio_net.ko",
        "net/netfilter/nf_tables.ko",
        "fs/squashfs/squashfs.ko",
        "drivers/md/dm-verity.ko",
        "drivers/block/loop.ko",
        "fs/overlayfs/overlay.ko",
        "fs/fat/vfat.ko",
        "drivers/watchdog/bcm2835_wdt.ko",
        "drivers/watchdog/i6300esb.ko",
        "drivers/virtio/virtio_input.ko",
        "fs/binfmt_misc.ko",  # systemd-binfmt.service mounts it at every boot
    ]
    assert [path for path in needed if not allow.admits(path)] == []
    unwanted = [
        "drivers/usb/storage/usb-storage.ko",
        "drivers/nfc/pn533/pn533_usb.ko",
        "sound/usb/snd-usb-audio.ko",
        "drivers/staging/vc04_services/bcm2835-camera/bcm2835-v4l2.ko",
        "drivers/gpu/drm/amd/amdgpu/amdgpu.ko",
        "drivers/bluetooth/btbcm.ko",
    ]
    assert [path for path in unwanted if allow.admits(path)] == []
