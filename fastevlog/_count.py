"""fastevlog.count(): the lines of many log files counted by level, event id, time and fields.

The compiled CountScanner (src/scanner.pxi) counts the lines of one source into its group table
without the GIL; this module does what is left: finding the sources, reading them in blocks
(decompressing .gz and .zst on the way), running one scanner per source on a pool of threads,
applying the filters and the ``source`` key to each source's groups, merging them, and writing the
result as JSON, CSV or a table.  What is counted is specified in tests/count_reference.py.

A directory is counted as it is while a logger compresses or deletes its closed files: each event once
(an X.log and its compressed twin, both there for a moment, are read once; a listed file gone before it
is opened is read from its compressed sibling, or skipped when deleted).  See _log_files.

Memory is bounded by the groups and one block per thread, never by a file's size: a block holds
whole lines; the unterminated tail is carried to the next block, and a line longer than the block
grows it.  A live file is counted up to its first NUL byte (a range its writers have not written
yet) and its last whole line.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import stat
import sys
import threading
from datetime import datetime, timedelta, timezone
from typing import (
    IO,
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    Union,
)

from . import _core
from ._decompress import GZIP_MAGIC, ZSTD_MAGIC, GzipReader, Input, RawReader, ZstdReader, zstd_skippable

KeyValue = Union[None, int, str]
GroupKey = Tuple[KeyValue, ...]
PathArgument = Union[str, "os.PathLike[str]"]
TimeArgument = Union[str, datetime, None]

PLAIN_KEYS = ("level", "event_id", "minute", "hour", "day", "source")
TIME_UNITS = {"minute": 1, "hour": 2, "day": 3}  # the scanner's time_unit; a smaller one is finer
LOG_SUFFIXES = (".log", ".log.gz", ".log.zst")
PLAIN_SUFFIX = ".log"
LEVEL_ALIASES = {"WARN": "WARNING", "FATAL": "CRITICAL"}  # as log() reads them

BLOCK_SIZE = 1 << 20  # bytes scanned at a time; 4 MiB blocks (out of L2 cache) scanned ~10% slower
STDIN = "-"

_UTC_SHORT = re.compile(r"(\d{4})-(\d\d)-(\d\d)(?:T(\d\d):(\d\d)(?::(\d\d))?)?\Z", re.ASCII)
_RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?"
                      r"(?:[Zz]|([+-])(\d\d):(\d\d))\Z", re.ASCII)
_SURROGATE = re.compile("[\ud800-\udfff]")
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


# -- the result --------------------------------------------------------------------------------------

class Damaged(NamedTuple):
    """A compressed source that could not be read to its end: what decompressed before is counted."""

    path: str
    reason: str


class CountResult:
    """What fastevlog.count() found.

    Attributes:
        total: lines counted in the groups (after the filters).
        groups: {key tuple: lines}, one value per ``by`` key in its order: None, an int or a str.
        files: sources read (empty ones too).
        bytes: the sources' bytes (decompressed) before each one's first NUL byte.
        bad_lines: lines that are not a JSON object with a string ``level`` and a string or integer
            ``event_id`` (nor, when a time key or window is asked, an RFC 3339 ``timestamp``).
        by: the keys, as given (``field:NAME`` whole).
        damaged: the compressed sources that ended early or held corrupt data (path, reason).
    """

    __slots__ = ("total", "groups", "files", "bytes", "bad_lines", "by", "damaged")

    def __init__(self, by: Tuple[str, ...], groups: Dict[GroupKey, int], files: int, bytes: int,
                 bad_lines: int, damaged: Sequence[Damaged] = ()) -> None:
        self.by = by
        self.groups = groups
        self.total = sum(groups.values())
        self.files = files
        self.bytes = bytes
        self.bad_lines = bad_lines
        self.damaged = list(damaged)

    def __repr__(self) -> str:
        return (f"CountResult(by={self.by!r}, total={self.total}, groups={len(self.groups)} groups, "
                f"files={self.files}, bytes={self.bytes}, bad_lines={self.bad_lines})")

    def sorted_groups(self, top: Optional[int] = None) -> List[Tuple[GroupKey, int]]:
        """The groups by count, largest first, then by their key values (None, ints, strings);
        only the ``top`` first when given."""
        _check_top(top)
        groups = sorted(self.groups.items(),
                        key=lambda item: (-item[1], tuple(_value_order(value) for value in item[0])))
        return groups if top is None else groups[:top]

    def as_json(self, top: Optional[int] = None) -> str:
        """One JSON object: total, groups (each with one member per ``by`` key and ``count``), files,
        bytes, bad_lines; ``json.dumps``' separators, non-ASCII as UTF-8."""
        groups = ", ".join(
            "{" + ", ".join(f"{_json_text(name)}: {_json_text(value)}" for name, value in zip(self.by, key))
            + f", \"count\": {count}}}"
            for key, count in self.sorted_groups(top))
        return (f'{{"total": {self.total}, "groups": [{groups}], "files": {self.files}, '
                f'"bytes": {self.bytes}, "bad_lines": {self.bad_lines}}}')

    def as_csv(self, top: Optional[int] = None) -> str:
        """A header row (the ``by`` keys and count), then a row per group; None is an empty cell."""
        import csv
        import io

        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow([*self.by, "count"])
        for key, count in self.sorted_groups(top):
            writer.writerow([*("" if value is None else _text(value) for value in key), count])
        return text.getvalue()

    def as_table(self, top: Optional[int] = None) -> str:
        """Aligned columns: the ``by`` keys, then count; a last row with the total of every group."""
        groups = self.sorted_groups(top)
        header = [*self.by, "count"]
        rows = [[*(_table_cell(value) for value in key), f"{count:,}"] for key, count in groups]
        footer = ["total", *[""] * (len(self.by) - 1), f"{self.total:,}"]
        widths = [max(len(row[column]) for row in [header, *rows, footer]) for column in range(len(header))]
        lines = ["  ".join([*(cell.ljust(width) for cell, width in zip(row[:-1], widths)),
                            row[-1].rjust(widths[-1])])
                 for row in [header, *rows, footer]]
        if len(groups) < len(self.groups):
            lines.append(f"({len(groups):,} of {len(self.groups):,} groups shown)")
        return "\n".join(lines) + "\n"


def _check_top(top: Optional[int]) -> None:
    if top is None:
        return
    if not isinstance(top, int) or isinstance(top, bool):
        raise TypeError(f"top must be an int or None, not {type(top).__name__}")
    if top < 1:
        raise ValueError(f"top must be at least 1, not {top}")


def _value_order(value: KeyValue) -> Tuple[int, Any]:
    # str compares by code point, which is UTF-8 byte order.
    if value is None:
        return (0, 0)
    if isinstance(value, int):
        return (1, value)
    return (2, value)


def _int_text(value: int) -> str:
    """str(value) for any length: 3.11+ refuse ints of more than 4,300 digits (a process-wide limit
    that threads cannot lift for themselves alone), so long ones go by halves."""
    try:
        return str(value)
    except ValueError:
        pass
    if value < 0:
        return "-" + _int_text(-value)
    half = int(value.bit_length() * 0.30103) // 2  # about half its digits
    high, low = divmod(value, 10 ** half)
    return (_int_text(high) if high else "") + _int_text(low).rjust(half, "0")


def _text(value: Union[int, str]) -> str:
    return _int_text(value) if isinstance(value, int) else value


def _json_text(value: KeyValue) -> str:
    if value is None:
        return "null"
    if isinstance(value, int):
        return _int_text(value)
    return json.dumps(value, ensure_ascii=False)


def _table_cell(value: KeyValue) -> str:
    if value is None:
        return "(none)"
    text = _text(value)
    # A newline or control character would break the columns: such a value is shown as JSON.
    if text and text.isprintable() and text.strip() == text:
        return text
    quoted = json.dumps(text, ensure_ascii=False)  # leaves U+2028, U+0085 and the like as they are
    return "".join(char if char.isprintable() else f"\\u{ord(char):04x}" for char in quoted)


# -- the arguments -----------------------------------------------------------------------------------

class _Window(NamedTuple):
    """An instant as the scanner compares it: whole seconds since the epoch (UTC) and fraction digits."""

    seconds: int
    fraction: str


def _before(earlier: _Window, later: _Window) -> bool:
    """Exactly, whatever the number of fraction digits."""
    width = max(len(earlier.fraction), len(later.fraction))
    return ((earlier.seconds, earlier.fraction.ljust(width, "0"))
            < (later.seconds, later.fraction.ljust(width, "0")))


class _Line(NamedTuple):
    """One group of the scanner, its parts named."""

    level: Optional[str]
    event_id: Union[int, str, None]
    time: Optional[str]
    field: KeyValue
    source: str


class _Plan(NamedTuple):
    """count()'s arguments, checked and in the form the scanner and the merge need."""

    by: Tuple[str, ...]
    scanner_arguments: Dict[str, Any]
    key_makers: Tuple[Callable[[_Line], KeyValue], ...]
    level_names: Optional[frozenset]
    id_matches: Optional[Callable[[str], Any]]
    jobs: int


def _check_by(by: Union[str, Sequence[str]]) -> Tuple[str, ...]:
    if isinstance(by, str):
        keys = tuple(by.split(","))
    else:
        try:
            keys = tuple(by)
        except TypeError:
            raise TypeError(f"by must be a str or a sequence of str, not {type(by).__name__}") from None
    every_key = ", ".join(PLAIN_KEYS) + ", field:NAME"
    if not keys:
        raise ValueError(f"by: give at least one key among {every_key}")
    for key in keys:
        if not isinstance(key, str):
            raise TypeError(f"by: each key must be a str, not {type(key).__name__} ({key!r})")
        if key not in PLAIN_KEYS and not (key.startswith("field:") and len(key) > len("field:")):
            raise ValueError(f"by: unknown key {key!r}; the keys are {every_key}")
    if len(set(keys)) != len(keys):
        raise ValueError(f"by: a key is given twice in {','.join(keys)}")
    fields = [key for key in keys if key.startswith("field:")]
    if len(fields) > 1:
        # The scanner keeps one field's text per group.
        raise ValueError(f"by: one field:NAME key at a time, not {len(fields)} ({', '.join(fields)})")
    return keys


def _window_time(name: str, value: TimeArgument) -> Optional[_Window]:
    """since/until as the scanner compares them, or ValueError naming the parameter."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ValueError(f"{name}: a naive datetime ({value}); give one with a tzinfo, "
                             f"e.g. datetime(..., tzinfo=timezone.utc)")
        utc = value.astimezone(timezone.utc)
        return _Window(_seconds_since_epoch(utc.replace(microsecond=0)), f"{utc.microsecond:06d}")
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str or an aware datetime, not {type(value).__name__}")
    window = _parse_time_text(value)
    if window is None:
        raise ValueError(
            f"{name}={value!r}: expected RFC 3339 with an offset (2026-11-28T16:03:05Z, "
            f"2026-11-28T17:03:05.5+01:00) or YYYY-MM-DD[THH:MM[:SS]] taken as UTC")
    return window


def _parse_time_text(text: str) -> Optional[_Window]:
    short = _UTC_SHORT.match(text)
    full = _RFC3339.match(text) if short is None else None
    if short is None and full is None:
        return None
    parts = (short or full).groups()  # type: ignore[union-attr]
    year, month, day, hour, minute, second = (int(part) if part else 0 for part in parts[:6])
    offset = timedelta(0)
    fraction = ""
    if full is not None:
        fraction = parts[6] or ""
        if parts[7]:
            offset_hours, offset_minutes = int(parts[8]), int(parts[9])
            if offset_hours > 23 or offset_minutes > 59:
                return None
            offset = timedelta(hours=offset_hours, minutes=offset_minutes)
            if parts[7] == "-":
                offset = -offset
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=timezone(offset))
        utc = moment.astimezone(timezone.utc)
    except (ValueError, OverflowError):  # no such date or time, or out of years 1..9999 in UTC
        return None
    return _Window(_seconds_since_epoch(utc), fraction)


def _seconds_since_epoch(moment: datetime) -> int:
    delta = moment - _EPOCH
    return delta.days * 86400 + delta.seconds


def _level_name(name: str) -> str:
    upper = name.translate(_ASCII_UPPER)
    return LEVEL_ALIASES.get(upper, upper)


def _check_levels(levels: Union[str, Iterable[str], None]) -> Optional[frozenset]:
    if levels is None:
        return None
    names = levels.split(",") if isinstance(levels, str) else list(levels)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"levels: each level must be a str, not {type(name).__name__} ({name!r})")
    if not names:
        raise ValueError("levels: give at least one level name, or None for every level")
    return frozenset(_level_name(name) for name in names)


def _check_jobs(jobs: Optional[int]) -> int:
    if jobs is None:
        return len(os.sched_getaffinity(0))
    if not isinstance(jobs, int) or isinstance(jobs, bool):
        raise TypeError(f"jobs must be an int or None, not {type(jobs).__name__}")
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    return jobs


def _plan(by: Union[str, Sequence[str]], since: TimeArgument, until: TimeArgument,
          levels: Union[str, Iterable[str], None], event_id: Optional[str], jobs: Optional[int]) -> _Plan:
    keys = _check_by(by)
    since_window = _window_time("since", since)
    until_window = _window_time("until", until)
    if since_window is not None and until_window is not None and not _before(since_window, until_window):
        raise ValueError(f"since={since!r} is not before until={until!r}: the window is empty")
    level_names = _check_levels(levels)
    id_matches = None
    if event_id is not None:
        if not isinstance(event_id, str):
            raise TypeError(f"event_id must be a glob str, not {type(event_id).__name__}")
        id_matches = re.compile(fnmatch.translate(event_id), re.DOTALL).match
    time_keys = [key for key in keys if key in TIME_UNITS]
    field = next((key[len("field:"):] for key in keys if key.startswith("field:")), None)
    scanner_arguments: Dict[str, Any] = {
        "by_level": "level" in keys or level_names is not None,
        "by_event_id": "event_id" in keys or id_matches is not None,
        # The finest unit asked: the coarser keys are cut from its text.
        "time_unit": min((TIME_UNITS[key] for key in time_keys), default=0),
        "field": None if field is None else field.encode("utf-8", "surrogatepass"),
        "since": None if since_window is None else tuple(since_window),
        "until": None if until_window is None else tuple(until_window),
    }
    return _Plan(keys, scanner_arguments, tuple(_key_maker(key) for key in keys), level_names, id_matches,
                 _check_jobs(jobs))


def _key_maker(key: str) -> Callable[[_Line], KeyValue]:
    if key == "level":
        return lambda line: line.level
    if key == "event_id":
        return lambda line: line.event_id
    if key == "source":
        return lambda line: line.source
    if key == "minute":
        return lambda line: line.time
    if key == "hour":
        return _hour_of
    if key == "day":
        return lambda line: line.time.partition("T")[0]  # type: ignore[union-attr]
    return lambda line: line.field


def _hour_of(line: _Line) -> str:
    # From the finest unit asked: 2026-11-28T16:03Z or 2026-11-28T16Z (not slices: a year may be short).
    date, _, time = line.time.partition("T")  # type: ignore[union-attr]
    return f"{date}T{time[:2]}Z"


# -- the field values --------------------------------------------------------------------------------

def _exact_int(digits: str) -> int:
    # int() refuses more than 4,300 digits on 3.11+; JSON has no such limit.
    try:
        return int(digits)
    except ValueError:
        pass
    negative = digits.startswith("-")
    digits = digits.lstrip("-")
    value = 0
    for start in range(0, len(digits), 1000):
        chunk = digits[start:start + 1000]
        value = value * 10 ** len(chunk) + int(chunk)
    return -value if negative else value


def _compact_json(value: Any) -> str:
    """json.dumps(value, ensure_ascii=False, separators=(",", ":")) for ints of any length."""
    if isinstance(value, bool) or value is None or isinstance(value, (float, str)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int):
        return _int_text(value)
    if isinstance(value, list):
        return "[" + ",".join(_compact_json(item) for item in value) + "]"
    return "{" + ",".join(json.dumps(name, ensure_ascii=False) + ":" + _compact_json(item)
                          for name, item in value.items()) + "}"


def _field_key(raw: Optional[bytes]) -> KeyValue:
    """A field's raw JSON text as its group key: str and int as themselves, null (or no such field)
    None, anything else its compact JSON text (true and 1, 1.0 and 1 are different keys)."""
    if raw is None:
        return None
    try:
        value = json.loads(raw, parse_int=_exact_int)
    except RecursionError:  # up to 512 levels: more than some Pythons' C recursion allows by default
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 4000))
        try:
            value = json.loads(raw, parse_int=_exact_int)
        finally:
            sys.setrecursionlimit(limit)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = value if isinstance(value, str) else _compact_json(value)
    return _SURROGATE.sub("\ufffd", text)


# -- the sources -------------------------------------------------------------------------------------

class _Source(NamedTuple):
    name: str  # the PATH argument it came from, as given: its ``source`` key
    path: Optional[str]  # None for standard input
    size: int  # on disk, for the progress bar; 0 when unknown
    # Found in a directory's listing: a compressor or retention may remove it before it is opened,
    # then its compressed siblings are read instead, in this order, or nothing (see _log_files).
    listed: bool = False
    siblings: Tuple[str, ...] = ()


def _check_paths(paths: Union[PathArgument, Sequence[PathArgument]]) -> List[str]:
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if isinstance(paths, bytes):
        raise TypeError("paths must be str or os.PathLike (or a sequence of them), not bytes")
    names = []
    for path in paths:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"paths: each path must be a str or os.PathLike, not {type(path).__name__}")
        name = os.fspath(path)
        if not isinstance(name, str):
            raise TypeError(f"paths: each path must name a str path, not {type(name).__name__}")
        names.append(name)
    if not names:
        raise ValueError("paths: give at least one file, directory, or '-' for standard input")
    if names.count(STDIN) > 1:
        raise ValueError("paths: '-' (standard input) is given more than once")
    for name in names:
        if name != STDIN and not os.path.exists(name):
            raise FileNotFoundError(f"paths: {name!r} does not exist")
    return names


def _sources(names: Sequence[str]) -> List[_Source]:
    """Each PATH's files: itself, or a directory's *.log, *.log.gz, *.log.zst at any depth."""
    sources = []
    for name in names:
        if name == STDIN:
            sources.append(_Source(name, None, 0))
        elif os.path.isdir(name):
            sources += [_Source(name, path, _size(path), True, _compressed_siblings(path))
                        for path in _log_files(name)]
        else:
            sources.append(_Source(name, name, _size(name)))
    return sources


def _log_files(directory: str) -> List[str]:
    """The directory's log files at any depth, each event in one of them once, even while a logger
    compresses or deletes its closed files.

    A compressor writes X.log.gz or X.log.zst whole, renames it into place, then removes X.log: when
    both are listed, X.log is read and its compressed twin is not.  A listed X.log gone when it is
    looked at or opened has been compressed meanwhile, or deleted (retention): its compressed sibling
    is read if there is one by then (_count_source), else nothing.
    """
    def unreadable(error: OSError) -> None:  # os.walk would skip it, and its files with it
        raise error

    found = []
    for parent, subdirectories, files in os.walk(directory, onerror=unreadable):
        subdirectories.sort()
        plain = set()  # the X.log names of this directory that are files, or were a moment ago
        listed = []
        for file in sorted(files):
            if not file.endswith(LOG_SUFFIXES):
                continue
            path = os.path.join(parent, file)
            try:
                regular = stat.S_ISREG(os.stat(path).st_mode)
            except FileNotFoundError:  # removed since the listing: an X.log is looked for at its open
                regular = file.endswith(PLAIN_SUFFIX)
            if not regular:
                continue
            if file.endswith(PLAIN_SUFFIX):
                plain.add(file)
            listed.append(file)
        found += [os.path.join(parent, file) for file in listed
                  if file.endswith(PLAIN_SUFFIX) or _uncompressed_name(file) not in plain]
    return found


def _uncompressed_name(name: str) -> str:
    """X.log for X.log.gz and X.log.zst."""
    return name[:name.rindex(PLAIN_SUFFIX) + len(PLAIN_SUFFIX)]


def _compressed_siblings(path: str) -> Tuple[str, ...]:
    """Where a listed X.log's events are once it is compressed: zstd first, the usual choice."""
    return (path + ".zst", path + ".gz") if path.endswith(PLAIN_SUFFIX) else ()


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


class _SourceCount(NamedTuple):
    groups: Dict[GroupKey, int]
    bad_lines: int
    bytes: int
    damage: Optional[str]
    path: Optional[str]  # the file read: a listed X.log's compressed sibling if it was gone; None for stdin


class _Stopped(Exception):
    """Another worker failed or the count was interrupted: this one stops too."""


def _count_source(
        source: _Source, plan: _Plan, block_size: int, on_read: Optional[Callable[[int], Any]],
        stop: threading.Event, field_keys: Dict[Optional[bytes], KeyValue]) -> Optional[_SourceCount]:
    """The source counted, or None when it was a listed file gone with its compressed siblings."""
    scanner = _core.CountScanner(**plan.scanner_arguments)
    if source.path is None:
        if sys.stdin is None:
            raise ValueError("paths: '-' is standard input, and this process has none")
        covered, damage = _scan_stream(scanner, sys.stdin.buffer, STDIN, block_size, on_read, stop)
        path = None
    else:
        opened = _open_source(source)
        if opened is None:
            return None
        path, file = opened
        with file:
            try:
                os.posix_fadvise(file.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)  # a larger read-ahead
            except OSError:  # a pipe or a terminal
                pass
            covered, damage = _scan_stream(scanner, file, path, block_size, on_read, stop)
    return _SourceCount(_merge_groups(scanner.groups(), plan, source.name, field_keys), scanner.bad_lines,
                        covered, damage, path)


def _open_source(source: _Source) -> Optional[Tuple[str, IO[bytes]]]:
    """The source's file opened (the path read, the file), or None when a listed file and all its
    compressed siblings are gone: compressed and then deleted, or deleted by retention, meanwhile."""
    assert source.path is not None
    for path in (source.path, *source.siblings):
        try:
            return path, open(path, "rb", buffering=0)
        except FileNotFoundError:
            if not source.listed:  # a PATH given by name: its absence is an error
                raise
    return None


def _scan_stream(scanner: Any, file: IO[bytes], path: str, block_size: int,
                 on_read: Optional[Callable[[int], Any]], stop: threading.Event) -> Tuple[int, Optional[str]]:
    """Scan a source to its end or its first NUL byte; returns the bytes before that and what was wrong
    with its compressed data, if anything."""
    raw = Input(file, on_read)
    block = bytearray(max(block_size, len(ZSTD_MAGIC)))  # room for the magic bytes
    view = memoryview(block)
    filled = 0
    while filled < len(ZSTD_MAGIC):  # a pipe may give less than asked for
        n = raw.readinto(view[filled:])
        if not n:
            break
        filled += n
    reader: Union[RawReader, GzipReader, ZstdReader]
    if view[:len(GZIP_MAGIC)] == GZIP_MAGIC:
        reader, filled = GzipReader(raw, bytes(view[:filled])), 0
    elif view[:len(ZSTD_MAGIC)] == ZSTD_MAGIC or zstd_skippable(view[:filled]):
        reader, filled = ZstdReader(raw, bytes(view[:filled]), path), 0
    else:
        reader = RawReader(raw)
    covered = 0  # bytes scanned before the block's start
    while True:
        if stop.is_set():
            raise _Stopped
        if filled == len(block):  # one line fills the block: a larger block holds it
            block = bytearray(2 * len(block))
            block[:filled] = view
            view = memoryview(block)
        n = reader.readinto(view[filled:])
        filled += n
        final = n == 0
        consumed, stopped_at_nul = scanner.scan(view[:filled], final)
        covered += consumed
        if final or stopped_at_nul:
            return covered, reader.damage
        # The unterminated tail goes to the block's start, for the next read to complete it.
        view[:filled - consumed] = view[consumed:filled]
        filled -= consumed


def _merge_groups(groups: Dict[tuple, int], plan: _Plan, source: str,
                  field_keys: Dict[Optional[bytes], KeyValue]) -> Dict[GroupKey, int]:
    """The scanner's groups filtered and keyed as ``by`` asks."""
    arguments = plan.scanner_arguments
    merged: Dict[GroupKey, int] = {}
    for parts, count in groups.items():
        values = iter(parts)
        level = next(values) if arguments["by_level"] else None
        event_id = next(values) if arguments["by_event_id"] else None
        time = next(values) if arguments["time_unit"] else None
        field: KeyValue = None
        if arguments["field"] is not None:
            raw = next(values)
            if raw not in field_keys:
                field_keys[raw] = _field_key(raw)
            field = field_keys[raw]
        if plan.level_names is not None and _level_name(level) not in plan.level_names:  # type: ignore[arg-type]
            continue
        if plan.id_matches is not None and not plan.id_matches(_text(event_id)):  # type: ignore[arg-type]
            continue
        line = _Line(level, event_id, time, field, source)
        key = tuple(make(line) for make in plan.key_makers)
        merged[key] = merged.get(key, 0) + count
    return merged


# -- counting ----------------------------------------------------------------------------------------

def count(
    paths: Union[PathArgument, Sequence[PathArgument]],
    by: Union[str, Sequence[str]] = ("level", "event_id"),
    *,
    since: TimeArgument = None,
    until: TimeArgument = None,
    levels: Union[str, Iterable[str], None] = None,
    event_id: Optional[str] = None,
    jobs: Optional[int] = None,
    progress: bool = False,
    _block_size: int = BLOCK_SIZE,
) -> CountResult:
    """Count the JSON lines of log files by level, event id, time or fields.

    Args:
        paths: a file, a directory (searched recursively for *.log, *.log.gz, *.log.zst), "-" for
            standard input, or a sequence of them. gzip and zstd files are read by their first bytes,
            whatever their names.
        by: the keys of a group, a sequence or one comma-separated str: level, event_id, minute, hour,
            day (of the line's timestamp, in UTC), source (the path argument a line came from, as
            given), field:NAME (a top-level field's value).
        since, until: only lines at or after since and before until: RFC 3339 with an offset, or
            YYYY-MM-DD[THH:MM[:SS]] taken as UTC, or an aware datetime.
        levels: only lines of these levels (any case; WARN is WARNING, FATAL is CRITICAL), an iterable
            of names or one comma-separated str.
        event_id: only lines whose event id (an int's in decimal) matches this glob (fnmatchcase).
        jobs: sources read at the same time (threads); default: the CPUs this process may use.
        progress: a progress bar on stderr (needs tqdm: pip install "fastevlog[cli]").

    Raises:
        ValueError, TypeError: a bad argument (the message names it); FileNotFoundError: a path that
        does not exist; OSError: a file that cannot be read; RuntimeError: a zstd file without the
        zstandard package.  Bad lines and damaged compressed files are not errors: see CountResult.
    """
    return _prepare(paths, by, since, until, levels, event_id, jobs).run(progress, _block_size)


class _Count(NamedTuple):
    """A count ready to run: its arguments checked, its files found."""

    sources: List[_Source]
    plan: _Plan

    @property
    def input_bytes(self) -> int:
        """The files' size on disk (compressed or not; standard input not known)."""
        return sum(source.size for source in self.sources)

    @property
    def reads_timestamps(self) -> bool:
        """Whether a line without an RFC 3339 timestamp is bad: a time key or a window is asked."""
        arguments = self.plan.scanner_arguments
        return bool(arguments["time_unit"]) or (arguments["since"], arguments["until"]) != (None, None)

    def run(self, progress: bool = False, block_size: int = BLOCK_SIZE) -> CountResult:
        return _count(self.sources, self.plan, progress, block_size)


def _prepare(paths: Union[PathArgument, Sequence[PathArgument]], by: Union[str, Sequence[str]],
             since: TimeArgument, until: TimeArgument, levels: Union[str, Iterable[str], None],
             event_id: Optional[str], jobs: Optional[int]) -> _Count:
    """count()'s arguments checked (ValueError, TypeError, FileNotFoundError name the bad one) and
    its files found, before anything is read."""
    names = _check_paths(paths)
    plan = _plan(by, since, until, levels, event_id, jobs)
    return _Count(_sources(names), plan)


def _count(sources: List[_Source], plan: _Plan, progress: bool, block_size: int) -> CountResult:
    # The largest first, so that no thread is left with a big file at the end while the others idle.
    sources = sorted(sources, key=lambda source: (source.path is not None, -source.size))
    bar = _progress_bar(sources) if progress else None
    on_read = None
    if bar is not None:
        bar_lock = threading.Lock()

        def on_read(n: int) -> None:  # tqdm's update adds without a lock
            with bar_lock:
                bar.update(n)
    field_keys: Dict[Optional[bytes], KeyValue] = {}
    stop = threading.Event()
    results: List[Optional[_SourceCount]] = [None] * len(sources)
    done = [False] * len(sources)
    errors: List[BaseException] = []
    next_source = iter(range(len(sources)))
    lock = threading.Lock()

    def work() -> None:
        while not stop.is_set():
            with lock:
                index = next(next_source, None)
            if index is None:
                return
            try:
                results[index] = _count_source(sources[index], plan, block_size, on_read, stop, field_keys)
                done[index] = True
            except _Stopped:
                return
            except BaseException as error:
                errors.append(error)
                stop.set()
                return

    try:
        threads = [threading.Thread(target=work, name=f"fastevlog-count-{index}", daemon=True)
                   for index in range(min(plan.jobs, len(sources)) - 1)]
        for thread in threads:
            thread.start()
        work()  # the calling thread is one of the jobs
        for thread in threads:
            thread.join()
    except BaseException:  # KeyboardInterrupt: the workers stop at their next block
        stop.set()
        raise
    finally:
        if bar is not None:
            bar.close()
    if errors:
        raise errors[0]
    groups: Dict[GroupKey, int] = {}
    bad_lines = covered = files = 0
    damaged = []
    assert all(done)
    for result in results:
        if result is None:  # gone before it was opened: not a file read
            continue
        files += 1
        for key, lines in result.groups.items():
            groups[key] = groups.get(key, 0) + lines
        bad_lines += result.bad_lines
        covered += result.bytes
        if result.damage is not None:
            damaged.append(Damaged(result.path or STDIN, result.damage))
    return CountResult(plan.by, groups, files, covered, bad_lines, damaged)


def _progress_bar(sources: Sequence[_Source]) -> Any:
    total = sum(source.size for source in sources)
    try:
        from tqdm import tqdm  # type: ignore[import-untyped]
    except ImportError:  # the [cli] extra is not installed
        return None
    # By the bytes read from disk, compressed or not: the only total known before reading.
    return tqdm(total=total or None, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr,
                desc="counting", leave=False)
