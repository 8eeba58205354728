"""SIGTERM: write what is pending, then let the previous handler or the default action run."""

from __future__ import annotations

import os
import signal
import threading
from typing import Any, Callable

_lock = threading.Lock()
_previous: Any = None  # the handler replaced, once installed


def install_sigterm_handler(stop_all: Callable[[], None]) -> None:
    """Make SIGTERM call stop_all() first.  Idempotent; needs the main thread (as signal.signal does)."""
    global _previous
    with _lock:
        if _previous is not None:
            return
        if threading.current_thread() is not threading.main_thread():
            raise ValueError("install_signal_handlers=True needs the main thread, where handlers run")

        def on_sigterm(signum: int, frame: Any) -> None:
            stop_all()
            previous = _previous
            if callable(previous):
                previous(signum, frame)
            elif previous != signal.SIG_IGN:
                # The default action: die of SIGTERM, as the sender expects.
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                os.kill(os.getpid(), signal.SIGTERM)

        _previous = signal.signal(signal.SIGTERM, on_sigterm)
        if _previous is None:  # installed from outside Python
            _previous = signal.SIG_DFL
