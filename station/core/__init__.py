"""The station core: one thread owns all state, pure transitions decide, events and views go out.

Which file to open for what:

- ``runtime.py``: :class:`~station.core.runtime.Station`, the running core (queue, timers, work
  threads, publishing views, telling listeners). Built by :mod:`station.cli.compose`.
- ``state.py``: :class:`~station.core.state.CoreState`, the whole state, the union of its modes,
  the station's :class:`~station.core.state.Identity` and :class:`~station.core.state.Tuning`.
- ``machine.py``: ``step(state, event, tick)``, routing every event to its transition and the
  rules that hold in every mode (taps, reader health, timers, stale results, failed work).
- One module per thing the station does, each with its modes (what the screens draw), its
  transitions (a ``ROUTES`` table: mode type, then event type: taps, deadlines, results,
  intents) and the handlers of the work it starts (a ``WORK`` table):
  ``pairing.py`` (unpaired, code shown), ``health.py`` (idle: ezeep, printer and readers, and the idle faces),
  ``identify.py`` (a tap looked up), ``session.py`` (a user's jobs: pick, release, summary),
  ``pins.py`` (PIN keypads and the release-PIN gate), ``enrolment.py`` (unknown badges,
  self-enrolment), ``technician.py`` (the menu), ``recovery.py`` (the release journal after a
  crash); ``exits.py`` (home and the failure paths) and ``transition.py`` (what a transition
  returns, how tables merge) are shared by all.
- ``messages.py``: the core's own events (results of work, timers) and the effects transitions
  ask for; ``worker.py``: the collaborators work uses (``ports.py``) and all handlers merged
  (``HANDLERS``).
- ``listener.py``: the events the core announces and :class:`~station.core.listener.CoreListener`;
  ``audit_trail.py``: the listener that writes the audit log.
- ``view.py``: what the UI draws, ``View(info, mode)``: the station-wide
  :class:`~station.core.view.StationInfo` and the mode itself (each mode
  carries what its screen shows), or while idle the face ``health.py`` picks from health
  (``health.view_of`` builds it); ``intents.py``: what the UI sends back.
"""

# Loaded first, whichever core module is imported: the modes live in the state modules, which
# build on the values state.py defines before it imports them (see the end of state.py).
from station.core import state as state
