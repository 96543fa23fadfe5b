"""Shared helpers for the test suite: fakes, emulator drivers and child-process scripts.

Test modules import from here and never from each other; fixtures pytest must find stay in
``tests/conftest.py``.
"""
