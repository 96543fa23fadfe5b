"""release-station: the core of a badge-release kiosk for ezeep Blue pull printing.

The core (this package, minus ``station.cli`` which is the composition root) knows nothing of
pygame or of any hardware library: readers, LEDs and screens reach it through the plain values
in :mod:`station.events` and the small interfaces in :mod:`station.feedback`.
"""

__version__ = "0.1.0"
