"""Whole-card updates: the timer's run that finds, fetches and installs a signed RAUC bundle.

One module, one job:

- :mod:`.manifest` reads the manifest the ``[update] url`` serves and decides whether this
  station takes the version it offers (newer, in the staged share of the fleet);
- :mod:`.download` fetches the bundle to the data partition (size cap, free space, resume after
  a power cut, sha256);
- :mod:`.rauc` asks the real ``rauc`` to check the bundle's signature and to install it;
- :mod:`.busy` is the lock the station holds while someone's session runs, so the reboot waits;
- :mod:`.pending` tells whether a slot installed here still waits for that reboot;
- :mod:`.record` is the small world-readable file each run leaves (the station's metrics read it);
- :mod:`.run` ties them together for ``release-station update run`` (the timer's service).

Debian's RAUC 1.8 cannot stream a bundle: given an ``https://`` URL it downloads it whole into
``/tmp``, which is RAM. Hence the download to ``/data`` here and ``rauc install FILE``.
"""
