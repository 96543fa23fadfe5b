"""Releasing pull jobs: no job is ever released twice.

The engine (:class:`ReleaseEngine`) checks the station's printer, releases a user's jobs with
bounded parallelism, follows each to printed / failed / timed out, and lets definite failures be
retried. Its journal is the ``releases`` table.

How "never twice" holds
-----------------------
1. Before a release request leaves the station, an ``intent`` row for the job is committed
   (one transaction for the whole batch, ``synchronous=FULL``). A crash at any later moment
   leaves that row behind.
2. A request that ends ambiguously (timeout, dropped connection, 5xx, an answer we cannot read)
   may or may not have reached ezeep, so its row stays ``intent``: the job is *in doubt*. An
   in-doubt job is never sent again blindly, neither by this call, a later tap, nor a retry.
3. In-doubt rows are settled only by asking ezeep: the user's INQUEUE list is read fresh. A job
   that is no longer INQUEUE was released (or deleted): its row becomes ``released`` and it is
   never sent again. A job still INQUEUE means the request never took effect: the row becomes
   ``held``, and the job may be released again. This happens at start-up (:meth:`ReleaseEngine.reconcile`),
   at the end of the call that hit the ambiguity, and on the user's next release.
4. A definite refusal before anything was done (404 no such job, 401/403 after the token was
   refreshed) and a printer failure reported by the status call (3011, other Win32 codes) mark
   the job ``failed``: safe to release again, which is what :meth:`ReleaseEngine.retry` does.
   A ``TokenRejectedError`` is raised before any request is accepted, so that job stays held.
5. Within one process a set of job ids "in flight" keeps two calls (and reconcile) from
   sending or settling the same job at the same time.

**Assumption to verify against live ezeep:** step 3 relies on a released job leaving the
INQUEUE list *at once*, in the same server transaction as the release. The emulator behaves
so. If ezeep removed it later (asynchronously), a check made right after an ambiguous failure
could see the job still waiting and allow a second release; the risk is largest in the
end-of-call check (step 3, same call) and small after a restart or on the next tap.
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
