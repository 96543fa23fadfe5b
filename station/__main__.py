"""``python -m station`` runs the command line."""

from station.cli import main

raise SystemExit(main())
