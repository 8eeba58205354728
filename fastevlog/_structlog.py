"""structlog's events written by fastevlog: a logger factory for structlog.configure().

    structlog.configure(processors=[structlog.contextvars.merge_contextvars],
                        logger_factory=fastevlog.structlog_factory(events))
    structlog.get_logger().info("user_login", user_id=42)

structlog hands the last processor's event dict to a method of the logger the
factory made, named after the call (info, warning, ...), as keywords; that
method writes it as one line.  structlog itself is never imported here: the
factory is only called by a structlog the user has already imported.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple, Union

import fastevlog

from ._core import BoundLogger, LoggerCore

# structlog's method names (its filtering loggers' and the generic BoundLogger's) as level numbers.
# msg and log carry no level of their own (PrintLogger writes them as they come): INFO.
METHOD_LEVELS: Dict[str, int] = {
    "debug": 10, "info": 20, "msg": 20, "log": 20,
    "warning": 30, "warn": 30, "error": 40, "err": 40, "exception": 40,
    "critical": 50, "fatal": 50,
}
# What structlog.processors.add_log_level can write as "level", as numbers: equal to the
# method's level, it says nothing the line's own "level" does not.
_LEVEL_NAMES = {"debug": 10, "info": 20, "warning": 30, "warn": 30, "error": 40, "exception": 40,
                "critical": 50, "fatal": 50}
# Keys of an event dict that are the line's own keys (or the core refuses as fields).
_LINE_KEYS = frozenset(("level", "timestamp", "exc_info"))

_NO_EVENT = object()

_RENDERED = ("the last processor returned text (a renderer such as structlog.processors.JSONRenderer or "
             "structlog.dev.ConsoleRenderer), but fastevlog writes the event dict itself: remove the "
             "renderer from processors=, so that the chain ends with the event dict")

FastevlogLogger = Union[LoggerCore, BoundLogger]


def check_logger(logger: Any) -> Optional[FastevlogLogger]:
    """logger if it is None, an EventLogCounter or a BoundLogger; else a TypeError naming the parameter."""
    if logger is None or isinstance(logger, (LoggerCore, BoundLogger)):
        return logger
    raise TypeError("logger must be None (fastevlog's default logger at each call), a "
                    "fastevlog.EventLogCounter or a BoundLogger from its bind(), "
                    f"not {type(logger).__name__}")


class StructlogLogger:
    """The logger structlog wraps: each method writes its event dict as one fastevlog line."""

    __slots__ = ("_logger",)

    def __init__(self, logger: Optional[FastevlogLogger]) -> None:
        self._logger = logger

    def __repr__(self) -> str:
        return f"<fastevlog StructlogLogger writing to {self._logger or 'the default logger'}>"

    def _write(self, level: int, args: Tuple[Any, ...], event_dict: Dict[str, Any]) -> None:
        if args:  # a str (or bytes) from a renderer, or a final (args, kwargs) tuple with args
            raise TypeError(_RENDERED)
        event = event_dict.pop("event", _NO_EVENT)
        if "event_id" in event_dict:
            # log.info("User logged in.", event_id="user_login"): the id given, the event as the message.
            event_id = event_dict.pop("event_id")
            if event is not _NO_EVENT:
                event_dict["message" if "message" not in event_dict else "event"] = event
        elif event is _NO_EVENT:
            raise TypeError("a structlog event for fastevlog needs an event (its event id): "
                            "log.info('user_login', user_id=42), or event_id= among the keys")
        else:
            event_id = event
        if not _LINE_KEYS.isdisjoint(event_dict):
            _rename_line_keys(level, event_dict)
        logger = self._logger
        if logger is None:  # looked up at each call: it follows fastevlog.configure()
            logger = fastevlog.get_logger()
        logger.log(level, event_id, **event_dict)

    def debug(self, *args: Any, **event_dict: Any) -> None:
        self._write(10, args, event_dict)

    def info(self, *args: Any, **event_dict: Any) -> None:
        self._write(20, args, event_dict)

    def warning(self, *args: Any, **event_dict: Any) -> None:
        self._write(30, args, event_dict)

    def error(self, *args: Any, **event_dict: Any) -> None:
        self._write(40, args, event_dict)

    def critical(self, *args: Any, **event_dict: Any) -> None:
        self._write(50, args, event_dict)

    def exception(self, *args: Any, **event_dict: Any) -> None:
        """ERROR with the exception being handled (structlog's generic BoundLogger passes no exc_info)."""
        event_dict.setdefault("exc_info", True)
        self._write(40, args, event_dict)

    # Aliases structlog's loggers may call by name; msg and log have no level: INFO.
    warn = warning
    err = error
    fatal = critical
    msg = info
    log = info


def _rename_line_keys(level: int, event_dict: Dict[str, Any]) -> None:
    """Rename (or drop) the keys the line has of its own, in place."""
    if "level" in event_dict:
        value = event_dict.pop("level")
        # add_log_level's "info" on an INFO line says it twice: dropped; another level is kept as level_.
        if not (isinstance(value, str) and _LEVEL_NAMES.get(value.lower()) == level):
            event_dict["level_"] = value
    if "timestamp" in event_dict:
        # The line's timestamp is the time of the call; a TimeStamper's (or the caller's own) is kept.
        event_dict["timestamp_"] = event_dict.pop("timestamp")
    if event_dict.get("exc_info") and "exception" in event_dict:
        # The exception field is exc_info's; format_exc_info's text (or the caller's) is kept beside it.
        event_dict["exception_"] = event_dict.pop("exception")


class StructlogFactory:
    """A structlog logger factory: structlog.configure(logger_factory=StructlogFactory(events))."""

    __slots__ = ("_structlog_logger",)

    def __init__(self, logger: Optional[FastevlogLogger] = None) -> None:
        self._structlog_logger = StructlogLogger(check_logger(logger))

    def __call__(self, *args: Any) -> StructlogLogger:
        # get_logger()'s positional arguments (a name) are not written: the event is the line's id.
        return self._structlog_logger

    def __getattr__(self, name: str) -> Any:
        # Only reached for a missing attribute: structlog calling info() on a factory, because
        # logger_factory=fastevlog.structlog_factory was given uncalled and it made this one.
        if name in METHOD_LEVELS:
            raise AttributeError(f"structlog called {name}() on a fastevlog StructlogFactory: pass "
                                 "logger_factory=fastevlog.structlog_factory(...) (called), not the function")
        raise AttributeError(name)


def structlog_factory(logger: Optional[FastevlogLogger] = None) -> StructlogFactory:
    """A logger factory for structlog.configure() that writes every event as one fastevlog line.

    Args:
        logger: the EventLogCounter (or BoundLogger) to write to; None writes to
            fastevlog's default logger of the moment (it follows configure()).

    The processor chain must end with the event dict, not a renderer.  The
    event is the line's event_id (or event_id=..., the event then being the
    message), the method its level, and every other key a field.
    """
    return StructlogFactory(logger)
