"""atheris fuzz target for the counting scanner: any bytes in any blocks count as the reference says.

Lines are fastevlog's and another writer's, mutated byte by byte, or raw bytes; the keys (level, event_id,
a time unit, field:NAME) and the since/until window are drawn too. Each source is fed to a CountScanner in
blocks of fuzzed sizes (final=False, the block grown while nothing is consumed, then the rest with
final=True), each block copied into a buffer of exactly its size, and the groups, bad lines and bytes
covered must equal tests/count_reference.py's. Not part of the test run.  With the test extras installed:

    pip install atheris
    python tests/fuzz/fuzz_scanner.py -atheris_runs=200000     # or -max_total_time=600

(with the package installed, or PYTHONPATH pointing at an in-place build; under tests/sanitize.sh's
build and LD_PRELOAD, AddressSanitizer sees any read past a block).

A failure prints the input; it is also kept by libFuzzer as crash-* in the current directory.
"""

import os
import sys
from fractions import Fraction
from typing import Dict, List, Optional, Tuple

import atheris

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
# The reference's branches (which rule a line met) are the coverage that guides the fuzzer: the core
# is C that atheris does not see.
with atheris.instrument_imports():
    from count_reference import count_reference, field_key, parse_object, parse_window_time

    from fastevlog._core import TIME_DAY, TIME_HOUR, TIME_MINUTE, CountScanner

try:
    import numpy
except ImportError:  # then the blocks are bytearrays (a NUL past their end hides an overread from ASan)
    numpy = None

TEMPLATES = [
    b'{"timestamp":"2026-11-28T16:03:05.123456Z","level":"INFO","event_id":"ev\\u0062","message":"a \\"b\\" '
    b'\xc3\xa9\\n","n":[1,-2.5e3,{"k":null}],"t":true}',
    b'{"timestamp":"2026-11-28T16:03:05.123456Z","level":"ERROR","event_id":-0,"host":"w1"}',
    b' {"event_id" : 7 , "host":{"a":[]}, "level":"warn", "timestamp":"2026-11-28t17:03:05.5+01:00"}\r',
    b'{"level":"I\\u004eFO","\\u0065vent_id":"\\ud800","timestamp":"2026-11-28 23:59:59-23:59","host":1.5}',
]
SYNTAX = b'"\\{}[],:0123456789-+.eEuZzT t\x00\x1f\x7f\x80\xc3\xed\xff\r\n'
KEY_SETS = [("level", "event_id"), ("level",), ("event_id",), ("minute",), ("level", "event_id", "hour"),
            ("day", "field:host"), ("event_id", "field:level"), ("field:message",), ("field:timestamp",)]
UNITS = {"minute": TIME_MINUTE, "hour": TIME_HOUR, "day": TIME_DAY}
BOUNDS = [None, "2026-11-28T16:03:05Z", "2026-11-28T16:03:05.1234561Z", "2026-11-28T16:03:05.123456Z",
          "2026-11-28", "2026-11-28T16:03:05+01:00", "2026-11-29"]


def _mutated(data: atheris.FuzzedDataProvider, line: bytes) -> bytes:
    line = bytearray(line)
    for _ in range(data.ConsumeIntInRange(0, 4)):
        at = data.ConsumeIntInRange(0, len(line))
        if data.ConsumeBool():
            byte = SYNTAX[data.ConsumeIntInRange(0, len(SYNTAX) - 1)]
        else:
            byte = data.ConsumeIntInRange(0, 255)
        action = data.ConsumeIntInRange(0, 2)
        if action == 0:
            line[at:at] = bytes([byte])
        elif at < len(line):
            line[at:at + 1] = b"" if action == 1 else bytes([byte])
    return bytes(line)


def _source(data: atheris.FuzzedDataProvider) -> bytes:
    lines: List[bytes] = []
    for _ in range(data.ConsumeIntInRange(0, 6)):
        if data.ConsumeIntInRange(0, 4) == 0:
            lines.append(data.ConsumeBytes(data.ConsumeIntInRange(0, 60)))
        else:
            lines.append(_mutated(data, TEMPLATES[data.ConsumeIntInRange(0, len(TEMPLATES) - 1)]))
    return b"\n".join(lines) + (b"\n" if data.ConsumeBool() else b"")


def _bound(name: str, value: Optional[str]) -> Optional[Tuple[int, str]]:
    exact: Optional[Fraction] = parse_window_time(name, value)
    if exact is None:
        return None
    seconds = exact.numerator // exact.denominator
    rest, places = exact - seconds, 0
    while (rest * 10 ** places).denominator != 1:
        places += 1
    return seconds, str(int(rest * 10 ** places)).zfill(places) if places else ""


def _exact(block: bytes):
    return numpy.frombuffer(block, dtype=numpy.uint8).copy() if numpy is not None else bytearray(block)


def _scan(scanner: CountScanner, source: bytes, blocks: List[int]) -> int:
    """source fed in blocks as the Python layer feeds it; returns the bytes covered."""
    offset = covered = 0
    pending = b""
    for size in blocks:
        if offset >= len(source):
            break
        buffer = pending + source[offset:offset + size]
        offset += size
        consumed, stopped = scanner.scan(_exact(buffer), False)
        covered += consumed
        if stopped:
            assert consumed == buffer.find(b"\0"), (consumed, buffer)
            return covered
        assert consumed == buffer.rfind(b"\n") + 1, (consumed, buffer)
        pending = buffer[consumed:]
    buffer = pending + source[offset:]
    consumed, stopped = scanner.scan(_exact(buffer), True)
    nul = buffer.find(b"\0")
    assert (consumed, stopped) == ((nul, True) if nul >= 0 else (len(buffer), False)), (consumed, buffer)
    return covered + consumed


def _final(groups: Dict[tuple, int], field: Optional[str]) -> Dict[tuple, int]:
    """The Python layer's keys: a field's raw text read as json.loads reads it, equal keys merged."""
    if field is None:
        return groups
    merged: Dict[tuple, int] = {}
    for key, count in groups.items():
        value = None if key[-1] is None else field_key(parse_object(b'{"v":' + key[-1] + b"}"), "v")
        merged[key[:-1] + (value,)] = merged.get(key[:-1] + (value,), 0) + count
    return merged


def test_one_input(raw: bytes) -> None:
    data = atheris.FuzzedDataProvider(raw)
    by = KEY_SETS[data.ConsumeIntInRange(0, len(KEY_SETS) - 1)]
    since = BOUNDS[data.ConsumeIntInRange(0, len(BOUNDS) - 1)]
    until = BOUNDS[data.ConsumeIntInRange(0, len(BOUNDS) - 1)]
    if since is not None and until is not None and _bound("since", since) >= _bound("until", until):
        until = None
    blocks = [data.ConsumeIntInRange(1, 64) for _ in range(data.ConsumeIntInRange(0, 6))]
    source = _source(data)
    field = next((key[len("field:"):] for key in by if key.startswith("field:")), None)
    units = [UNITS[key] for key in by if key in UNITS]
    scanner = CountScanner(by_level="level" in by, by_event_id="event_id" in by,
                           time_unit=units[0] if units else 0,
                           field=None if field is None else field.encode(),
                           since=_bound("since", since), until=_bound("until", until))
    covered = _scan(scanner, source, blocks)
    want = count_reference([("s", source)], by=by, since=since, until=until)
    got = (_final(scanner.groups(), field), scanner.bad_lines, covered)
    assert got == (want.groups, want.bad_lines, want.bytes), (source, by, since, until, blocks, got, want)
    assert sorted(map(repr, got[0])) == sorted(map(repr, want.groups))


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
