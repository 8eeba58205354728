"""The plain reference of issue 13's counting: what ``fastevlog count`` must answer, with json.loads.

Every mode of the compiled counter (fast path, general path, blocks, jobs, .gz, .zst) is compared with
``count_reference()`` on the same bytes. It is written for obviousness, not speed. Where the issue is
silent, the rule chosen is stated here; the compiled counter follows these rules, so they are its spec.

Lines
    - A source's bytes end at its first NUL byte: a live logger's writers pwrite pieces in parallel, so
      a NUL range is a part not written yet. Nothing from the first NUL on is counted, not even as bad
      lines, nor in ``bytes``.
    - What remains is split on ``b"\\n"``; one trailing ``b"\\r"`` of a line is stripped (CRLF files).
      A CR is JSON whitespace anyway, so this says no more than that a CRLF line counts as its LF twin.
    - A line holding only JSON whitespace (space, tab, CR) is skipped: neither counted nor bad.
    - The piece after the last ``b"\\n"`` is a torn line (a crashed or live writer's last line): bad when
      it holds anything but JSON whitespace, even when it parses as a whole object.

Bad lines (counted in ``bad_lines``, otherwise skipped)
    - not UTF-8 (strict: encoded surrogates and overlong forms are not UTF-8); a UTF-8 BOM is not
      whitespace, so a line starting with one is bad;
    - not JSON per RFC 8259: json.loads' extensions ``NaN``, ``Infinity``, ``-Infinity`` are rejected;
      ints of any length are JSON (no 4,300-digit limit); nesting deeper than MAX_NESTING containers
      (the top-level object is one) is bad, so the scanner needs no unbounded stack;
    - not an object; no ``level`` or a ``level`` that is not a string (an empty string is a level);
    - no ``event_id``, or an ``event_id`` that is not a string or an integer: a JSON number with a
      fraction or exponent (``7.0``, ``1e3``), ``true``/``false``, ``null``, arrays and objects are bad;
    - when a time key (``minute``, ``hour``, ``day``) or ``since``/``until`` is asked: no ``timestamp``,
      a timestamp that is not a string, or one that is not an RFC 3339 date-time (see parse_line_time:
      time of day HH 00-23, MM 00-59, SS 00-59; an offset ``+HH:MM``/``-HH:MM`` with HH 00-23, MM 00-59).
      Without time keys or a window the timestamp is never read.
    Validity does not depend on the filters' values: a line is bad or good before ``levels``,
    ``event_id_glob`` and the window are applied.

Values
    - A JSON object with a key twice keeps the last value (json.loads does), for ``level``,
      ``event_id``, ``timestamp`` and ``field:NAME`` alike; escaped keys are unescaped first
      (``"lev\\u0065l"`` is ``level``).
    - Strings are unescaped exactly (``"a\\u0062"`` is ``"ab"``); then every lone surrogate (an escaped
      ``\\ud800`` without its pair) becomes U+FFFD, as the logger writes one, so every key is valid
      Unicode. A pair of escaped surrogates is the one code point it encodes.
    - An event id keeps its JSON type: ``7`` and ``"7"`` are two groups.

Keys (``by``)
    - ``by`` is a sequence of keys or one comma-separated str (a field name with a comma needs the
      sequence); at least one key, none twice.
    - ``level``, ``event_id``: as above. ``source``: the source's name as given.
    - ``minute``, ``hour``, ``day``: the line's timestamp in UTC as ``2026-11-28T16:03Z``,
      ``2026-11-28T16Z``, ``2026-11-28``.
    - ``field:NAME``: the top-level field NAME's value: a string or an integer as itself; a missing
      field and ``null`` both ``None``; ``true``/``false``, other numbers, arrays and objects as their
      compact JSON text with json.dumps (``ensure_ascii=False``, keys in their order, floats as Python's
      shortest repr: ``1.50`` -> ``"1.5"``, ``1e400`` -> ``"Infinity"``). They become text because a
      dict would merge ``true`` with ``1`` and ``1.0`` with ``1``.
    - In a group key, values are None, int or str only.

Filters
    - ``levels``: names compared ignoring ASCII case, ``WARN`` read as ``WARNING`` and ``FATAL`` as
      ``CRITICAL`` (as log() reads them), on both sides (a line's ``"warn"`` passes ``WARNING``); the
      group key keeps the level as the line writes it (``ERROR`` and ``Error`` are two groups).
    - ``event_id_glob``: fnmatch.fnmatchcase (case-sensitive, ``*``, ``?``, ``[seq]``, ``[!seq]``) on
      the id's text: a string as it is, an integer in decimal.
    - ``since`` inclusive, ``until`` exclusive; compared exactly (fractions beyond microseconds too).

Totals
    - ``total`` is the sum of the groups (lines that passed the filters); ``files`` the number of
      sources (empty ones too); ``bytes`` the bytes before each source's first NUL.

Output (sorted_groups, as_json)
    - Groups by count descending, then by their key values in order: None first, then ints by value,
      then strings by code point (UTF-8 byte order). ``--format json`` is json.dumps' default
      separators, non-ASCII as UTF-8, a group's keys named as in ``by`` (``field:NAME`` whole).
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import re
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

MAX_NESTING = 512  # arrays and objects, the top-level object included; the logger writes at most 65
PLAIN_KEYS = ("level", "event_id", "minute", "hour", "day", "source")
TIME_KEYS = ("minute", "hour", "day")
LEVEL_ALIASES = {"WARN": "WARNING", "FATAL": "CRITICAL"}
JSON_WHITESPACE = b" \t\r"

KeyValue = Union[None, int, str]
GroupKey = Tuple[KeyValue, ...]
TimeArgument = Union[str, datetime, None]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# RFC 3339 section 5.6; T, Z may be lower case, and a space may separate date and time (its section 5.6 note).
# re.ASCII: a str pattern's \d also matches other scripts' digits, which int() would read.
_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:([Zz])|([+-])(\d\d):(\d\d))\Z", re.ASCII)
_UTC_SHORT = re.compile(r"(\d{4})-(\d\d)-(\d\d)(?:T(\d\d):(\d\d)(?::(\d\d))?)?\Z", re.ASCII)
_SURROGATE = re.compile("[\ud800-\udfff]")
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


@dataclass
class Result:
    """What a count answers: the same fields as the object fastevlog.count() returns."""

    total: int = 0
    groups: Dict[GroupKey, int] = field(default_factory=dict)
    bad_lines: int = 0
    bytes: int = 0
    files: int = 0


class BadLine(Exception):
    """The line is counted in bad_lines; the message says why (for the tests' failure output)."""


def _replace_surrogates(text: str) -> str:
    return _SURROGATE.sub("\ufffd", text)


def _reject_constant(name: str) -> Any:
    raise BadLine(f"{name} is not JSON")


def _exact_int(digits: str) -> int:
    # int() refuses more than 4,300 digits on 3.11+ (and patched 3.9/3.10); JSON has no such limit.
    sign = -1 if digits.startswith("-") else 1
    digits = digits.lstrip("-")
    value = 0
    for start in range(0, len(digits), 1000):
        chunk = digits[start:start + 1000]
        value = value * 10 ** len(chunk) + int(chunk)
    return sign * value


@contextlib.contextmanager
def unlimited_int_digits() -> Iterator[None]:
    """str(int) and json.dumps of ints of any length (3.11+ and patched 3.9/3.10 stop at 4,300 digits)."""
    limit = getattr(sys, "get_int_max_str_digits", lambda: None)()
    if limit is None:
        yield
        return
    sys.set_int_max_str_digits(0)
    try:
        yield
    finally:
        sys.set_int_max_str_digits(limit)


def nesting_depth(line: bytes) -> int:
    """The deepest nesting of arrays and objects in a line (the strings' brackets do not count)."""
    depth = deepest = 0
    for byte in _JSON_STRING.sub(b"", line):
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        elif byte in b"]}":
            depth -= 1
    return deepest


def parse_object(line: bytes) -> dict:
    """The JSON object a line holds, or BadLine."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadLine(f"not UTF-8: {error}") from None
    if line.count(b"[") + line.count(b"{") > MAX_NESTING and nesting_depth(line) > MAX_NESTING:
        raise BadLine(f"nested deeper than {MAX_NESTING}")
    old_limit = sys.getrecursionlimit()
    # The C scanner recurses once a level; 3.9-3.11 count that against the recursion limit.
    sys.setrecursionlimit(max(old_limit, 3 * MAX_NESTING + 1000))
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_int=_exact_int)
    except ValueError as error:
        raise BadLine(f"not JSON: {error}") from None
    finally:
        sys.setrecursionlimit(old_limit)
    if not isinstance(value, dict):
        raise BadLine(f"not an object: {type(value).__name__}")
    return value


def parse_line_time(value: Any) -> Fraction:
    """A line's ``timestamp`` as exact seconds since the epoch (UTC), or BadLine.

    RFC 3339 date-time: ``YYYY-MM-DDTHH:MM:SS[.digits](Z|+HH:MM|-HH:MM)``, ``t``/``z`` in either case, a
    space allowed for ``T``; any number of fraction digits, kept exactly. A leap second (``:60``), a date
    that does not exist, or one outside years 1..9999 in UTC is bad; so is an offset's hour past 23 or
    minute past 59 (``+05:75``: RFC 3339's time-numoffset, which timedelta alone would read as 6:15).
    """
    if not isinstance(value, str):
        raise BadLine(f"timestamp is not a string: {value!r}")
    match = _RFC3339.match(value)
    if match is None:
        raise BadLine(f"timestamp is not RFC 3339: {value!r}")
    year, month, day, hour, minute, second = (int(part) for part in match.group(1, 2, 3, 4, 5, 6))
    fraction_digits = match.group(7) or ""
    offset = timedelta(0)
    if match.group(9):
        if int(match.group(10)) > 23 or int(match.group(11)) > 59:
            raise BadLine(f"timestamp {value!r}: the offset is not HH:MM with HH 00-23, MM 00-59")
        offset = timedelta(hours=int(match.group(10)), minutes=int(match.group(11)))
        if match.group(9) == "-":
            offset = -offset
    try:
        local = datetime(year, month, day, hour, minute, second, tzinfo=timezone(offset))
        utc = local.astimezone(timezone.utc)
    except (ValueError, OverflowError) as error:
        raise BadLine(f"timestamp {value!r}: {error}") from None
    fraction = Fraction(int(fraction_digits), 10 ** len(fraction_digits)) if fraction_digits else Fraction(0)
    return _seconds_since_epoch(utc) + fraction


def _seconds_since_epoch(moment: datetime) -> int:
    delta = moment - _EPOCH
    return delta.days * 86400 + delta.seconds


def parse_window_time(name: str, value: TimeArgument) -> Optional[Fraction]:
    """``since``/``until`` as exact seconds since the epoch: RFC 3339 with its offset, or
    ``YYYY-MM-DD[THH:MM[:SS]]`` as UTC, or an aware datetime; ValueError naming the parameter otherwise."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{name}: a naive datetime ({value}); give one with a tzinfo, e.g. timezone.utc")
        return _seconds_since_epoch(value.astimezone(timezone.utc)) + Fraction(value.microsecond, 10 ** 6)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str or datetime, not {type(value).__name__}")
    short = _UTC_SHORT.match(value)
    try:
        if short is not None:
            year, month, day, hour, minute, second = (int(part) if part else 0 for part in short.groups())
            return Fraction(_seconds_since_epoch(datetime(year, month, day, hour, minute, second,
                                                          tzinfo=timezone.utc)))
        return parse_line_time(value)
    except (BadLine, ValueError):
        raise ValueError(
            f"{name}={value!r}: expected RFC 3339 with an offset (2026-11-28T16:03:05Z, "
            f"2026-11-28T17:03:05+01:00) or YYYY-MM-DD[THH:MM[:SS]] taken as UTC") from None


def event_id_of(obj: dict) -> Union[int, str]:
    if "event_id" not in obj:
        raise BadLine("no event_id")
    event_id = obj["event_id"]
    if isinstance(event_id, str):
        return _replace_surrogates(event_id)
    if isinstance(event_id, int) and not isinstance(event_id, bool):
        return event_id
    raise BadLine(f"event_id is neither a string nor an integer: {event_id!r}")


def level_of(obj: dict) -> str:
    level = obj.get("level")
    if not isinstance(level, str):
        raise BadLine(f"level is not a string: {level!r}")
    return _replace_surrogates(level)


def field_key(obj: dict, name: str) -> KeyValue:
    """The ``field:NAME`` key of a line: see the module's docstring."""
    value = obj.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        return _replace_surrogates(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    with unlimited_int_digits():  # an array of long ints
        return _replace_surrogates(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def time_key(seconds: Fraction, unit: str) -> str:
    # Not strftime: glibc's %Y writes year 1 as "1", not "0001".
    moment = _EPOCH + timedelta(seconds=int(seconds // 1))
    day = f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
    if unit == "day":
        return day
    if unit == "hour":
        return f"{day}T{moment.hour:02d}Z"
    return f"{day}T{moment.hour:02d}:{moment.minute:02d}Z"


def check_by(by: Sequence[str]) -> Tuple[str, ...]:
    """``by`` as a tuple, or ValueError naming the bad key."""
    if isinstance(by, str):
        by = tuple(by.split(","))
    by = tuple(by)
    if not by:
        raise ValueError("by: give at least one key among " + ", ".join(PLAIN_KEYS) + ", field:NAME")
    for key in by:
        if key not in PLAIN_KEYS and not (key.startswith("field:") and len(key) > len("field:")):
            raise ValueError(f"by: unknown key {key!r}; the keys are {', '.join(PLAIN_KEYS)}, field:NAME")
    if len(set(by)) != len(by):
        raise ValueError(f"by: a key is given twice in {','.join(by)}")
    return by


def normalize_level_name(name: str) -> str:
    upper = _ascii_upper(name)
    return LEVEL_ALIASES.get(upper, upper)


def _ascii_upper(text: str) -> str:
    return text.translate(_ASCII_UPPER)


def source_lines(data: bytes) -> Tuple[List[bytes], Optional[bytes], int]:
    """A source's whole lines (blank ones left out), its torn last line (None if none or blank) and the
    bytes before its first NUL."""
    gap = data.find(b"\0")
    if gap >= 0:
        data = data[:gap]
    pieces = data.split(b"\n")
    torn: Optional[bytes] = pieces.pop()  # after the last newline; b"" when the data ends with one
    lines = [piece[:-1] if piece.endswith(b"\r") else piece for piece in pieces]
    if not torn.strip(JSON_WHITESPACE):  # type: ignore[union-attr]
        torn = None
    return [line for line in lines if line.strip(JSON_WHITESPACE)], torn, len(data)


def count_reference(
    sources: Iterable[Tuple[str, bytes]],
    by: Sequence[str] = ("level", "event_id"),
    since: TimeArgument = None,
    until: TimeArgument = None,
    levels: Optional[Iterable[str]] = None,
    event_id_glob: Optional[str] = None,
) -> Result:
    """Count the lines of ``sources`` (name, decompressed bytes) by ``by``, as issue 13 defines it."""
    by = check_by(by)
    since_seconds = parse_window_time("since", since)
    until_seconds = parse_window_time("until", until)
    if since_seconds is not None and until_seconds is not None and since_seconds >= until_seconds:
        raise ValueError(f"since={since!r} is not before until={until!r}: the window is empty")
    level_names = None
    if levels is not None:
        level_names = {normalize_level_name(name) for name in levels}
        if not level_names:
            raise ValueError("levels: give at least one level name, or None for all")
    needs_time = since_seconds is not None or until_seconds is not None or any(k in TIME_KEYS for k in by)

    result = Result()
    for source_name, data in sources:
        result.files += 1
        lines, torn, covered = source_lines(data)
        result.bytes += covered
        if torn is not None:
            result.bad_lines += 1  # whatever it holds: its writer may not have finished it
        for line in lines:
            try:
                obj = parse_object(line)
                level = level_of(obj)
                event_id = event_id_of(obj)
                seconds = parse_line_time(obj.get("timestamp")) if needs_time else None
            except BadLine:
                result.bad_lines += 1
                continue
            if level_names is not None and normalize_level_name(level) not in level_names:
                continue
            if event_id_glob is not None and not _id_matches(event_id, event_id_glob):
                continue
            if since_seconds is not None and seconds < since_seconds:  # type: ignore[operator]
                continue
            if until_seconds is not None and seconds >= until_seconds:  # type: ignore[operator]
                continue
            key = tuple(_key_value(name, obj, level, event_id, seconds, source_name) for name in by)
            result.groups[key] = result.groups.get(key, 0) + 1
            result.total += 1
    return result


def _id_matches(event_id: Union[int, str], glob: str) -> bool:
    with unlimited_int_digits():
        return fnmatch.fnmatchcase(str(event_id), glob)


def _key_value(name: str, obj: dict, level: str, event_id: Union[int, str],
               seconds: Optional[Fraction], source_name: str) -> KeyValue:
    if name == "level":
        return level
    if name == "event_id":
        return event_id
    if name == "source":
        return source_name
    if name in TIME_KEYS:
        return time_key(seconds, name)  # type: ignore[arg-type]
    return field_key(obj, name[len("field:"):])


def value_order(value: KeyValue) -> Tuple[int, Any]:
    """Key values in a deterministic order: None, then ints by value, then strings by code point."""
    if value is None:
        return (0, 0)
    if isinstance(value, int):
        return (1, value)
    return (2, value)


def sorted_groups(result: Result) -> List[Tuple[GroupKey, int]]:
    """The groups in the JSON output's order: count descending, then the key values in value_order."""
    return sorted(result.groups.items(),
                  key=lambda item: (-item[1], tuple(value_order(value) for value in item[0])))


def as_json(result: Result, by: Sequence[str], top: Optional[int] = None) -> str:
    """The one JSON object ``--format json`` prints: one key per ``by`` key (as given, ``field:NAME``
    whole) and ``count`` in each group; json.dumps' default separators, non-ASCII as UTF-8 text."""
    by = check_by(by)
    groups = sorted_groups(result)
    if top is not None:
        groups = groups[:top]
    document = {
        "total": result.total,
        "groups": [dict(zip(by, key), count=count) for key, count in groups],
        "files": result.files,
        "bytes": result.bytes,
        "bad_lines": result.bad_lines,
    }
    with unlimited_int_digits():
        return json.dumps(document, ensure_ascii=False)
