"""Releasing pull jobs: no job is ever released twice.

The engine (:class:`ReleaseEngine`) checks the station's printer, releases a user's jobs with
bounded parallelism, follows each to printed / failed / timed out, and lets definite failures be
retried. Its journal is the ``releases`` table.

How "never twice" holds
-----------------------
1. Before a release request leaves the station, an ``intent`` row for the job is committed
   (one transaction for the whole batch, ``synchronous=FULL``). A crash at any later moment
   leaves that row behind.
2. A request that ends ambiguously (timeout, dropped connection, a 5xx the contract does not
   call a refusal at the door, an answer we cannot read) may or may not have reached ezeep,
   *and may still reach it*: a congested link or a queueing proxy can deliver it after the
   station gave up. Its row stays ``intent``, stamped with the moment the station gave up: the
   job is *in doubt*. An in-doubt job is never sent again blindly, neither by this call, a
   later tap, nor a retry; the person sees it as "not confirmed; may still print".
3. In-doubt rows are settled only by asking ezeep: the user's INQUEUE list is read fresh. What
   a job list can prove, and what it cannot:

   - a job **gone** from a list read in one page, not cut short, was released (or deleted):
     proof enough. Its row becomes ``released`` and it is never sent again. A list of several
     pages proves no absence: it is paged by offset, so any job that leaves the queue between
     two pages (released or deleted here, at another station, in the web app) moves the later
     ones forward and one can be skipped; a list cut at ``max_jobs`` holds only some jobs
     (:class:`~station.cloud.models.ListEnd`). A job such a list does not hold stays in doubt.
   - a job **still listed** proves nothing while a request for it may still be on its way: the
     late request may land a moment after the list was read. So a listed job stays in doubt
     for a quarantine window (``in_doubt_s``, ``[cloud] in_doubt_s``, default 300 s: longer
     than the request deadline plus any proxy's). Only a list read *after* the window has
     passed makes it ``held``, free to be released again.

   A list read while this call's own releases were going out (the engine sends each job as
   soon as its page arrives) may have skipped a job that is still waiting, and the call did not
   release it: such a list is read again once the call's requests have been answered, and only
   that reading settles rows.

   This happens at start-up (:meth:`ReleaseEngine.reconcile`, which the core repeats while
   rows are open), at the end of the call that hit the ambiguity, and on the user's next
   release, which always reads the queue first when the user has jobs in doubt. The window
   counts from the later of two stamps: the journal's, on the wall clock, and the engine's own
   on its monotonic clock (when it wrote the row or gave up on the request; for a row an
   earlier process left, when the engine started). So neither a restart, nor a wall clock that
   NTP sets hours forward, nor a request that a killed process sent long after its intent was
   written cuts it short.
4. A definite refusal before anything was done (404 no such job, 401/403 after the token was
   refreshed, a status ``[cloud.contract] refused_statuses`` calls a refusal at the door: 429
   or 503) and a printer failure reported by the status call
   (3011, other Win32 codes) mark the job ``failed`` or ``held``: safe to release again, which is
   what :meth:`ReleaseEngine.retry` does. A ``TokenRejectedError`` is raised before any
   request is accepted, so that job stays held.
5. Within one process a set of job ids "in flight" keeps two calls (and reconcile) from
   sending or settling the same job at the same time.
6. Deletes are journaled the same way (a ``deleting`` row before the request): a delete that
   got no answer is neither sent again nor followed by a release of that job until the list
   shows the job gone or the window has passed.

**Assumptions to verify against live ezeep** (see :mod:`station.cloud.contract`): a released
job leaves the INQUEUE list within the quarantine window (the emulator removes it at once, in
the same transaction as the release); if ezeep kept released jobs listed longer, a job could be
sent twice after the window. And no request outlives the window: a proxy that holds requests
longer than ``in_doubt_s`` needs a longer window. A 429 or 503 is answered before the request
is carried out (``refused_statuses``).
"""

from station.release._engine import ProgressCallback, ReleaseClient, ReleaseEngine
from station.release._values import DeleteResult, JobProgress, ReleaseState, ReleaseSummary

__all__ = [
    "DeleteResult",
    "JobProgress",
    "ProgressCallback",
    "ReleaseClient",
    "ReleaseEngine",
    "ReleaseState",
    "ReleaseSummary",
]
