"""Types of the compiled core (src/_core.pyx)."""

import logging
from typing import Any, Callable, Dict, List, Literal, NamedTuple, Optional, SupportsIndex, Tuple, Union

# The built-in level names as code spells them, for editors to offer.  Any case works, and names declared
# at run time must too, so a plain str stays accepted: mypy cannot tell "INFOO" from a custom level.
# What it does catch: a level or event id of another type (None, a float, bytes).
LevelName = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL",
                    "debug", "info", "warning", "error", "critical"]
Level = Union[LevelName, str, int, SupportsIndex]
# An int, or an integer such as numpy's (written as the int).
EventId = Union[str, int, SupportsIndex]

LEVEL_NAMES: Tuple[str, ...]
LEVEL_VALUES: Tuple[int, ...]
OVERFLOW_EVENT_ID: str
SEGMENT_COUNT_RANGE: Tuple[int, int]
PLACEMENT_SLOTS: int
# The buffer file's layout, for recovery's reader (fastevlog/_dead_buffer.py): constants, and for
# "FileHeader", "SegmentHeader" and "PieceRecord" (size, {field: (offset, size)}) in bytes.
BUFFER_LAYOUT: Dict[str, Any]
DEBUG_BUILD: bool

def level_index(level: Level) -> int: ...
def add_level(name: str, number: int) -> None:
    """Declare a level (process-wide, like logging.addLevelName): name (letters, digits, underscores,
    at most 15 characters, any case) and a positive number."""
def levels() -> Dict[str, int]:
    """{name: number} of every level, in order of number."""
def buffer_file_size(segment_count: int, segment_size: int) -> int: ...
def _noop(level: Any, event_id: Any, message: Any = ...) -> None: ...
def log_record(logger: Union[LoggerCore, BoundLogger], level: int, record: logging.LogRecord,
               record_fields: Tuple[Tuple[str, str], ...],
               event_id_of: Optional[Callable[[logging.LogRecord], EventId]]) -> None:
    """Log a stdlib LogRecord on logger (fastevlog.Handler's one call)."""
def _clock_source(name: str | None = ...) -> str: ...

class Mapping:
    def __init__(self, fd: int, size: int) -> None: ...
    def __len__(self) -> int: ...
    def __buffer__(self, flags: int) -> memoryview: ...
    def close(self) -> None: ...
    def abandon(self) -> None: ...
    def find(self, sub: bytes, start: int, end: int) -> int: ...
    def rfind(self, sub: bytes, start: int, end: int) -> int: ...

class EventIdCounts:
    def as_dict(self) -> Dict[EventId, int]: ...

class Sealed(NamedTuple):
    """A sealed entry: a segment (segment, its bytes as offsets into the mapping) or a line
    longer than a segment (line; start 0).  Exactly one of segment and line is set."""
    segment: Optional[int]
    line: Optional[bytes]
    start: int
    end: int
    events: int

class Ring:
    """The buffer file's segments; the scheduler's and writers' side of the core."""
    def attach(self, mapping: Mapping, segment_count: int, segment_size: int, wake_fd: int,
               block_when_full: bool, seal_after_events: int, wake_after: int = ...) -> None: ...
    def detach(self) -> None: ...
    def close(self) -> None: ...
    def break_(self, reason: str) -> None: ...
    def metrics(self) -> Dict[str, int]: ...
    def seal(self) -> int: ...
    def take_sealed(self) -> List[Sealed]: ...
    def record_placement(self, index: int, stamp: str, offset: int, start: int, end: int) -> None: ...
    def recycle_placements(self, index: int, written: int) -> None: ...
    def release(self, index: int) -> None: ...
    def release_line(self, length: int) -> None: ...
    def pwritev(self, fd: int, views: List[Any], offset: int) -> int: ...
    def wait_readable(self, fd: int, timeout: float) -> None: ...

class _LoggingMethods:
    """The calls that log, the same on a logger and on a bound logger (in the core they are one table)."""
    def log(self, level: Level, event_id: EventId, message: object = None, **fields: object) -> None: ...
    def debug(self, event_id: EventId, message: object = None, **fields: object) -> None: ...
    def info(self, event_id: EventId, message: object = None, **fields: object) -> None: ...
    def warning(self, event_id: EventId, message: object = None, **fields: object) -> None: ...
    def error(self, event_id: EventId, message: object = None, **fields: object) -> None: ...
    def critical(self, event_id: EventId, message: object = None, **fields: object) -> None: ...
    def exception(self, event_id: EventId, message: object = None, **fields: object) -> None:
        """Log one ERROR event with the exception being handled (exc_info=True)."""
    def bind(self, **fields: object) -> BoundLogger:
        """A logger with the same methods that adds these fields to every event it logs."""
    def log_many(self, levels: Union[Level, Any], event_ids: Any, messages: Any = None,
                 **field_columns: Any) -> None:
        """Log a batch of events given as columns.

        Raises LoggerStoppedError if the logger is stopped before or during the
        call; its ``accepted`` says how many of the call's rows were logged.
        """

class LoggerCore(_LoggingMethods):
    """The compiled half of fastevlog.EventLogCounter: the calls that log, and the counts."""
    def __init__(self, *args: Any, **kwargs: Any) -> None: ...
    def counts(self) -> Dict[str, Dict[Any, int]]: ...
    @property
    def closed(self) -> bool: ...
    @property
    def _ring(self) -> Ring: ...
    def _attach(self, mapping: Mapping, segment_count: int, segment_size: int, wake_fd: int,
                min_level: int, block_when_full: bool, seal_after_events: int,
                wake_after: int = ...) -> Ring: ...
    def _forget_after_fork(self) -> None: ...
    def _core_metrics(self) -> Dict[str, int]: ...
    def _level_counts_by_name(self) -> Dict[str, int]: ...

class BoundLogger(_LoggingMethods):
    """A logger that adds the fields given to bind() to every event it logs."""
    @property
    def logger(self) -> LoggerCore: ...
    @property
    def fields(self) -> Dict[str, object]: ...

TIME_MINUTE: int
TIME_HOUR: int
TIME_DAY: int

# A group's key: level, event id, time key, field text, each only when asked for.
ScanKey = Tuple[Union[str, int, bytes, None], ...]

class CountScanner:
    """Counts one source's JSON lines per group, block by block, without the GIL.

    One scanner per source; its group table (in C) lasts across scan() calls.  What counts is
    tests/count_reference.py's spec.
    """
    def __init__(self, *, by_level: bool, by_event_id: bool, time_unit: int = ...,
                 field: Optional[bytes] = ..., since: Optional[Tuple[int, str]] = ...,
                 until: Optional[Tuple[int, str]] = ...) -> None: ...
    def scan(self, data: Any, final: bool) -> Tuple[int, bool]:
        """Count data's whole lines (data: a C-contiguous bytes-like).

        Returns (consumed, stopped_at_nul).  With final false the unterminated tail is left
        (consumed ends after the last newline; 0 with no newline: grow the block and call
        again); with final true it is a torn line and consumed == len(data).  The first NUL
        stops the scan: consumed is its offset, the piece of its line before it a torn line.
        """
    def groups(self) -> Dict[ScanKey, int]:
        """A new dict {key tuple: lines}: level (str), event_id (str or int), time key (str),
        field (its raw JSON text as bytes, None when absent), each only when asked for."""
    @property
    def bad_lines(self) -> int: ...
