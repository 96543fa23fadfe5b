"""``release-station pair|status|unpair``: pair the station with ezeep headless, show, forget.

``pair`` prints the pairing code, the approval URL and the URL as a terminal QR code, waits
for someone to approve it, stores the token pair and reports the printer the station is bound
to. ``status`` reads only the database (it needs no client id). ``unpair`` revokes the
refresh token at ezeep (when it can be reached) and forgets the pair.
"""

from __future__ import annotations

import argparse
import sys
import threading
from datetime import UTC, datetime
from typing import Any, TextIO

from station.cli import EXIT_FAILURE, EXIT_OK, Context
from station.cloud.errors import CloudError, PairingError
from station.cloud.models import PairingCode, Printer
from station.cloud.stack import CloudStack
from station.errors import ConfigError


def register(subparsers: Any) -> None:
    pair = subparsers.add_parser(
        "pair", help="pair the station with ezeep Blue (prints a code and a QR code)"
    )
    pair.add_argument("--force", action="store_true", help="pair again even if the station is paired")
    pair.set_defaults(func=_pair)
    status = subparsers.add_parser("status", help="show whether the station is paired, to which printer")
    status.set_defaults(func=_status)
    unpair = subparsers.add_parser("unpair", help="revoke the station's token at ezeep and forget it")
    unpair.set_defaults(func=_unpair)


def show_code(code: PairingCode, out: TextIO) -> None:
    """Print a pairing code, its URL and the URL as a QR code for a phone camera."""
    import segno

    print(f"\nPairing code: {code.code}", file=out)
    print(f"Approve it at: {code.auth_url}", file=out)
    segno.make(code.auth_url, error="l").terminal(out=out, compact=True)
    out.flush()


def pair_station(cloud: CloudStack, out: TextIO, cancel: threading.Event) -> Printer | None:
    """Pair (device mode), store the pair, and return the bound printer (None if not found).

    Raises PairingError (denied, expired, cancelled) and CloudError.
    """
    before = cloud.keeper.last_tp_id
    code = cloud.pairer.start("device")
    show_code(code, out)
    print("Waiting for approval (Ctrl-C to stop)...", file=out, flush=True)
    pair = cloud.pairer.wait(code, cancel, on_new_code=lambda new: show_code(new, out))
    binding = cloud.keeper.install(pair, hardware_id=cloud.pairer.hardware_id)
    tp_id = binding.tp_id if binding else None
    print(f"Paired. The token names tp_id {tp_id}.", file=out)
    if before is not None and tp_id is not None:
        same = (
            "the same printer as before" if before == tp_id else f"a DIFFERENT printer (was tp_id {before})"
        )
        print(f"Bound again to {same}.", file=out)
    try:
        printer = cloud.client.station_printer()
    except CloudError as exc:
        print(f"Could not find the bound printer: {exc}", file=out)
        return None
    cloud.store.set_printer(printer.id, printer.name)
    print(f"Bound printer: {printer.name} ({printer.location or 'no location'}), {printer.status}", file=out)
    return printer


def open_stack(context: Context) -> CloudStack:
    """The cloud stack for the configured ezeep and database, with this machine's hardware id
    (kept in the state directory, so the station pairs as the same device for good)."""
    from drivers.hardware_id import KEEP_FILE, hardware_id
    from station.cloud.http import CloudHttp
    from station.database import open_database

    config = context.config
    db = open_database(config.database_path)
    hw = hardware_id(override=config.station.hardware_id, remember=config.state_dir / KEEP_FILE)
    return CloudStack.create(CloudHttp.from_config(config.cloud), db, hardware_id=hw, cloud=config.cloud)


def _pair(args: argparse.Namespace, context: Context) -> int:
    config = context.config
    if not config.cloud.client_id:
        raise ConfigError(config.source, "cloud.client_id", "must be set to pair with ezeep")
    with open_stack(context) as cloud:
        if cloud.keeper.paired and not args.force:
            print("The station is paired already; `release-station unpair` first, or use --force.")
            return EXIT_OK
        try:
            printer = pair_station(cloud, sys.stdout, threading.Event())
        except PairingError as exc:
            print(f"Pairing failed: {exc}")
            return EXIT_FAILURE
        return EXIT_OK if printer is not None else EXIT_FAILURE


def _status(args: argparse.Namespace, context: Context) -> int:
    with open_stack(context) as cloud:
        record = cloud.keeper.record
        print(f"hardware id: {cloud.pairer.hardware_id}")
        if record is None:
            print("paired: no (run `release-station pair`)")
            return EXIT_OK
        if record.pair is None:
            print("paired: no - ezeep rejected the token pair; run `release-station pair` again")
        else:
            print("paired: yes")
        print(f"tp_id: {record.tp_id if record.tp_id is not None else 'unknown'}")
        print(f"printer: {record.printer_name or '?'} ({record.printer_id or 'id unknown'})")
        if record.pair is not None:
            print(f"access token: {_expiry(cloud, record.obtained_wall, record.pair.expires_in)}")
        return EXIT_OK


def _expiry(cloud: CloudStack, obtained: datetime | None, expires_in: int) -> str:
    left = cloud.keeper.expires_in_s()
    if left is not None and left != float("-inf"):
        state = f"valid for {left / 60:.0f} more minutes" if left > 0 else "expired; refreshed on next use"
        return state
    if obtained is None:
        return "age unknown; refreshed on next use"
    age = (datetime.now(UTC) - obtained).total_seconds()
    return (
        f"obtained {obtained:%Y-%m-%d %H:%M} UTC (about {age / 60:.0f} min ago, "
        f"lifetime {expires_in // 60} min)"
    )


def _unpair(args: argparse.Namespace, context: Context) -> int:
    with open_stack(context) as cloud:
        if cloud.keeper.record is None:
            print("The station is not paired.")
            return EXIT_OK
        live = cloud.keeper.paired
        revoked = cloud.keeper.forget(revoke=cloud.client.revoke)
        if revoked or not live:
            print("Unpaired.")  # a pair ezeep already rejected needs no revoking
        else:
            print("Unpaired here; ezeep could not be told (the token expires by itself).")
        return EXIT_OK
