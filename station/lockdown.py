"""The image's lock-down files, made from first boot's settings: firewall, USB allow-list, TLS web config.

Pure text builders, no I/O: :mod:`station.firstboot` keeps their output on the data partition and
puts it in place at every boot. Each says only what the owner opened in ``system.toml``:

* :func:`nftables_ruleset`: nothing comes in but loopback, answers to what the station asked
  (DHCP, DNS, NTP, the cloud), the ICMP a network needs, and SSH and node_exporter when they are
  on, each only from the management networks.
* :func:`usbguard_rules`: hubs, badge readers (CCID and the PN533, ACR122U and RC-S380 models
  the station drives), HID devices that are not keyboards (touch panels), the configured
  keyboard-wedge reader, the Raspberry Pi 3's on-board Ethernet, and USB network adapters
  (CDC, RNDIS) only when asked. Everything else (a USB stick, a keyboard) is blocked: no driver binds to it.
* :func:`node_exporter_web_config`: node_exporter's ``--web.config.file``, TLS with basic auth.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

SSH_PORT = 22
NODE_EXPORTER_PORT = 9100
# Where systemd hands node_exporter its credentials (LoadCredential= in its drop-in): the key
# stays readable by root only on the data partition.
CREDENTIALS = "/run/credentials/prometheus-node-exporter.service"

# The badge readers of config/udev/60-release-station-readers.rules (nfcpy), by USB id.
NFC_READERS = ("04cc:2533", "04e6:5591", "072f:2200", "054c:06c1", "054c:06c3")
# The Raspberry Pi 3's Ethernet is a USB device on its own board (LAN9514, LAN7515/7800).
PI_ETHERNET = ("0424:ec00", "0424:7800")


def nftables_ruleset(management: Sequence[str], *, ssh: bool, node_exporter: bool) -> str:
    """An nftables ruleset (``nft -f``) that lets in only what ``system.toml`` opened."""
    v4 = [n for n in management if ipaddress.ip_network(n, strict=False).version == 4]
    v6 = [n for n in management if ipaddress.ip_network(n, strict=False).version == 6]
    ports = [p for p, on in ((SSH_PORT, ssh), (NODE_EXPORTER_PORT, node_exporter)) if on]
    opened = []
    if ports and v4:
        opened.append(f"ip saddr {{ {', '.join(v4)} }} tcp dport {{ {', '.join(map(str, ports))} }} accept")
    if ports and v6:
        opened.append(f"ip6 saddr {{ {', '.join(v6)} }} tcp dport {{ {', '.join(map(str, ports))} }} accept")
    lines = [
        "#!/usr/sbin/nft -f",
        "# Made by release-station-firstboot from system.toml: do not edit, change system.toml.",
        "flush ruleset",
        "table inet release_station {",
        "\tchain input {",
        "\t\ttype filter hook input priority filter; policy drop;",
        '\t\tiif "lo" accept',
        "\t\tct state established,related accept",
        "\t\tct state invalid drop",
        "\t\t# DHCP answers come to the broadcast address, not as a tracked answer",
        "\t\tudp sport 67 udp dport 68 accept",
        "\t\tudp sport 547 udp dport 546 accept",
        "\t\ticmp type { echo-request, destination-unreachable, time-exceeded } accept",
        "\t\ticmpv6 type { echo-request, destination-unreachable, packet-too-big, time-exceeded,"
        " parameter-problem, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } accept",
        *(f"\t\t{rule}" for rule in opened),
        "\t}",
        "\tchain forward {",
        "\t\ttype filter hook forward priority filter; policy drop;",
        "\t}",
        "}",
    ]
    return "\n".join(lines) + "\n"


def usbguard_rules(*, wedge_usb_id: str = "", usb_network: bool = False) -> str:
    """USBGuard's ``rules.conf``: the devices a station uses; the daemon blocks the rest.

    ``match-all``: every interface of the device is of the listed kinds, so a reader that also
    claims to be a keyboard (or a stick) does not pass as a reader.
    """
    lines = [
        "# Made by release-station-firstboot at every boot: do not edit.",
        "# Hubs (the Pi's own, and one between the station and its reader)",
        "allow with-interface match-all { 09:*:* }",
        "# PC/SC (CCID) badge readers, and the NFC readers the station drives itself",
        "allow with-interface match-all { 0b:*:* }",
        *(f"allow id {usb_id}" for usb_id in NFC_READERS),
        "# Touch panels: HID that is not a boot keyboard",
        "allow with-interface match-all { 03:00:* 03:01:02 }",
        "# The Raspberry Pi 3's own Ethernet",
        *(f"allow id {usb_id}" for usb_id in PI_ETHERNET),
    ]
    if wedge_usb_id:
        lines += [
            "# The keyboard-wedge badge reader of release-station.toml",
            f"allow id {wedge_usb_id.lower()}",
        ]
    if usb_network:
        lines += [
            "# USB network adapters (CDC, RNDIS: [network] usb_adapters = true in system.toml)",
            "allow with-interface match-all { 02:*:* 0a:*:* e0:*:* }",
        ]
    return "\n".join(lines) + "\n"


def node_exporter_web_config(username: str, password_bcrypt: str) -> str:
    """node_exporter's web configuration: its TLS files from systemd's credentials, one user."""
    return (
        "# Made by release-station-firstboot from system.toml: do not edit.\n"
        "tls_server_config:\n"
        f"  cert_file: {CREDENTIALS}/tls.crt\n"
        f"  key_file: {CREDENTIALS}/tls.key\n"
        '  min_version: "TLS12"\n'
        "basic_auth_users:\n"
        f"  {username}: '{password_bcrypt}'\n"
    )
