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
import time
from typing import TYPE_CHECKING, Callable, Optional, Union

# Checked before the core loads, so that another OS gets this sentence instead of
# an AttributeError from inside a running logger (os.pipe2, os.posix_fallocate).
if not sys.platform.startswith("linux"):
    raise ImportError(
        f"fastevlog runs only on Linux, not on {sys.platform!r}: it relies on os.pipe2, "
        "posix_fallocate and Linux's flock and mmap behaviour for crash recovery, "
        "and is tested nowhere else"
    )


def _core_missing(error: ModuleNotFoundError) -> ImportError:
    """The error for a package without its compiled core, saying what to do."""
    package = os.path.dirname(os.path.abspath(__file__))
    source_tree = os.path.dirname(package)
    built = sorted(name for name in os.listdir(package) if name.startswith("_core.") and name.endswith(".so"))
    if os.path.exists(os.path.join(source_tree, "src", "_core.pyx")):
        # Python's path starts with the working directory (python -c, -m, the REPL), so in a
        # checkout the uncompiled fastevlog/ wins over the one pip installed.
        advice = (f"Python found fastevlog in the source tree {source_tree}, where the core is not built "
                  "for this Python (sys.path puts the working directory first). Either build it there "
                  f"with `{sys.executable} -m pip install -e .` (an in-place install), or run Python from "
                  "another directory to use the installed fastevlog")
    else:
        advice = (f"reinstall fastevlog with this Python (`{sys.executable} -m pip install "
                  "--force-reinstall fastevlog`)")
    if built:
        advice += f"; found only {', '.join(built)}, built for another Python"
    return ImportError(f"fastevlog's compiled core fastevlog._core is missing from {package}: {advice}",
                       name="fastevlog._core", path=package)


try:
    from ._core import LEVEL_NAMES, OVERFLOW_EVENT_ID, BoundLogger, add_level, levels
except ModuleNotFoundError as _error:
    if _error.name != "fastevlog._core":  # another module missing: its own error says which
        raise
    raise _core_missing(_error) from _error

from ._count import CountResult, count  # noqa: E402
from ._errors import LoggerStoppedError, WriteError  # noqa: E402
from ._handler import Handler  # noqa: E402
from ._logger import (  # noqa: E402
    MIN_BUFFER_BYTES,
    Compress,
    EventLogCounter,
    OnFull,
    RotateEvery,
    live_loggers,
    stop_all,
)
from ._loguru import loguru_sink  # noqa: E402
from ._ship_config import NatsShipper  # noqa: E402
from ._structlog import structlog_factory  # noqa: E402

if TYPE_CHECKING:
    from ._core import EventId, Level

__all__ = [
    "LEVEL_NAMES",
    "MIN_BUFFER_BYTES",
    "OVERFLOW_EVENT_ID",
    "BoundLogger",
    "CountResult",
    "EventLogCounter",
    "Handler",
    "LoggerStoppedError",
    "NatsShipper",
    "WriteError",
    "add_level",
    "bind",
    "configure",
    "count",
    "critical",
    "debug",
    "error",
    "exception",
    "flush",
    "get_logger",
    "info",
    "levels",
    "log",
    "loguru_sink",
    "stop",
    "structlog_factory",
    "warning",
]

__version__ = "0.1.0"

_default: Optional[EventLogCounter] = None
_default_lock = threading.Lock()


# configure() spells out EventLogCounter's parameters, names, defaults and types alike, so that
# editors and type checkers see them (tests/test_typing.py keeps the two the same).
def configure(
    *,
    log_file: str = "async_buffered_logs",
    directory: Union[str, os.PathLike[str]] = ".",
    buffer_size: int = 1_000_000,
    buffer_bytes: int = 32 * 1024 * 1024,
    flush_interval: float = 1.0,
    max_file_size: int = 10 * 1024 * 1024,
    rotate_every: RotateEvery = None,
    num_workers: int = 4,
    max_retries: int = 3,
    on_full: OnFull = "block",
    level: Level = "DEBUG",
    file_mode: int = 0o640,
    clock: Callable[[], float] = time.time,
    install_signal_handlers: bool = False,
    compress: Compress = None,
    compress_level: Optional[int] = None,
    keep_files: Optional[int] = None,
    keep_bytes: Optional[int] = None,
    keep_days: Optional[float] = None,
    ship_to: Optional[NatsShipper] = None,
) -> EventLogCounter:
    """Replace the default logger with one built from these EventLogCounter parameters.

    The new logger is built first: if it cannot be (a bad value, a directory
    that cannot be used, no room for its buffer), the error is raised and the
    current default logger goes on as before.  Otherwise the old one is stopped,
    writing what it holds, and log() goes to the new one.
    """
    global _default
    with _default_lock:
        # Two loggers may share a directory and log_file for a moment: each has its own buffer file
        # (named by pid and a counter), recovery leaves a locked one alone, and log file names are unique.
        new = EventLogCounter(
            log_file=log_file, directory=directory, buffer_size=buffer_size, buffer_bytes=buffer_bytes,
            flush_interval=flush_interval, max_file_size=max_file_size, rotate_every=rotate_every,
            num_workers=num_workers, max_retries=max_retries, on_full=on_full, level=level,
            file_mode=file_mode, clock=clock, install_signal_handlers=install_signal_handlers,
            compress=compress, compress_level=compress_level, keep_files=keep_files, keep_bytes=keep_bytes,
            keep_days=keep_days, ship_to=ship_to)
        old, _default = _default, new
    if old is not None:
        old.stop()
    return new


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


def log(level: Level, event_id: EventId, message: object = None, **fields: object) -> None:
    """Log one event on the default logger; see EventLogCounter.log."""
    (_default or get_logger()).log(level, event_id, message, **fields)


def debug(event_id: EventId, message: object = None, **fields: object) -> None:
    """Log one DEBUG event on the default logger."""
    (_default or get_logger()).debug(event_id, message, **fields)


def info(event_id: EventId, message: object = None, **fields: object) -> None:
    """Log one INFO event on the default logger."""
    (_default or get_logger()).info(event_id, message, **fields)


def warning(event_id: EventId, message: object = None, **fields: object) -> None:
    """Log one WARNING event on the default logger."""
    (_default or get_logger()).warning(event_id, message, **fields)


def error(event_id: EventId, message: object = None, **fields: object) -> None:
    """Log one ERROR event on the default logger."""
    (_default or get_logger()).error(event_id, message, **fields)


def critical(event_id: EventId, message: object = None, **fields: object) -> None:
    """Log one CRITICAL event on the default logger."""
    (_default or get_logger()).critical(event_id, message, **fields)


def exception(event_id: EventId, message: object = None, **fields: object) -> None:
    """Log one ERROR event with the exception being handled on the default logger."""
    (_default or get_logger()).exception(event_id, message, **fields)


def bind(**fields: object) -> BoundLogger:
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
