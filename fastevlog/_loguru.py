"""loguru's records written by fastevlog: a sink for loguru's logger.add().

    from loguru import logger
    logger.add(fastevlog.loguru_sink(events))
    logger.bind(user_id=42).info("User logged in.")

loguru calls the sink with its formatted text, a str carrying the record as
``.record``; the sink writes the record, not the text.  loguru itself is never
imported here: only a loguru the user has imported calls the sink.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

import fastevlog

from . import _core
from ._levels import declare, known_numbers
from ._structlog import FastevlogLogger, check_logger

# extra keys the line has of its own (or the core takes as parameters): written with a trailing underscore.
_LINE_KEYS = frozenset(("timestamp", "level", "message", "exc_info", "stack_info"))
_RENAMED = {key: key + "_" for key in _LINE_KEYS}

EventIdOf = Callable[[Dict[str, Any]], Any]


def _is_ours(name: object) -> bool:
    return isinstance(name, str) and (name == "fastevlog" or name.startswith("fastevlog."))


class LoguruSink:
    """A loguru sink writing each record as one fastevlog line; see loguru_sink()."""

    __slots__ = ("_event_id_of", "_levels", "_logger")

    def __init__(self, logger: Optional[FastevlogLogger] = None, *,
                 event_id: Optional[EventIdOf] = None) -> None:
        if isinstance(logger, str) and hasattr(logger, "record"):  # loguru's message, given to this class
            raise TypeError("loguru called fastevlog.loguru_sink itself with a record: pass "
                            "logger.add(fastevlog.loguru_sink(...)) (called), not the function")
        self._logger = check_logger(logger)
        if event_id is not None and not callable(event_id):
            raise TypeError("event_id must be None (extra's 'event_id', else the record's name) or a "
                            f"function of loguru's record returning the id, not {type(event_id).__name__}")
        self._event_id_of = event_id
        # (loguru's name, number) -> (the level to log, loguru's name when fastevlog calls it otherwise)
        self._levels: Dict[Tuple[str, int], Tuple[int, Optional[str]]] = {}

    def __repr__(self) -> str:
        return f"<fastevlog loguru sink writing to {self._logger or 'the default logger'}>"

    def __call__(self, message: Any) -> None:
        # Everything comes from the record, never from this thread's state: with enqueue=True this
        # runs on loguru's writer thread, which handles no exception and has none of the caller's context.
        record = message.record
        if _is_ours(record["name"]) and record["thread"].name.startswith("fastevlog-"):
            # fastevlog's own report, routed into loguru (an InterceptHandler), made on its scheduler's or
            # a writer's thread: never written through a logger, as fastevlog.Handler decides (a full
            # buffer would have the scheduler wait for room only it can make); loguru's other sinks have it.
            return
        level_of_record = record["level"]
        key = (level_of_record.name, level_of_record.no)
        level = self._levels.get(key)
        if level is None:
            level = self._levels[key] = _level(*key)
        number, loguru_name = level
        extra = record["extra"]
        exception = record["exception"]
        fields: Dict[str, Any]
        if self._event_id_of is not None:
            event_id = self._event_id_of(record)
        elif "event_id" in extra:
            event_id = extra["event_id"]
        else:
            event_id = record["name"] or record["module"]
        if loguru_name is None and "event_id" not in extra and _LINE_KEYS.isdisjoint(extra) and (
                exception is None or "exception" not in extra):
            fields = extra  # the usual case; the record is shared with other sinks, so never changed
        else:
            fields = _fields(extra, loguru_name, exception is not None)
        logger = self._logger
        if logger is None:  # looked up at each call: it follows fastevlog.configure()
            logger = fastevlog.get_logger()
        try:
            if exception is None:
                logger.log(number, event_id, record["message"], **fields)
            else:
                logger.log(number, event_id, record["message"], exc_info=_exc_info(exception), **fields)
        except RuntimeError:
            # fastevlog's own stdlib logger, routed into loguru (an InterceptHandler) while this logger
            # stops: dropped rather than an error report about a stopping logger from the logger itself.
            core = logger if isinstance(logger, _core.LoggerCore) else logger.logger
            if core.closed and _is_ours(record["name"]):
                return
            raise


def _level(name: str, number: int) -> Tuple[int, Optional[str]]:
    """The level to log for loguru's (name, number), and loguru's name if fastevlog calls it otherwise."""
    number = number if number in known_numbers else declare(number, name)
    ours = next((level for level, no in _core.levels().items() if no == number), None)
    return number, (None if ours == name.upper() else name)


def _fields(extra: Dict[str, Any], loguru_name: Optional[str], has_exception: bool) -> Dict[str, Any]:
    """extra as fields: the line's own keys renamed with a trailing underscore, event_id left out."""
    fields: Dict[str, Any] = {}
    if loguru_name is not None:  # e.g. loguru's SUCCESS where fastevlog already has another name for 25
        fields["level_"] = loguru_name
    for key, value in extra.items():
        if key == "event_id":
            continue
        if key in _RENAMED:
            key = _RENAMED[key]
        elif key == "exception" and has_exception:
            key = "exception_"
        fields[key] = value
    return fields


def _exc_info(exception: Any) -> Any:
    """exc_info for loguru's record["exception"], a (type, value, traceback) namedtuple.

    With enqueue=True loguru pickles the record to its thread and the traceback
    stays behind (None): the exception's type and message are still written.  A
    value that could not be pickled arrives as None; its type is still written.
    """
    kind, value, traceback = exception
    if value is None:
        try:  # an instance without its arguments: only its type is known
            value = BaseException.__new__(kind)
        except TypeError:  # not an exception class
            value = Exception()
    return (type(value) if kind is None else kind, value, traceback)


def loguru_sink(logger: Optional[FastevlogLogger] = None, *,
                event_id: Optional[EventIdOf] = None) -> LoguruSink:
    """A sink for loguru's logger.add() that writes every record as one fastevlog line.

    Args:
        logger: the EventLogCounter (or BoundLogger) to write to; None writes to
            fastevlog's default logger of the moment (it follows configure()).
        event_id: None: extra's "event_id" (from bind() or contextualize()), else
            the record's name (the logging module's __name__); or a function of
            loguru's record returning the id.

    The line has loguru's level (a level fastevlog lacks, such as SUCCESS or
    TRACE, is declared under loguru's name), record["message"] as its message,
    extra as fields, and record["exception"] as the "exception" field.
    """
    return LoguruSink(logger, event_id=event_id)
