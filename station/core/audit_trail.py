"""The audit trail: which core events become audit entries, written off the core thread.

:class:`AuditTrail` is a :class:`~station.core.listener.CoreListener`. It turns the events an
auditor cares about (refused cards, pairing, self-enrolment that linked nothing, the technician
menu refused) into entries of the audit log and writes them on a thread of its own, in the
order they happened: the core thread never waits for the disk.

What work did (a tap looked up, a release, a PIN checked or set, an enrolment saved) is written
by the work itself with :func:`record`, on its worker thread: its result reaches the core only
while the person is still there (a late one is dropped as stale), and the record of what was
done must not depend on that.

An entry that cannot be written (a full disk, a missing key) is logged as a warning and lost:
what the station did is not undone for its record.

Example (a running station hears it through ``station.listen(trail)``)::

    import pathlib
    import tempfile

    from station.audit import AuditLog
    from station.core.audit_trail import AuditTrail
    from station.core.listener import TapRefused, deliver
    from station.database import open_database

    audit_log = AuditLog(open_database(pathlib.Path(tempfile.mkdtemp()) / "station.db"))
    trail = AuditTrail(audit_log)
    deliver(trail, TapRefused("random_uid"))
    trail.close()  # writes what is queued, then stops its thread
    assert [entry.event for entry in audit_log.entries()] == ["random_uid"]
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from station.core import listener as ev
from station.core.ports import Audit
from station.errors import StationError

log = logging.getLogger(__name__)


def record(audit: Audit, event: str, **fields: Any) -> None:
    """Write one audit entry; a full disk must not undo what was done, so it is only logged."""
    try:
        audit.record(event, **fields)
    except (StationError, OSError) as exc:
        log.warning("could not write the audit entry %s: %s", event, exc)


class AuditTrail(ev.CoreListener):
    """Records the core's auditable events in ``audit`` on a writer thread of its own."""

    def __init__(self, audit: Audit) -> None:
        self._audit = audit
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="audit")

    def close(self) -> None:
        """Write what is queued and stop the writer; events after this are dropped."""
        self._writer.shutdown(wait=True)

    def _note(self, event: str, **fields: Any) -> None:
        try:
            self._writer.submit(record, self._audit, event, **fields)
        except RuntimeError:  # closed: the station is stopping
            log.debug("audit entry %s after the trail closed: not written", event)

    def tap_refused(self, event: ev.TapRefused) -> None:
        if event.reason == "random_uid":
            self._note("random_uid", outcome="refused")

    def paired(self, event: ev.Paired) -> None:
        self._note("pairing", outcome=f"paired (tp_id {event.tp_id})")

    def token_rejected(self, event: ev.TokenRejected) -> None:
        self._note("pairing", outcome="token rejected")

    def enrolment_refused(self, event: ev.EnrolmentRefused) -> None:
        self._note("enrol_self_refused", badge_id=event.badge_id, user_id=event.user_id, outcome=event.reason)

    def enrolment_abandoned(self, event: ev.EnrolmentAbandoned) -> None:
        self._note(
            f"enrol_self_{event.how}", badge_id=event.badge_id, user_id=event.user_id, outcome=event.stage
        )

    def enrolment_failed(self, event: ev.EnrolmentFailed) -> None:
        self._note("enrol_self_failed", badge_id=event.badge_id, user_id=event.user_id, outcome=event.kind)

    def technician_refused(self, event: ev.TechnicianRefused) -> None:
        self._note("technician", outcome="refused: no technician PIN is set")
