"""The kernel's names for the station's threads, so that ``top -H``, ``ps -L`` and
``/proc/PID/task/*/comm`` tell them apart (``core``, ``core-local_0``, ``reader-wedge-…``).

Python 3.11, the image's, leaves every thread with the program's name in the kernel (3.14 names
them itself). The boot test attributes the idle station's CPU by these names
(``image-build/smoke/smoke.sh``). :func:`name_threads` names each thread started afterwards by
its Python name, cut to the kernel's 15 bytes, through a profile hook that removes itself at the
thread's first call: nothing stays hooked in the thread after that.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from types import FrameType

PR_SET_NAME = 15  # linux/prctl.h
COMM_BYTES = 15  # the kernel's TASK_COMM_LEN (16), less the terminating NUL


def os_thread_name(name: str) -> bytes:
    """The name as the kernel keeps it: UTF-8, at most 15 bytes."""
    return name.encode(errors="replace")[:COMM_BYTES]


def name_threads() -> None:
    """From now on, every thread started through :mod:`threading` is named in the kernel too.

    Does nothing where the C library has no ``prctl`` (not Linux).
    """
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return

    def first_call(frame: FrameType, event: str, arg: object) -> None:
        sys.setprofile(None)  # once per thread: its later calls are not profiled
        name = os_thread_name(threading.current_thread().name)
        prctl(PR_SET_NAME, ctypes.c_char_p(name), 0, 0, 0)

    threading.setprofile(first_call)
