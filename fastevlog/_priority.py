"""Background work yields the CPU to the application: log() first, then compressing and shipping."""

from __future__ import annotations

import os
import threading


def lower_priority() -> None:
    """Lower the calling thread's priority by 10 nice steps (Linux: a thread's nice value is its own)."""
    try:
        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + 10))
    except (AttributeError, OSError):
        pass
