"""fastevlog.Handler: stdlib logging records written as fastevlog events."""

from __future__ import annotations

import logging
import sys
import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, Optional, Tuple, Union, cast

from . import _core
from ._levels import declare, known_numbers

if TYPE_CHECKING:
    from ._core import EventId
    from ._logger import EventLogCounter

# record_fields= choices: the field's name and the LogRecord attribute it copies.
RECORD_FIELDS: Dict[str, str] = {
    "logger": "name",
    "module": "module",
    "func": "funcName",
    "line": "lineno",
    "thread_name": "threadName",
    "process": "process",
}

# fastevlog's own stdlib logger; its records need care (see Handler._may_write_own).
_OWN_LOGGER = "fastevlog"
_OWN_THREAD_PREFIX = "fastevlog-"  # the scheduler's and writers' thread names


class Handler(logging.Handler):
    """A logging.Handler that writes each record as one fastevlog event.

    The event's level is the record's (a level fastevlog lacks, such as one
    given to logging.addLevelName, is declared under the record's level name),
    its event_id the record's logger name, its message ``record.getMessage()``,
    and its fields the record's ``extra`` keys, after those record_fields names.
    ``exc_info`` and ``stack_info`` become the "exception" and "stack" fields.

    Args:
        logger: the EventLogCounter (or BoundLogger) to write to; None writes
            to fastevlog's default logger of the moment (fastevlog.get_logger(),
            which follows fastevlog.configure()).
        event_id: a function of the record giving its event id, used when the
            record's extra has no "event_id"; None uses the logger name.
        record_fields: record attributes written as fields, among "logger",
            "module", "func", "line", "thread_name" and "process".
        level: the handler's own minimum, as for any logging.Handler.

    The handler takes no lock per record (the core is thread-safe), ignores a
    Formatter (the line is the JSON), and never stops its logger: close() only
    detaches it from logging.
    """

    def __init__(
        self,
        logger: Optional[Union[EventLogCounter, _core.BoundLogger]] = None,
        *,
        event_id: Optional[Callable[[logging.LogRecord], EventId]] = None,
        record_fields: Iterable[str] = ("logger",),
        level: Union[int, str] = logging.NOTSET,
    ) -> None:
        if logger is not None and not isinstance(logger, (_core.LoggerCore, _core.BoundLogger)):
            raise TypeError("logger must be an EventLogCounter, a BoundLogger or None (the default logger), "
                            f"not {type(logger).__name__}; the handler's own minimum is level=")
        if event_id is not None and not callable(event_id):
            raise TypeError("event_id must be a function of the LogRecord returning its event id, or None "
                            f"(the record's logger name), not {type(event_id).__name__}")
        super().__init__(level)
        self.logger = logger
        self.event_id = event_id
        self.record_fields = _check_record_fields(record_fields)
        self._attributes = tuple((field, RECORD_FIELDS[field]) for field in self.record_fields)

    def handle(self, record: logging.LogRecord) -> Any:
        """Filter and emit the record, without logging.Handler.handle's lock."""
        if self.filters:
            passed = self.filter(record)
            if not passed:
                return passed
            if isinstance(passed, logging.LogRecord):  # Python 3.12+: a filter may return a new record
                record = passed
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        """Write the record; a failure goes to handleError, as with every logging handler."""
        try:
            name = record.name
            if name.startswith(_OWN_LOGGER) and _is_own(name) and not self._may_write_own(record):
                return
            level = record.levelno
            if level not in known_numbers:
                declare(level, record.levelname)
            logger = self.logger if self.logger is not None else _default_logger()
            try:
                _core.log_record(logger, level, record, self._attributes, self.event_id)
            except RuntimeError:
                # configure() replaced and stopped the default logger meanwhile: write to the new one.
                if self.logger is not None or _default_logger() is logger:
                    raise
                _core.log_record(_default_logger(), level, record, self._attributes, self.event_id)
        except RecursionError:  # as logging's own handlers do
            raise
        except Exception:
            self.handleError(record)

    def _may_write_own(self, record: logging.LogRecord) -> bool:
        """Whether a record of fastevlog's own "fastevlog" logger may be written through a logger.

        Not when it was made on fastevlog's own threads: a full buffer would have
        the scheduler wait for room only it can make, and each flush's DEBUG line
        would cause the next flush.  Nor while the logger it would go to is
        stopping or stopped, or starting (its recovery reports).  Such a record goes
        to stderr through logging.lastResort if it is a WARNING or above, so that
        no failure of the logger goes unseen; lower ones are dropped.
        """
        thread_name = record.threadName or threading.current_thread().name
        writable = not thread_name.startswith(_OWN_THREAD_PREFIX)
        if writable:  # not the default logger while it starts (None): its start waits for this record
            logger = self.logger if self.logger is not None else _started_default_logger()
            writable = logger is not None and not _closed(logger)
        if not writable and logging.lastResort is not None and record.levelno >= logging.lastResort.level:
            logging.lastResort.handle(record)
        return writable

    def flush(self) -> None:
        """Flush the logger (the default one only if it was started): return once all is written."""
        logger = _unbound(self.logger) if self.logger is not None else _started_default_logger()
        if logger is not None and not logger.closed:
            logger.flush()

    def __repr__(self) -> str:
        target = "the default logger" if self.logger is None else repr(self.logger)
        return f"<{type(self).__name__} {target} ({logging.getLevelName(self.level)})>"


def _is_own(name: str) -> bool:
    """Whether name is fastevlog's own logger or one below it."""
    return name == _OWN_LOGGER or name.startswith(_OWN_LOGGER + ".")


def _check_record_fields(record_fields: Any) -> Tuple[str, ...]:
    """record_fields as a tuple of known names, or an error listing them."""
    listed = ", ".join(repr(field) for field in RECORD_FIELDS)
    if isinstance(record_fields, str) or not isinstance(record_fields, Iterable):
        raise TypeError(f"record_fields must be a list or tuple of names among {listed}, "
                        f"not {type(record_fields).__name__}")
    fields = tuple(record_fields)
    for field in fields:
        if field not in RECORD_FIELDS:
            raise ValueError(f"record_fields: {field!r} is not one of {listed}")
    if len(set(fields)) != len(fields):
        raise ValueError(f"record_fields names a field twice: {list(fields)}")
    return fields


def _unbound(logger: Union[EventLogCounter, _core.BoundLogger]) -> EventLogCounter:
    """The EventLogCounter a BoundLogger writes to (only those can be bound), or logger itself."""
    return cast("EventLogCounter", logger.logger) if isinstance(logger, _core.BoundLogger) else logger


def _closed(logger: Union[EventLogCounter, _core.BoundLogger]) -> bool:
    return _unbound(logger).closed


def _started_default_logger() -> Optional[EventLogCounter]:
    """fastevlog's default logger if one was started (the package's global, read at each call)."""
    return sys.modules["fastevlog"]._default  # type: ignore[no-any-return]


def _default_logger() -> EventLogCounter:
    """The default logger, started (with the default parameters) if there is none yet."""
    return _started_default_logger() or sys.modules["fastevlog"].get_logger()  # type: ignore[no-any-return]
