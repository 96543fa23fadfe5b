"""Contactless cards in the field of an nfcpy ``udp`` reader, so nfcpy can be tested without hardware.

nfcpy's ``udp`` driver (``nfc.ContactlessFrontend("udp:127.0.0.1:PORT")``) sends each frame as
one UDP datagram, ``"<bitrate+type> <hex>"`` (``106A 26`` is REQA), to PORT and takes the answer
from whoever replies; ``RFOFF`` means it switched the field off, and silence means no card.
:class:`TagField` is the card side: it binds an ephemeral port on 127.0.0.1 and answers as the
:class:`Card` currently in the field, if any.

The cards follow the standards closely enough for nfcpy's own activation code:

- NFC-A (ISO 14443-3A): REQA/WUPA → ATQA, the anticollision and SELECT cascades for 4-, 7- and
  10-byte UIDs (cascade tag ``88``, BCC = XOR of the four bytes), HLTA. An unsupported command
  makes the card go mute until the next REQA/WUPA, as real Type 2 tags do.
- Type 2 (NTAG213): READ ``30 nn`` (16 bytes from page nn), GET_VERSION ``60``.
- Type 4: RATS ``E0 xx`` → ATS, then ISO-DEP blocks: R(NAK) → R(ACK), S(DESELECT), and every
  I-block answered ``6A 82`` (file not found: the card holds no NDEF data).
- ISO 14443-B: SENSB_REQ/ALLB_REQ → SENSB_RES with the PUPI; FeliCa: SENSF_REQ → SENSF_RES
  with the IDm (and the system code when asked for it).

    with TagField() as field:
        reader = NfcReader(device=field.device)
        field.insert(Card(bytes.fromhex("04A1B2C3D4E5F6")))
        ...
        field.remove()

:attr:`TagField.frames` counts what the reader sent, so tests can wait for "the reader has
looked again" instead of sleeping.
"""

from __future__ import annotations

import collections
import enum
import functools
import operator
import selectors
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

CardKind = Literal["type2", "type4", "b", "felica"]

NTAG213_VERSION = bytes.fromhex("0004040201000F03")
# TL, T0 (TA, TB, TC follow; FSCI 8 = 256 bytes), TA (106 kbit/s only), TB (FWI 10, SFGI 0), TC.
TYPE4_ATS = bytes.fromhex("0578 00 A0 02")
FELICA_PMM = bytes.fromhex("0120220427674EFF")
FELICA_SYSTEM_CODE = bytes.fromhex("12FC")


@dataclass(frozen=True)
class Card:
    """One card: its UID (NFC-A), PUPI (NFC-B) or IDm (FeliCa), and what kind of card it is."""

    uid: bytes
    kind: CardKind = "type2"

    def __post_init__(self) -> None:
        sizes = {"type2": (4, 7, 10), "type4": (4, 7, 10), "b": (4,), "felica": (8,)}[self.kind]
        if len(self.uid) not in sizes:
            raise ValueError(f"a {self.kind} card has a UID of {sizes} bytes, not {len(self.uid)}")


def _bcc(data: bytes) -> int:
    return functools.reduce(operator.xor, data, 0)


def cascade_levels(uid: bytes) -> list[bytes]:
    """The 5-byte answers to the anticollision of each cascade level (4 UID or ``88`` + 3, then BCC)."""
    if len(uid) == 4:
        parts = [uid]
    elif len(uid) == 7:
        parts = [b"\x88" + uid[:3], uid[3:]]
    else:
        parts = [b"\x88" + uid[:3], b"\x88" + uid[3:6], uid[6:]]
    return [part + bytes([_bcc(part)]) for part in parts]


class _State(enum.Enum):
    IDLE = "idle"  # field on, waiting for REQA/WUPA
    READY = "ready"  # answered REQA, anticollision/select in progress
    ACTIVE = "active"  # selected (Type 2 commands, or RATS for Type 4)
    PROTOCOL = "protocol"  # Type 4 after RATS: ISO-DEP blocks
    HALT = "halt"  # halted or gone mute: answers only WUPA


class _NfcA:
    """The ISO 14443-3A state machine of one card, plus its Type 2 or Type 4 layer."""

    def __init__(self, card: Card) -> None:
        self.card = card
        self.levels = cascade_levels(card.uid)
        self.state = _State.IDLE
        self.level = 0
        self.pages = bytearray(self._memory())

    def _memory(self) -> bytes:
        # NTAG213: 45 pages; pages 0-2 hold the UID and both BCCs, page 3 the capability container.
        uid = self.card.uid.ljust(7, b"\0")[:7]
        head = b"\x88" + uid[:3]
        tail = uid[3:7]
        lock_cc = bytes([_bcc(tail), 0x48, 0x00, 0x00]) + bytes.fromhex("E1101200")
        data = uid[:3] + bytes([_bcc(head)]) + tail + lock_cc
        return data + bytes.fromhex("0300FE00") + bytes(45 * 4 - len(data) - 4)

    def answer(self, frame: bytes) -> bytes | None:
        if frame in (b"\x26", b"\x52"):  # REQA, WUPA
            if self.state is _State.IDLE or (frame == b"\x52" and self.state is _State.HALT):
                self.state, self.level = _State.READY, 0
                return bytes([(0x04, 0x44, 0x84)[len(self.levels) - 1], 0x00])  # ATQA: UID size
            return None
        if self.state is _State.READY:
            return self._anticollision(frame)
        if self.state is _State.ACTIVE and frame == b"\x50\x00":  # HLTA
            self.state = _State.HALT
            return None
        if self.state is _State.ACTIVE and self.card.kind == "type2":
            return self._type2(frame)
        if self.state is _State.ACTIVE and frame[:1] == b"\xe0" and len(frame) == 2:  # RATS
            self.state = _State.PROTOCOL
            return TYPE4_ATS
        if self.state is _State.PROTOCOL:
            return self._iso_dep(frame)
        self.state = _State.HALT  # anything else: the card goes mute
        return None

    def _anticollision(self, frame: bytes) -> bytes | None:
        select = (0x93, 0x95, 0x97)[self.level]
        if frame == bytes([select, 0x20]):
            return self.levels[self.level]
        if frame == bytes([select, 0x70]) + self.levels[self.level]:
            self.level += 1
            if self.level < len(self.levels):
                return b"\x04"  # SAK: UID not complete
            self.state = _State.ACTIVE
            return b"\x00" if self.card.kind == "type2" else b"\x20"
        self.state = _State.IDLE
        return None

    def _type2(self, frame: bytes) -> bytes | None:
        if frame == b"\x60":
            return NTAG213_VERSION
        if len(frame) == 2 and frame[0] == 0x30 and frame[1] < len(self.pages) // 4:
            start = frame[1] * 4
            return bytes((self.pages * 2)[start : start + 16])  # reads wrap around
        self.state = _State.HALT
        return None

    def _iso_dep(self, frame: bytes) -> bytes | None:
        pcb = frame[0]
        if pcb & 0xF6 == 0xB2:  # R(NAK): presence check
            return bytes([0xA2 | (pcb & 0x01)])
        if pcb == 0xC2:  # S(DESELECT)
            self.state = _State.HALT
            return b"\xc2"
        if pcb & 0xE2 == 0x02:  # I-block: no application on this card
            return bytes([pcb & 0x03 | 0x02]) + b"\x6a\x82"
        return None


class TagField:
    """The RF field of one nfcpy ``udp`` reader, with at most one card in it.

    Binds 127.0.0.1 on an ephemeral port; :attr:`device` is the path to give nfcpy.
    """

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._lock = threading.Condition()
        self._card: Card | None = None
        self._nfca: _NfcA | None = None
        self.frames: collections.Counter[str] = collections.Counter()
        self._thread = threading.Thread(target=self._serve, name="nfc-tag-field", daemon=True)
        self._thread.start()

    @property
    def device(self) -> str:
        return f"udp:127.0.0.1:{self.port}"

    @property
    def card(self) -> Card | None:
        return self._card

    def insert(self, card: Card) -> None:
        with self._lock:
            self._card = card
            self._nfca = _NfcA(card) if card.kind in ("type2", "type4") else None

    def remove(self) -> None:
        with self._lock:
            self._card = self._nfca = None

    def wait_for(self, predicate: Callable[[collections.Counter[str]], bool], timeout: float = 30.0) -> None:
        """Wait until ``predicate(frames)`` holds; raises TimeoutError after ``timeout`` s."""
        with self._lock:
            if not self._lock.wait_for(lambda: predicate(self.frames), timeout):
                raise TimeoutError(f"the reader did not get there; frames so far: {dict(self.frames)}")

    def close(self) -> None:
        if self._thread.is_alive():
            self._wake_w.send(b"\0")
            self._thread.join(5.0)
        for sock in (self._sock, self._wake_r, self._wake_w):
            sock.close()

    def __enter__(self) -> TagField:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._sock, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while True:
                ready = [key.fileobj for key, _ in selector.select()]
                if self._wake_r in ready:
                    return
                datagram, addr = self._sock.recvfrom(1024)
                reply = self._handle(datagram)
                if reply is not None:
                    self._sock.sendto(reply, addr)

    def _handle(self, datagram: bytes) -> bytes | None:
        with self._lock:
            try:
                reply, name = self._answer(datagram)
            finally:
                self._lock.notify_all()
            self.frames[name] += 1
            return reply

    def _answer(self, datagram: bytes) -> tuple[bytes | None, str]:
        if datagram.startswith(b"RFOFF"):
            if self._nfca is not None:
                self._nfca.state = _State.IDLE
            return None, "RFOFF"
        brty_raw, _, hex_frame = datagram.partition(b" ")
        brty = brty_raw.decode("ascii", "replace")
        frame = bytes.fromhex(hex_frame.decode("ascii"))
        name = _frame_name(brty, frame, self._card is not None)
        answer: bytes | None = None
        if brty.endswith("A") and self._nfca is not None:
            answer = self._nfca.answer(frame)
        elif brty.endswith("B") and self._card is not None and self._card.kind == "b":
            if frame[:1] == b"\x05" and len(frame) == 3:
                # SENSB_RES: PUPI, application data, protocol info (FSCI 8, ISO 14443-4, FWI 10).
                answer = b"\x50" + self._card.uid + bytes(4) + bytes.fromhex("0081A1")
        elif brty.endswith("F") and self._card is not None and self._card.kind == "felica":
            answer = _sensf_res(self._card, frame)
        if answer is None:
            return None, name
        return f"{brty} {answer.hex()}".encode("ascii"), name


def _sensf_res(card: Card, frame: bytes) -> bytes | None:
    """FeliCa's answer to SENSF_REQ (length, 01, IDm, PMm, and the system code if asked)."""
    if frame[:2] != b"\x06\x00" or len(frame) != 6:
        return None
    body = b"\x01" + card.uid + FELICA_PMM
    if frame[4] == 0x01:  # request code 1: add the system code
        body += FELICA_SYSTEM_CODE
    return bytes([len(body) + 1]) + body


def _frame_name(brty: str, frame: bytes, card: bool) -> str:
    """A short name for a frame, counted in :attr:`TagField.frames` (``REQA`` / ``REQA-empty`` …)."""
    names = {b"\x26": "REQA", b"\x52": "WUPA", b"\x60": "GET_VERSION"}
    if frame in names:
        name = names[frame]
    elif frame[:1] in (b"\x93", b"\x95", b"\x97") and frame[1:2] == b"\x70":
        name = "SELECT"
    elif frame[:1] in (b"\x93", b"\x95", b"\x97"):
        name = "ANTICOLLISION"
    elif brty.endswith("B"):
        name = "SENSB_REQ"
    elif brty.endswith("F"):
        name = "SENSF_REQ"
    elif frame[:1] == b"\x30":
        name = "READ"
    elif frame[:1] == b"\xe0":
        name = "RATS"
    else:
        name = "other"
    return name if card else f"{name}-empty"
