"""fastevlog: an asynchronous, buffered, thread-safe structured event logger.

    import fastevlog
    with fastevlog.EventLogCounter(directory="logs") as events:
        events.info("user_login", "User logged in.", user_id=42)
        print(events.counts())

or, through the process-wide default logger:

    fastevlog.configure(directory="logs")
    fastevlog.log("INFO", "user_login", "User logged in.", user_id=42)
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import Any, Optional

# Checked before the core loads, so that another OS gets this sentence instead of
# an AttributeError from inside a running logger (os.pipe2, os.posix_fallocate).
if not sys.platform.startswith("linux"):
    raise ImportError(
        f"fastevlog runs only on Linux, not on {sys.platform!r}: it relies on os.pipe2, "
        "posix_fallocate and Linux's flock and mmap behaviour for crash recovery, "
        "and is tested nowhere else"
    )

from ._core import LEVEL_NAMES, OVERFLOW_EVENT_ID, BoundLogger, add_level, levels  # noqa: E402
from ._errors import LoggerStoppedError, WriteError  # noqa: E402
from ._logger import MIN_BUFFER_BYTES, EventLogCounter, live_loggers, stop_all  # noqa: E402

__all__ = [
    "LEVEL_NAMES",
    "MIN_BUFFER_BYTES",
    "OVERFLOW_EVENT_ID",
    "BoundLogger",
    "EventLogCounter",
    "LoggerStoppedError",
    "WriteError",
    "add_level",
    "bind",
    "configure",
    "critical",
    "debug",
    "error",
    "exception",
    "flush",
    "get_logger",
    "info",
    "levels",
    "log",
    "stop",
    "warning",
]

__version__ = "0.1.0"

_default: Optional[EventLogCounter] = None
_default_lock = threading.Lock()


def configure(**parameters: Any) -> EventLogCounter:
    """Replace the default logger with one built from EventLogCounter's parameters."""
    global _default
    with _default_lock:
        old, _default = _default, None
        if old is not None:
            old.stop()
        _default = EventLogCounter(**parameters)
        return _default


def get_logger() -> EventLogCounter:
    """The default logger, started with the default parameters on first use."""
    global _default
    logger = _default
    if logger is None:
        with _default_lock:
            if _default is None:
                _default = EventLogCounter()
            logger = _default
    return logger


def log(level, event_id, message=None, **fields) -> None:
    """Log one event on the default logger; see EventLogCounter.log."""
    (_default or get_logger()).log(level, event_id, message, **fields)


def debug(event_id, message=None, **fields) -> None:
    """Log one DEBUG event on the default logger."""
    (_default or get_logger()).debug(event_id, message, **fields)


def info(event_id, message=None, **fields) -> None:
    """Log one INFO event on the default logger."""
    (_default or get_logger()).info(event_id, message, **fields)


def warning(event_id, message=None, **fields) -> None:
    """Log one WARNING event on the default logger."""
    (_default or get_logger()).warning(event_id, message, **fields)


def error(event_id, message=None, **fields) -> None:
    """Log one ERROR event on the default logger."""
    (_default or get_logger()).error(event_id, message, **fields)


def critical(event_id, message=None, **fields) -> None:
    """Log one CRITICAL event on the default logger."""
    (_default or get_logger()).critical(event_id, message, **fields)


def exception(event_id, message=None, **fields) -> None:
    """Log one ERROR event with the exception being handled on the default logger."""
    (_default or get_logger()).exception(event_id, message, **fields)


def bind(**fields) -> BoundLogger:
    """A logger adding these fields to every event, bound to the default logger as it is now."""
    return (_default or get_logger()).bind(**fields)


def flush() -> None:
    """Flush the default logger, if there is one."""
    if _default is not None:
        _default.flush()


def stop() -> None:
    """Stop the default logger; log() raises until configure() is called again."""
    if _default is not None:
        _default.stop()


def _restart_after_fork() -> None:
    global _default_lock
    _default_lock = threading.Lock()  # a thread may have held it at the fork
    for logger in list(live_loggers):
        logger._restart_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_restart_after_fork)


atexit.register(stop_all)
