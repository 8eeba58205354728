"""A plain-Python reference for the JSON lines fastevlog writes.

This is a separate implementation, written from the spec rather than from
the Cython serializer, so the tests can compare the two byte for byte.  It
does not use json.dumps for strings.  The timestamp is the only part it
cannot predict: reference lines hold TIMESTAMP_PLACEHOLDER there, and
normalize_timestamp() puts the same placeholder into a real line.
"""

import collections.abc
import datetime
import decimal
import enum
import math
import operator
import re
import struct
import sys
import uuid
from collections import Counter
from typing import Any, Dict, Iterable, List, Optional, Tuple

LEVEL_NAMES = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LEVEL_INTS = {10: "DEBUG", 20: "INFO", 30: "WARNING", 40: "ERROR", 50: "CRITICAL"}

TIMESTAMP_RE = re.compile(rb'"timestamp":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)"')
TIMESTAMP_PLACEHOLDER = b"0000-00-00T00:00:00.000000Z"  # 27 bytes, same shape as a real one

_SHORT_ESCAPES = {
    0x22: "\\\"",
    0x5C: "\\\\",
    0x0A: "\\n",
    0x0D: "\\r",
    0x09: "\\t",
    0x08: "\\b",
    0x0C: "\\f",
}


def canonical_level(level) -> str:
    """The level name the logger writes for ``level`` (a name in any case or 10..50)."""
    if isinstance(level, str) and level.upper() in LEVEL_NAMES:
        return level.upper()
    if isinstance(level, int) and not isinstance(level, bool) and level in LEVEL_INTS:
        return LEVEL_INTS[level]
    raise ValueError(f"not a level: {level!r}")


def plain_str(s: str) -> str:
    """The base str value of a str or str subclass (ignores overridden __str__)."""
    return str.__str__(s)


def replace_surrogates(s: str) -> str:
    """Every code point in U+D800..U+DFFF (paired or not) replaced by U+FFFD."""
    return "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in s)


def escape_char(ch: str) -> bytes:
    """The bytes one code point takes inside a JSON string."""
    cp = ord(ch)
    if cp in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[cp].encode("ascii")
    if cp < 0x20:
        return f"\\u{cp:04x}".encode("ascii")
    if cp == 0x2028:
        return b"\\u2028"
    if cp == 0x2029:
        return b"\\u2029"
    if 0xD800 <= cp <= 0xDFFF:
        return "\ufffd".encode("utf-8")
    return ch.encode("utf-8")


def json_string(s: str) -> bytes:
    """s (a str or subclass) as a quoted JSON string."""
    return b'"' + b"".join(escape_char(ch) for ch in plain_str(s)) + b'"'


MAX_NESTING = 64  # containers (an Enum or numpy array counts as one) in containers


def json_form(value: Any) -> Any:
    """A value of a type the core writes as JSON but not as itself, as one it writes as itself
    (str, int, float, bool, None) or a container (list, tuple, dict), or a Decimal's JSON text."""
    numpy = sys.modules.get("numpy")
    if isinstance(value, enum.Enum):
        return value.value
    if numpy is not None and isinstance(value, numpy.ndarray):
        return value.tolist()
    if isinstance(value, (dict, list, tuple)):
        return value
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        # The base class's own (a subclass may override it); a datetime's first, as it is a date.
        for kind in (datetime.datetime, datetime.date, datetime.time):
            if isinstance(value, kind):
                return kind.isoformat(value)
    if isinstance(value, uuid.UUID):
        return uuid.UUID.__str__(value)
    if isinstance(value, decimal.Decimal):
        return JsonText(decimal.Decimal.__str__(value) if decimal.Decimal.is_finite(value) else "null")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="replace")
    if numpy is not None and isinstance(value, numpy.bool_):
        return bool(value)
    if numpy is not None and isinstance(value, numpy.integer):
        return int(value)
    if numpy is not None and isinstance(value, numpy.floating):
        return float(value)
    if isinstance(value, collections.abc.Mapping):
        return value
    return str(value)


class JsonText(str):
    """Text written as it is (a Decimal's digits)."""


def json_value(value: Any, outer: Tuple[Any, ...] = ()) -> bytes:
    """A field value as the logger writes it; outer: the containers it is in (for the errors)."""
    if value is None:
        return b"null"
    if value is True:
        return b"true"
    if value is False:
        return b"false"
    if isinstance(value, str):
        return json_string(value)
    if isinstance(value, int):
        return int.__repr__(value).encode("ascii")
    if isinstance(value, float):
        if not math.isfinite(value):
            return b"null"
        return float.__repr__(value).encode("ascii")
    form = json_form(value)
    if isinstance(form, JsonText):
        return form.encode("ascii")
    if is_container(value):
        return json_container(value, form, outer)
    return json_value(form, outer)


def is_container(value: Any) -> bool:
    """Whether value counts as a level of nesting: a list, tuple, dict, Mapping, Enum or numpy array."""
    numpy = sys.modules.get("numpy")
    return (isinstance(value, (enum.Enum, dict, list, tuple, collections.abc.Mapping))
            or (numpy is not None and isinstance(value, numpy.ndarray)))


def json_container(value: Any, form: Any, outer: Tuple[Any, ...]) -> bytes:
    if len(outer) == MAX_NESTING:
        raise ValueError("a cycle" if any(o is value for o in outer) else "nested too deep")
    inner = outer + (value,)
    if isinstance(value, enum.Enum) or not isinstance(form, (dict, list, tuple, collections.abc.Mapping)):
        return json_value(form, inner)  # an Enum's value, a numpy array's tolist()
    if isinstance(form, (list, tuple)):
        return b"[" + b",".join(json_value(item, inner) for item in form) + b"]"
    return b"{" + b",".join(json_string(key if isinstance(key, str) else str(key)) + b":"
                            + json_value(item, inner) for key, item in form.items()) + b"}"


def exact_event_id(event_id: Any) -> Any:
    """event_id as the str or int log() takes it for: an integer such as np.int64 (one with
    __index__) counts as its int; a bool (numpy's too) is no id."""
    numpy = sys.modules.get("numpy")
    if isinstance(event_id, str):
        return str.__str__(event_id)
    if (isinstance(event_id, bool) or not hasattr(type(event_id), "__index__")
            or (numpy is not None and isinstance(event_id, numpy.bool_))):
        raise TypeError(f"event_id must be str or int, not {type(event_id).__name__}")
    return operator.index(event_id)


def json_event_id(event_id: Any) -> bytes:
    return json_value(exact_event_id(event_id))


def reference_line(level_name: str, event_id: Any, message: Any, fields: Dict[str, Any]) -> bytes:
    """The line the logger should write, with TIMESTAMP_PLACEHOLDER as the timestamp."""
    if level_name not in LEVEL_NAMES:
        raise ValueError(f"not a canonical level name: {level_name!r}")
    if "timestamp" in fields:
        raise ValueError("timestamp cannot be a field")
    parts = [
        b'{"timestamp":"' + TIMESTAMP_PLACEHOLDER + b'"',
        b'"level":' + json_string(level_name),
        b'"event_id":' + json_event_id(event_id),
    ]
    if message is not None:
        parts.append(b'"message":' + json_string(message if isinstance(message, str) else str(message)))
    for key, value in fields.items():
        parts.append(json_string(key) + b":" + json_value(value))
    return b",".join(parts) + b"}\n"


def normalize_timestamp(line: bytes) -> bytes:
    """line with its timestamp value replaced by TIMESTAMP_PLACEHOLDER.

    Fails unless the line starts with a timestamp of the exact RFC 3339 shape.
    """
    match = TIMESTAMP_RE.match(line, 1)
    assert line.startswith(b"{") and match is not None, f"no well-formed timestamp first in {line[:80]!r}"
    return line[: match.start(1)] + TIMESTAMP_PLACEHOLDER + line[match.end(1):]


def timestamp_of(line: bytes) -> str:
    """The timestamp value of a line (asserting its shape)."""
    match = TIMESTAMP_RE.match(line, 1)
    assert match is not None, f"no well-formed timestamp in {line[:80]!r}"
    return match.group(1).decode("ascii")


def same_line(actual: bytes, reference: bytes) -> bool:
    """Whether actual equals reference but for the (well-formed) timestamp value."""
    return normalize_timestamp(actual) == reference


def assert_same_line(actual: bytes, reference: bytes) -> None:
    normalized = normalize_timestamp(actual)
    if normalized != reference:
        # Point at the first difference; whole lines may be megabytes.
        i = next((k for k, (a, b) in enumerate(zip(normalized, reference)) if a != b),
                 min(len(normalized), len(reference)))
        raise AssertionError(
            f"line differs from the reference at byte {i} (lengths {len(normalized)} vs {len(reference)}):\n"
            f"  actual:    {normalized[max(0, i - 40):i + 40]!r}\n"
            f"  reference: {reference[max(0, i - 40):i + 40]!r}")


def expected_value(value: Any, pairs: bool = False) -> Any:
    """What json.loads should give for a written field value; pairs: with object_pairs_hook=list."""
    if value is None or value is True or value is False:
        return value
    if isinstance(value, str):
        return replace_surrogates(plain_str(value))
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    form = json_form(value)
    if isinstance(form, JsonText):  # a Decimal: json.loads reads a number with a point or exponent as float
        return None if form == "null" else float(form) if set(form) & set(".eE") else int(form)
    if isinstance(form, (list, tuple)):
        return [expected_value(item, pairs) for item in form]
    if isinstance(form, (dict, collections.abc.Mapping)):
        items = [(expected_value(key if isinstance(key, str) else str(key)), expected_value(item, pairs))
                 for key, item in form.items()]
        return items if pairs else dict(items)
    return expected_value(form, pairs)


def expected_object(level_name: str, event_id: Any, message: Any, fields: Dict[str, Any],
                    timestamp: Optional[str] = None) -> Dict[str, Any]:
    """What json.loads should give for the whole line (timestamp as given)."""
    obj: Dict[str, Any] = {"timestamp": timestamp, "level": level_name, "event_id": expected_value(event_id)}
    if message is not None:
        obj["message"] = expected_value(message if isinstance(message, str) else str(message))
    for key, value in fields.items():
        obj[replace_surrogates(plain_str(key))] = expected_value(value)
    return obj


# -- log_many() ---------------------------------------------------------------------


def level_rank(level) -> int:
    """0 (DEBUG) .. 4 (CRITICAL) for any form of a level; a row passes a logger's level unless lower."""
    return LEVEL_NAMES.index(canonical_level(level))


def counted_event_id(event_id: Any) -> Any:
    """The key counts()["event_ids"] has for event_id: a str or int subclass counts as its base value."""
    return exact_event_id(event_id)


def reference_counts(events: Iterable[Tuple[Any, Any, int]]) -> Dict[str, Dict[Any, int]]:
    """counts() of a new logger after it logged (level, event_id, times): events that passed its level."""
    levels: Counter = Counter()
    event_ids: Counter = Counter()
    for level, event_id, times in events:
        levels[canonical_level(level)] += times
        event_ids[counted_event_id(event_id)] += times
    return {"levels": dict(levels), "event_ids": dict(event_ids)}


def buffer_values(array: Any) -> List[Any]:
    """The items of a 1-D buffer-protocol array (numpy, array.array) as the Python values they stand for.

    Decoded here with struct from the raw bytes and the buffer's own format,
    byte order included, rather than with memoryview.tolist() (native formats
    only) or numpy: these are what log() is given for the same event.
    """
    view = memoryview(array)
    assert view.ndim == 1, f"{view.ndim}-D buffer"
    order = view.format[0] if view.format[0] in "@=<>!" else "@"
    code = view.format.lstrip("@=<>!")
    assert struct.calcsize(order + code) == view.itemsize, f"format {view.format!r}, itemsize {view.itemsize}"
    return [item for (item,) in struct.iter_unpack(order + code, view.tobytes())]
