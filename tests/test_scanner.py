"""The counting scanner (src/scanner.pxi, fastevlog._core.CountScanner), diffed against count_reference.

tests/count_reference.py is the spec: every input here is counted by both, the scanner fed the way the
Python layer feeds it (blocks with final=False, the block grown while nothing is consumed, then the rest
with final=True), in every block size from 1 byte up, and in buffers of exactly the data's size.
"""

from __future__ import annotations

import json
import random
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import pytest
from count_corpus import (
    damaged_sources,
    fastevlog_shaped_line,
    fastevlog_sources,
    hostile_events,
    other_writer_sources,
    simulate_sources,
    sources,
)
from count_reference import (
    MAX_NESTING,
    KeyValue,
    TimeArgument,
    count_reference,
    field_key,
    parse_object,
    parse_window_time,
    unlimited_int_digits,
)
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import fastevlog
from fastevlog._core import TIME_DAY, TIME_HOUR, TIME_MINUTE, CountScanner

try:
    import numpy
except ImportError:  # the test extra has it; without it the exact buffers are bytearrays
    numpy = None  # type: ignore[assignment]

Groups = Dict[tuple, int]
Counted = Tuple[Groups, int, int]  # groups, bad lines, bytes before the first NUL

# The scanner's key parts, in the order its tuples hold them.
SCANNER_ORDER = ("level", "event_id", "minute", "hour", "day")
TIME_UNITS = {"minute": TIME_MINUTE, "hour": TIME_HOUR, "day": TIME_DAY}
BUFFER_KINDS = ("bytes", "exact", "bytearray", "memoryview")
LOG_GLOB = "async_buffered_logs_*.log"


def exact_buffer(data: bytes) -> Any:
    """data in an allocation of exactly its size: bytes and bytearrays keep a NUL after their end,
    which would hide a read past it from AddressSanitizer (tests/sanitize.sh)."""
    if numpy is None:
        return bytearray(data)
    return numpy.frombuffer(data, dtype=numpy.uint8).copy()


def as_buffer(data: bytes, kind: str) -> Any:
    if kind == "exact":
        return exact_buffer(data)
    if kind == "bytearray":
        return bytearray(data)
    if kind == "memoryview":  # a slice inside a larger buffer, bytes of other lines around it
        return memoryview(b'x"\n' + data + b'}\n{')[3:3 + len(data)]
    return data


def window_bound(name: str, value: TimeArgument) -> Optional[Tuple[int, str]]:
    """since/until as the scanner takes them: (whole seconds since the epoch, fraction digits)."""
    exact = parse_window_time(name, value)
    if exact is None:
        return None
    seconds = exact.numerator // exact.denominator
    rest = exact - seconds
    places = 0
    while (rest * 10 ** places).denominator != 1:
        places += 1
    return seconds, str(int(rest * 10 ** places)).zfill(places) if places else ""


def field_name(by: Sequence[str]) -> Optional[str]:
    return next((key[len("field:"):] for key in by if key.startswith("field:")), None)


def scanner_for(by: Sequence[str], since: TimeArgument = None, until: TimeArgument = None) -> CountScanner:
    units = [TIME_UNITS[key] for key in by if key in TIME_UNITS]
    name = field_name(by)
    return CountScanner(by_level="level" in by, by_event_id="event_id" in by,
                        time_unit=units[0] if units else 0,
                        field=None if name is None else name.encode("utf-8"),
                        since=window_bound("since", since), until=window_bound("until", until))


def final_field_key(raw: Optional[bytes]) -> KeyValue:
    """The Python layer's key of a field's raw JSON text (api13): json.loads, then the reference's rule."""
    if raw is None:
        return None
    return field_key(parse_object(b'{"v":' + raw + b"}"), "v")


def final_groups(groups: Groups, by: Sequence[str]) -> Groups:
    """The scanner's groups with the field's raw text made its key, groups of equal keys merged."""
    if field_name(by) is None:
        return groups
    merged: Groups = {}
    for key, count in groups.items():
        final = key[:-1] + (final_field_key(key[-1]),)
        merged[final] = merged.get(final, 0) + count
    return merged


def scan_source(scanner: CountScanner, data: bytes, block: Optional[int], kinds: Sequence[str]) -> int:
    """Feed data to scanner as the Python layer does; returns the bytes it covered (before a NUL).

    block None: all of it in one final scan.  Otherwise reads of block bytes, the read doubled while a
    scan consumes nothing (a line longer than the block), the buffer kind taken in turn from kinds.
    """
    if block is None:
        consumed, stopped = scanner.scan(as_buffer(data, kinds[0]), True)
        nul = data.find(b"\0")
        assert (consumed, stopped) == ((nul, True) if nul >= 0 else (len(data), False))
        return consumed
    offset = covered = calls = 0
    pending = b""
    want = block
    while offset < len(data):
        chunk = data[offset:offset + want]
        offset += len(chunk)
        buffer = pending + chunk
        consumed, stopped = scanner.scan(as_buffer(buffer, kinds[calls % len(kinds)]), False)
        calls += 1
        covered += consumed
        nul = buffer.find(b"\0")
        if stopped:
            assert consumed == nul >= 0
            return covered
        assert nul < 0 and consumed == buffer.rfind(b"\n") + 1
        pending = buffer[consumed:]
        want = block if consumed else want * 2
    consumed, stopped = scanner.scan(as_buffer(pending, kinds[calls % len(kinds)]), True)
    nul = pending.find(b"\0")
    assert (consumed, stopped) == ((nul, True) if nul >= 0 else (len(pending), False))
    return covered + consumed


def scanned(data: bytes, by: Sequence[str] = ("level", "event_id"), block: Optional[int] = None,
            kinds: Sequence[str] = ("bytes",), **window: TimeArgument) -> Counted:
    scanner = scanner_for(by, **window)
    covered = scan_source(scanner, data, block, kinds)
    return final_groups(scanner.groups(), by), scanner.bad_lines, covered


def expected(data: bytes, by: Sequence[str] = ("level", "event_id"), **window: TimeArgument) -> Counted:
    by = [key for key in SCANNER_ORDER if key in by] + [key for key in by if key.startswith("field:")]
    # The reference wants a key; with none, the scanner's one group is the count of every line.
    result = count_reference([("s", data)], by=by or ["level"], **window)
    groups = result.groups if by else ({(): result.total} if result.total else {})
    return groups, result.bad_lines, result.bytes


def assert_types_equal(got: Groups, want: Groups) -> None:
    # 1 == True and 0 == -0: equal dicts can still differ in their keys' types.
    with unlimited_int_digits():
        assert sorted(map(repr, got)) == sorted(map(repr, want))


def assert_counts(data: bytes, by: Sequence[str] = ("level", "event_id"),
                  blocks: Sequence[Optional[int]] = (None, 1, 2, 3, 7, 64, 4096),
                  kinds: Sequence[str] = BUFFER_KINDS, **window: TimeArgument) -> Counted:
    """The scanner says what the reference says about data, in one scan, in each block size, and in
    each kind of buffer."""
    want = expected(data, by, **window)
    for block in blocks:
        for kind in kinds:
            got = scanned(data, by, block, (kind,) if block is None else kinds, **window)
            assert got == want, (block, kind)
            assert_types_equal(got[0], want[0])
            if block is not None:
                break  # the kinds take turns within the blocks
    return want


def lines_of(*lines: bytes) -> bytes:
    return b"".join(line + b"\n" for line in lines)


HOSTILE_TEXT = ["".join(map(chr, range(0x20))), '"\\/', "\u2028\u2029", "caf\u00e9 \u4e2d \U0001f600",
                "\ud800 lone", "x\udfff", "\x7f\ufeff", "a" * 300, ""]
HOSTILE_IDS: list = HOSTILE_TEXT + [0, -1, 7, 2**63, -(2**63), 2**70, -(2**80), "0", "-0", "1.5"]


class TestCorpus:
    def test_hostile_output_of_a_real_logger(self, tmp_path: Path) -> None:
        """Every escape, U+2028, lone surrogates, 1 MiB ids and messages, int ids, as written."""
        data = b"".join(source for _, source in fastevlog_sources(tmp_path, hostile_events()))
        groups, bad, _ = assert_counts(data, blocks=(None, 4096, 1 << 16))
        assert bad == 0 and sum(groups.values()) == len(hostile_events())
        for by in (("level",), ("event_id",)):
            assert_counts(data, by, blocks=(None, 1 << 16), kinds=("exact",))

    def test_logged_ids_and_messages(self, tmp_path: Path) -> None:
        """A real logger's lines of every hostile id with every hostile message and nested fields."""
        with fastevlog.EventLogCounter(directory=str(tmp_path)) as events:
            for i, event_id in enumerate(HOSTILE_IDS):
                for message in HOSTILE_TEXT + [None]:
                    events.log("ERROR" if i % 2 else "INFO", event_id, message, n=i, text=message,
                               nested={"k\n": [message, i, 1.5, None, True]})
        data = b"".join(path.read_bytes() for path in sorted(tmp_path.glob(LOG_GLOB)))
        groups, bad, _ = assert_counts(data)
        assert bad == 0 and groups[("INFO", "\ufffd lone")] == len(HOSTILE_TEXT) + 1

    def test_simulate_output(self, tmp_path: Path) -> None:
        for _, data in simulate_sources(tmp_path, 2000)[:2]:
            groups, bad, _ = assert_counts(data, blocks=(None, 1, 100, 4096))
            assert bad == 0 and groups

    def test_other_writers(self) -> None:
        for _, data in other_writer_sources(random.Random(1)):
            assert_counts(data)

    def test_damaged_sources(self, tmp_path: Path) -> None:
        """Torn, CRLF, NUL-gapped (at 0 and inside), random and empty sources."""
        clean = [("simulate", simulate_sources(tmp_path, 300)[0][1]),
                 ("other", other_writer_sources(random.Random(2), count=50)[0][1])]
        for name, data in damaged_sources(clean, random.Random(3)):
            assert_counts(data, blocks=(None, 1, 5, 300)), name

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(sources(), st.integers(1, 80), st.sampled_from([("level", "event_id"), ("level",), ("event_id",)]))
    def test_generated_sources(self, source: Tuple[str, bytes], block: int, by: Tuple[str, ...]) -> None:
        assert_counts(source[1], by, blocks=(None, block))


class TestLines:
    @pytest.mark.parametrize("line, key", [
        (rb'{"level":"INFO","event_id":"a\u0062"}', ("INFO", "ab")),
        (rb'{"level":"I\u004eFO","event_id":"ab"}', ("INFO", "ab")),
        (rb'{"lev\u0065l":"INFO","\u0065vent_id":"ab"}', ("INFO", "ab")),
        (rb'{"level":"INFO","event_id":"\ud83d\ude00"}', ("INFO", "\U0001f600")),
        (rb'{"level":"INFO","event_id":"\ud800"}', ("INFO", "\ufffd")),
        (rb'{"level":"INFO","event_id":"\ud800\u0041"}', ("INFO", "\ufffdA")),
        (rb'{"level":"INFO","event_id":"\udc00\ud800"}', ("INFO", "\ufffd\ufffd")),
        (rb'{"level":"INFO","event_id":"\ud83d\ud83d\ude00"}', ("INFO", "\ufffd\U0001f600")),
        (rb'{"level":"INFO","event_id":"\n\t\"\\\/\b\f\r\u0000"}', ("INFO", "\n\t\"\\/\b\f\r\0")),
        (rb'{"level":"INFO","event_id":-0}', ("INFO", 0)),
        (rb'{"level":"INFO","event_id":1,"event_id":"x"}', ("INFO", "x")),
        (rb'{"level":1,"event_id":1,"level":"L"}', ("L", 1)),
        (rb'{"level":"","event_id":""}', ("", "")),
        (b'{"level":"INFO","event_id":"\xf0\x9f\x98\x80"}', ("INFO", "\U0001f600")),
        (rb'{"\ud800":1,"level":"INFO","event_id":"x"}', ("INFO", "x")),
        (rb'{"timestamp":"2026-11-28T16:03:05.123456Z","level":"INFO","event_id":"a","level":"E"}',
         ("E", "a")),
        (rb'{"timestamp":"2026-11-28T16:03:05.123456Z","level":"INFO","event_id":"a","event_id":[]}',
         None),
    ])
    def test_escapes_and_duplicates(self, line: bytes, key: Optional[tuple]) -> None:
        """Escaped ids and keys are unescaped exactly, lone surrogates as U+FFFD; the last duplicate wins."""
        groups, bad, _ = assert_counts(lines_of(line, line))
        assert (groups, bad) == (({key: 2}, 0) if key else ({}, 2))

    def test_spellings_of_a_group_merge(self) -> None:
        """"ab" and "a\\u0062"; -0 and 0; U+FFFD and a lone surrogate: one group each."""
        data = lines_of(rb'{"level":"INFO","event_id":"a\u0062"}', rb'{"level":"INFO","event_id":"ab"}',
                        rb'{"level":"INFO","event_id":-0}', rb'{"level":"INFO","event_id":0}',
                        rb'{"level":"INFO","event_id":"\udfff"}',
                        '{"level":"INFO","event_id":"\ufffd"}'.encode())
        assert assert_counts(data)[0] == {("INFO", "ab"): 2, ("INFO", 0): 2, ("INFO", "\ufffd"): 2}

    @pytest.mark.parametrize("line", [
        b"{}", b"[]", b'"x"', b"1", b'{"level":"INFO"}', b'{"event_id":"x"}',
        b'{"level":"INFO","event_id":true}', b'{"level":"INFO","event_id":1.0}',
        b'{"level":"INFO","event_id":1e3}', b'{"level":"INFO","event_id":null}',
        b'{"level":"INFO","event_id":"x","level":2}', b'{"level":"INFO","event_id":"x",}',
        b'{"level":"INFO","event_id":"x"} x', b'{"level":"INFO","event_id":01}',
        b'{"level":"INFO","event_id":"\xff"}', b'{"level":"INFO","event_id":"\xed\xa0\x80"}',
        b'{"level":"INFO","event_id":"\xc0\x80"}', b'{"level":"INFO","event_id":"\xf4\x90\x80\x80"}',
        b'{"level":"INFO","event_id":"\xe0\x80\x80"}', b'{"level":"INFO","event_id":"\xf0\x80\x80\x80"}',
        b'{"level":"INFO","event_id":"\xe2\x82"}', b'{"level":"INFO","event_id":"\xf8\x88\x80\x80\x80"}',
        b'{"level":"INFO","event_id":"\x01"}', b'{"level":"INFO","event_id":"\\u12"}',
        b'{"level":"INFO","event_id":"\\x"}', b'\xef\xbb\xbf{"level":"INFO","event_id":"x"}',
        b'{"level":"INFO","event_id":"x","a":[1,2}', b'{"level":"INFO","event_id":"x","a":{"b"}}',
        b'{"level":"INFO","event_id":"x","a":[1}}', b'{"level":"INFO","event_id":"x","a":{"b":1]}',
        b'{"level":"INFO","event_id":"x","a":-}', b'{"level":"INFO","event_id":"x","a":tru}',
        b'{"level":"INFO","event_id":-Infinity}', b'{"level":"INFO","event_id":"x","a":NaN}',
        b'{"level":"INFO","event_id":"x","a":Infinity}', b'{"level":"INFO","event_id":"x","a":[-Infinity]}',
        b'{"level":"INFO","event_id":"x"}\x0b', b'\x0c{"level":"INFO","event_id":"x"}',
    ])
    def test_bad_lines(self, line: bytes) -> None:
        """Lines that are not an object with a str level and a str or int event_id, or not JSON."""
        assert assert_counts(lines_of(line)) == ({}, 1, len(line) + 1)

    def test_valid_values(self) -> None:
        """Numbers in every form, nesting, escapes in unread members: a good line."""
        line = (b'{"level":"INFO","event_id":"x","a":[-0.5e-3,1E+2,0,-0,{"b":{}},[],[[]],"\\u2028",true,'
                b'false,null]}')
        assert assert_counts(lines_of(line, line)) == ({("INFO", "x"): 2}, 0, 2 * len(line) + 2)

    @pytest.mark.parametrize("depth", [MAX_NESTING - 1, MAX_NESTING, MAX_NESTING + 1])
    @pytest.mark.parametrize("opener, closer, empty", [(b"[", b"]", b"[]"), (b'{"a":', b"}", b"{}")])
    def test_nesting_limit(self, depth: int, opener: bytes, closer: bytes, empty: bytes) -> None:
        """512 containers with the line's own object are good, 513 bad; an empty innermost one counts."""
        full = opener * (depth - 1) + b"1" + closer * (depth - 1)
        ending_empty = opener * (depth - 2) + empty + closer * (depth - 2)
        for nested in (full, ending_empty):
            line = b'{"level":"INFO","event_id":"x","v":' + nested + b"}"
            assert assert_counts(lines_of(line), blocks=(None, 64))[1] == (depth > MAX_NESTING)

    @pytest.mark.parametrize("digits", [19, 20, 4300, 4301, 5000, 20_000])
    def test_long_int_ids_are_exact(self, digits: int) -> None:
        """Int ids of any length are ints, exactly (int() alone refuses 4,301 digits on 3.11+)."""
        body = b"9" + b"1234567890" * (digits // 10) + b"7"
        data = lines_of(b'{"level":"INFO","event_id":' + body + b"}",
                        b'{"level":"INFO","event_id":-' + body + b"}")
        groups = assert_counts(data, blocks=(None, 4096))[0]
        with unlimited_int_digits():
            assert groups == {("INFO", int(body)): 1, ("INFO", -int(body)): 1}

    def test_one_mib_lines(self) -> None:
        """1 MiB in an id and in a message, escapes throughout, in either key order."""
        event_id = "\u2028a\\\"\n\U0001f600" * (1 << 17)
        data = (json.dumps({"level": "INFO", "event_id": event_id, "message": "m" * (1 << 20)}) + "\n"
                + json.dumps({"event_id": event_id, "level": "INFO"}, ensure_ascii=False) + "\n").encode()
        counted = assert_counts(data, blocks=(None, 1 << 16), kinds=("exact",))
        assert counted[:2] == ({("INFO", event_id): 2}, 0)


class TestLineSplitting:
    def test_blank_lines_are_nothing(self) -> None:
        """Whitespace-only lines (space, tab, CR) are neither counted nor bad; other bytes are bad."""
        data = b"\n \n\t\r\n\r\n" + lines_of(b'{"level":"INFO","event_id":"a"}') + b"\x0b\n\xc2\xa0\n"
        assert assert_counts(data) == ({("INFO", "a"): 1}, 2, len(data))

    def test_crlf(self) -> None:
        data = b'{"level":"INFO","event_id":"a"}\r\n' * 3 + b'{"level":"INFO","event_id":"a"}\r'
        assert assert_counts(data) == ({("INFO", "a"): 3}, 1, len(data))

    def test_torn_last_line_is_bad_even_whole(self) -> None:
        """The piece after the last newline is bad when it holds anything but whitespace."""
        line = fastevlog_shaped_line("INFO", "a", "m")
        for cut in range(len(line)):
            assert assert_counts(line + line[:cut], blocks=(None, 1, 16))[:2] == (
                {("INFO", "a"): 1}, 1 if line[:cut].strip(b" \t\r") else 0)
        assert assert_counts(line + b" \t\r ") == ({("INFO", "a"): 1}, 0, len(line) + 4)

    def test_empty(self) -> None:
        for final in (False, True):
            scanner = scanner_for(("level",))
            assert scanner.scan(b"", final) == (0, False)
            assert (scanner.groups(), scanner.bad_lines) == ({}, 0)

    def test_no_newline_consumes_nothing(self) -> None:
        """No newline in a block that is not final: nothing consumed, so the caller grows it."""
        scanner = scanner_for(("level",))
        assert scanner.scan(b'{"level":"INFO","event_id":"' + b"a" * 1000, False) == (0, False)
        assert scanner.scan(b" \n{", False) == (2, False)
        assert (scanner.groups(), scanner.bad_lines) == ({}, 0)


class TestNulGaps:
    LINE = b'{"level":"INFO","event_id":"abc","message":"a message"}\n'

    @pytest.mark.parametrize("gap_at", [0, 1, 5, 40, len(LINE) - 1])
    def test_piece_before_the_gap_is_torn(self, gap_at: int) -> None:
        """Lines before the NUL count; its line's piece before it is one bad line; nothing after it."""
        data = self.LINE * 2 + self.LINE[:gap_at] + b"\0" * 1000 + self.LINE[gap_at + 3:] + self.LINE * 3
        counted = assert_counts(data)
        assert counted == ({("INFO", "abc"): 2}, 1 if gap_at else 0, len(self.LINE) * 2 + gap_at)

    def test_whitespace_before_the_gap(self) -> None:
        data = self.LINE + b" \t\0\0" + self.LINE
        assert assert_counts(data) == ({("INFO", "abc"): 1}, 0, len(self.LINE) + 2)

    def test_gap_at_the_start_and_end(self) -> None:
        assert assert_counts(self.LINE + b"\0" * 10) == ({("INFO", "abc"): 1}, 0, len(self.LINE))
        assert assert_counts(b"\0" + self.LINE) == ({}, 0, 0)

    def test_nul_inside_a_string(self) -> None:
        line = self.LINE.replace(b"a message", b"a \0message")
        assert assert_counts(self.LINE + line + self.LINE) == (
            {("INFO", "abc"): 1}, 1, len(self.LINE) + line.index(b"\0"))

    def test_stopped_scan_says_where(self) -> None:
        scanner = scanner_for(("level",))
        assert scanner.scan(self.LINE + b"{\0" + self.LINE, False) == (len(self.LINE) + 1, True)
        assert (scanner.groups(), scanner.bad_lines) == ({("INFO",): 1}, 1)


def timed_line(timestamp: Any, level: str = "INFO", event_id: Any = "a") -> bytes:
    return json.dumps({"timestamp": timestamp, "level": level, "event_id": event_id}).encode() + b"\n"


GOOD_TIMESTAMPS = [
    "2026-11-28T16:03:05.123456Z", "2026-11-28T17:03:59.5+01:00", "2026-11-29T00:30:00+01:00",
    "2026-11-28t23:30:00z", "2026-11-28 22:30:00-01:00", "2026-11-28T16:03:05Z",
    "2026-11-28T16:03:05.000000000000000000001Z", "2026-11-28T16:03:05.999999999999999999999Z",
    "2026-11-28T16:03:05.10Z", "2026-11-28T16:03:05.1Z", "2026-11-28T16:03:04.9999999-00:00",
    "2000-02-29T12:00:00Z", "2024-02-29T23:59:59+23:59", "2024-03-01T00:00:00-23:59",
    "1970-01-01T00:00:00Z", "1969-12-31T23:59:59.999Z", "0001-01-01T00:00:00Z", "0001-01-01T00:30:00-01:00",
    "0001-01-01T23:59:00+23:59", "9999-12-31T23:59:59.999999999Z", "9999-12-31T00:30:00+01:00",
    "1900-03-01T00:00:00+00:01", "2100-02-28T23:59:59-00:01", "0400-02-29T00:00:00Z",
]
BAD_TIMESTAMPS = [
    None, 1764345785, ["2026-11-28T16:03:05Z"], "yesterday", "2026-11-28", "2026-11-28T16:03Z",
    "2026-11-28T16:03:05", "2026-02-30T00:00:00Z", "2026-11-28T23:59:60Z", "2026-11-28T24:00:00Z",
    "2026-11-28T16:60:05Z", "2026-11-28T16:03:05+1:00", "2026-11-28T16:03:05+05:75",
    "2026-11-28T16:03:05+24:00",
    "2026-11-28T16:03:05-00:60", "0001-01-01T00:30:00+01:00", "9999-12-31T23:59:59-00:01",
    "0000-06-01T00:00:00Z", "1900-02-29T00:00:00Z", "2026-00-10T00:00:00Z", "2026-11-00T00:00:00Z",
    "2026-11-28T16:03:05.Z", "2026-11-28T16:03:05,5Z", "\uff12026-11-28T16:03:05Z",
    "2026-11-28T16:03:05.\u0661Z",
    "2026-11-28T16:03:05Zz", "2026-11-28T16:03:05+01:00 ", " 2026-11-28T16:03:05Z", "2026-11-28X16:03:05Z",
    "2026-11-28T16:03:05+0100", "2026-11-28T16:03:05.5", "-026-11-28T16:03:05Z", "2026-11-28T16:03:05\u0000Z",
    "", "2026-11-28T16:03:0",
]


WINDOW_EDGES = ["2026-11-28T16:03:05Z", "2026-11-28T16:03:05.1Z",
                "2026-11-28T16:03:05.000000000000000000001Z", "2026-11-28T16:03:05.999999999999999999999Z",
                "2026-11-28T17:03:05+01:00", "2026-11-28T16:03:06Z", "2026-11-28T16:03:04.9999999-00:00",
                "2026-11-28", "2026-11-28T16:03", "0001-01-01T00:00:00Z",
                "9999-12-31T23:59:59.9999999999Z", "1969-12-31T23:59:59.999Z",
                datetime(2026, 11, 28, 16, 3, 5, 100000, tzinfo=timezone.utc)]


class TestTimeKeys:
    @pytest.mark.parametrize("unit", ["minute", "hour", "day"])
    def test_good_and_bad_timestamps(self, unit: str) -> None:
        """Each unit of every good timestamp in UTC; every bad one a bad line; the same without a key."""
        data = b"".join(map(timed_line, GOOD_TIMESTAMPS + BAD_TIMESTAMPS))
        groups, bad, _ = assert_counts(data, (unit,), blocks=(None, 1, 50))
        assert (sum(groups.values()), bad) == (len(GOOD_TIMESTAMPS), len(BAD_TIMESTAMPS))
        assert assert_counts(data, ("level", unit, "event_id"), blocks=(None,))[1] == len(BAD_TIMESTAMPS)
        assert assert_counts(data, blocks=(None,))[1] == 0   # not read without a key or a window

    @pytest.mark.parametrize("timestamp", BAD_TIMESTAMPS[3:])
    def test_each_bad_timestamp(self, timestamp: str) -> None:
        assert assert_counts(timed_line(timestamp), ("minute",), blocks=(None,), kinds=("exact",))[1] == 1

    def test_fastevlog_lines(self, tmp_path: Path) -> None:
        """The logger's own timestamps, the fast path's prefix copy."""
        for _, data in simulate_sources(tmp_path, 2000)[:2]:
            for by in (("minute",), ("level", "event_id", "hour"), ("day",)):
                assert assert_counts(data, by, blocks=(None, 4096))[1] == 0

    def test_escaped_and_duplicate_timestamps(self) -> None:
        """A timestamp with escapes is read unescaped; the last of two timestamps is the one read."""
        data = lines_of(rb'{"timestamp":"\u0032026-11-28T16:03:05Z","level":"INFO","event_id":"a"}',
                        rb'{"timestamp":"2026-11-28T16:03:05\u005a","level":"INFO","event_id":"a"}',
                        rb'{"timestamp":"x","level":"INFO","event_id":"a",'
                        rb'"timestamp":"2026-11-28T16:03:05Z"}',
                        rb'{"timestamp":"2026-11-28T16:03:05Z","level":"INFO","event_id":"a",'
                        rb'"timestamp":null}',
                        rb'{"timestamp":"2026-11-28T16:03:05.123456Z","level":"INFO","event_id":"a","timestamp":'
                        rb'"2026-11-29T16:03:05Z"}',
                        rb'{"t\u0069mestamp":"2026-11-30T16:03:05Z","level":"INFO","event_id":"a"}')
        groups, bad, _ = assert_counts(data, ("day",))
        assert (groups, bad) == ({("2026-11-28",): 3, ("2026-11-29",): 1, ("2026-11-30",): 1}, 1)

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(sources(), st.integers(1, 80),
           st.sampled_from([("minute",), ("level", "event_id", "hour"), ("day",)]),
           st.sampled_from([None] + WINDOW_EDGES), st.sampled_from([None] + WINDOW_EDGES))
    def test_generated_sources(self, source: Tuple[str, bytes], block: int, by: Tuple[str, ...],
                               since: TimeArgument, until: TimeArgument) -> None:
        if since is not None and until is not None:
            assume(window_bound("since", since) < window_bound("until", until))  # type: ignore[operator]
        assert_counts(source[1], by, blocks=(None, block), since=since, until=until)

    def test_other_writers(self) -> None:
        for _, data in other_writer_sources(random.Random(4)):
            for unit in ("minute", "hour", "day"):
                assert_counts(data, ("level", "event_id", unit), blocks=(None, 7))


class TestWindow:
    DATA = b"".join(map(timed_line, GOOD_TIMESTAMPS + BAD_TIMESTAMPS))

    @pytest.mark.parametrize("bound", WINDOW_EDGES)
    def test_since_and_until_at_each_edge(self, bound: TimeArgument) -> None:
        """Each bound alone, on lines at, just before and just after it: since in, until out, exactly."""
        inside = assert_counts(self.DATA, ("level",), blocks=(None, 64), since=bound)[0]
        outside = assert_counts(self.DATA, ("level",), blocks=(None, 64), until=bound)[0]
        assert inside.get(("INFO",), 0) + outside.get(("INFO",), 0) == len(GOOD_TIMESTAMPS)

    def test_windows(self) -> None:
        for since in WINDOW_EDGES[::2]:
            for until in WINDOW_EDGES[1::2]:
                if window_bound("since", since) < window_bound("until", until):  # type: ignore[operator]
                    assert_counts(self.DATA, ("event_id", "minute"), blocks=(None,), since=since, until=until)

    def test_window_bad_lines(self) -> None:
        """With a window, a bad timestamp is a bad line; lines outside it are neither counted nor bad."""
        data = timed_line("2026-11-28T16:00:00Z") + timed_line("soon") + timed_line("2026-11-28T15:00:00Z")
        assert assert_counts(data, ("level",), since="2026-11-28T16:00") == ({("INFO",): 1}, 1, len(data))

    def test_fastevlog_lines(self, tmp_path: Path) -> None:
        sources = simulate_sources(tmp_path, 3000, threads=1)
        data = sources[0][1]
        first = json.loads(data.split(b"\n", 1)[0])["timestamp"]
        middle = json.loads(data.split(b"\n")[len(data.split(b"\n")) // 2])["timestamp"]
        for since, until in ((first, None), (None, middle), (first, middle), (middle, None)):
            assert_counts(data, ("level", "event_id"), blocks=(None, 999), since=since, until=until)

    @pytest.mark.parametrize("bound, error, message", [
        ("2026-11-28", TypeError, r"since must be \(seconds"),
        ((1.5, ""), TypeError, "since must be"),
        ((True, ""), TypeError, "since must be"),
        ((1, 5), TypeError, "since must be"),
        ((1, "5", 6), TypeError, "since must be"),
        ((1, "5a"), ValueError, "fraction must be ASCII digits"),
        ((1, "\u0665"), ValueError, "fraction must be ASCII digits"),
    ])
    def test_bad_bounds(self, bound: Any, error: type, message: str) -> None:
        with pytest.raises(error, match=message):
            CountScanner(by_level=True, by_event_id=True, since=bound)
        with pytest.raises(error, match=message.replace("since must", "until must")):
            CountScanner(by_level=True, by_event_id=True, until=bound)

    def test_far_bounds(self) -> None:
        """Bounds past any line's time, even past int64_t, compare as they should."""
        data = timed_line("0001-01-01T00:00:00Z") + timed_line("9999-12-31T23:59:59.9Z")
        for since, until, lines in (((-10**30, ""), None, 2), ((10**30, ""), None, 0),
                                    (None, (-10**30, ""), 0), (None, (10**30, "5"), 2)):
            scanner = CountScanner(by_level=True, by_event_id=False, since=since, until=until)
            scanner.scan(data, True)
            assert sum(scanner.groups().values()) == lines


class TestFieldKeys:
    @pytest.mark.parametrize("name", ["host", "message", "level", "event_id", "timestamp", "absent"])
    def test_other_writers(self, name: str) -> None:
        """Every kind of value, fields named like the counted members, a field no line has."""
        for _, data in other_writer_sources(random.Random(5)):
            assert_counts(data, ("level", f"field:{name}"), blocks=(None, 1, 64))
            assert_counts(data, (f"field:{name}",), blocks=(None,), since="2026-11-28T16:03:06Z")

    @pytest.mark.parametrize("name", ["note", "message", "n", "timestamp", "level", "event_id"])
    def test_hostile_output_of_a_real_logger(self, name: str, tmp_path: Path) -> None:
        data = b"".join(source for _, source in fastevlog_sources(tmp_path, hostile_events()))
        assert_counts(data, ("event_id", f"field:{name}"), blocks=(None, 1 << 16), kinds=("exact",))

    def test_raw_text(self) -> None:
        """The value's text as written, whitespace inside kept, around it left out; None when absent."""
        data = lines_of(b'{"level":"INFO","event_id":"a","host" :\t[1, {"b" : 2}]\t}',
                        b'{"level":"INFO","event_id":"a", "host": "w\\u0031" ,"x":1}',
                        b'{"level":"INFO","event_id":"a","x":{"host":1}}',
                        b'{"level":"INFO","event_id":"a","host":1e400,"host":-0}')
        scanner = scanner_for(("field:host",))
        scanner.scan(data, True)
        assert scanner.groups() == {(b'[1, {"b" : 2}]',): 1, (b'"w\\u0031"',): 1, (None,): 1, (b"-0",): 1}
        assert assert_counts(data, ("field:host",))[0] == {("[1,{\"b\":2}]",): 1, ("w1",): 1,
                                                           (None,): 1, (0,): 1}

    def test_names(self) -> None:
        """NAME is compared with the line's keys unescaped: escapes, non-ASCII, duplicates."""
        data = lines_of(b'{"level":"INFO","event_id":"a","h\\u006fst":"x"}',
                        b'{"level":"INFO","event_id":"a","host":"y","h\\u006Fst":"z"}',
                        '{"level":"INFO","event_id":"a","caf\u00e9":1,"caf\\u00e9":2}'.encode(),
                        b'{"level":"INFO","event_id":"a","\\ud800":1,"\\ufffd":2}',
                        b'{"level":"INFO","event_id":"a","' + b"\\u0068" * 40 + b'":3}')
        for name in ("host", "caf\u00e9", "\ufffd", "h" * 40, "h" * 41, "hos"):
            assert_counts(data, ("event_id", f"field:{name}"))

    def test_field_equal_to_a_counted_member(self) -> None:
        """field:level on fastevlog's lines: the fast path, which skips that key, stands aside."""
        data = fastevlog_shaped_line("ERROR", 7, "m") + fastevlog_shaped_line("INFO", "a\u0062", None)
        groups = assert_counts(data, ("level", "field:level"))[0]
        assert groups == {("ERROR", "ERROR"): 1, ("INFO", "INFO"): 1}
        assert assert_counts(data, ("field:event_id",))[0] == {(7,): 1, ("ab",): 1}

    def test_bad_name(self) -> None:
        with pytest.raises(TypeError, match="field must be the UTF-8 bytes"):
            CountScanner(by_level=True, by_event_id=True, field="host")  # type: ignore[arg-type]

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(sources(), st.integers(1, 80), st.sampled_from(["host", "level", "timestamp", "message", "x"]))
    def test_generated_sources(self, source: Tuple[str, bytes], block: int, name: str) -> None:
        assert_counts(source[1], ("level", "event_id", "minute", f"field:{name}"), blocks=(None, block))


class TestScanner:
    def test_groups_and_bad_lines_add_up_over_scans(self) -> None:
        scanner = scanner_for(("level", "event_id"))
        line = b'{"level":"INFO","event_id":7}\n'
        for _ in range(3):
            assert scanner.scan(line + b"x\n", False) == (len(line) + 2, False)
        groups = scanner.groups()
        assert (groups, scanner.bad_lines) == ({("INFO", 7): 3}, 3)
        groups.clear()  # a new dict each time
        assert scanner.groups() == {("INFO", 7): 3}

    def test_key_parts_asked_for(self) -> None:
        data = lines_of(b'{"level":"INFO","event_id":7}', b'{"level":"ERROR","event_id":7}')
        assert scanned(data, ("event_id",))[0] == {(7,): 2}
        assert scanned(data, ("level",))[0] == {("INFO",): 1, ("ERROR",): 1}
        scanner = CountScanner(by_level=False, by_event_id=False)
        scanner.scan(data, True)
        assert scanner.groups() == {(): 2}

    def test_many_groups(self) -> None:
        """The table grows past its first sizes and keeps every group."""
        data = b"".join(b'{"level":"L%d","event_id":%d}\n' % (i % 7, i) for i in range(20000))
        groups = assert_counts(data, blocks=(None, 999), kinds=("bytes",))[0]
        assert len(groups) == 20000

    @pytest.mark.parametrize("arguments, error, message", [
        (dict(by_level=1, by_event_id=True), TypeError, "by_level must be True or False"),
        (dict(by_level=True, by_event_id=None), TypeError, "by_event_id must be True or False"),
        (dict(by_level=True, by_event_id=True, time_unit=4), ValueError, "time_unit=4"),
        (dict(by_level=True, by_event_id=True, time_unit="minute"), TypeError, "time_unit must be an int"),
    ])
    def test_bad_arguments(self, arguments: Dict[str, Any], error: type, message: str) -> None:
        with pytest.raises(error, match=message):
            CountScanner(**arguments)

    def test_required_arguments(self) -> None:
        with pytest.raises(TypeError):
            CountScanner(by_level=True)  # type: ignore[call-arg]

    def test_bad_data(self) -> None:
        scanner = scanner_for(("level",))
        with pytest.raises(TypeError, match="data must be bytes-like"):
            scanner.scan("text", True)
        with pytest.raises(TypeError, match="data must be C-contiguous"):
            scanner.scan(memoryview(b"a\nb\n")[::2], True)
        with pytest.raises(TypeError, match="final must be True or False"):
            scanner.scan(b"", 1)

    def test_mmap(self, tmp_path: Path) -> None:
        import mmap
        path = tmp_path / "a.log"
        path.write_bytes(b'{"level":"INFO","event_id":"a"}\n' * 3)
        with path.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            scanner = scanner_for(("level", "event_id"))
            assert scanner.scan(mapped, True) == (path.stat().st_size, False)
        assert scanner.groups() == {("INFO", "a"): 3}

    def test_two_threads_at_once(self) -> None:
        """A scanner scanning in one thread refuses a second scan() and groups() from another."""
        scanner = scanner_for(("level", "event_id"))
        data = b'{"level":"INFO","event_id":"a"}\n' * (1 << 21)   # 64 MiB: some milliseconds
        refused = []
        for _ in range(20):
            thread = threading.Thread(target=scanner.scan, args=(data, False))
            thread.start()
            while thread.is_alive() and len(refused) < 2:
                for call in (lambda: scanner.scan(b"", True), scanner.groups):
                    try:
                        call()
                    except RuntimeError as error:
                        refused.append(str(error))
            thread.join()
            if len(refused) >= 2:
                break
        assert refused and all("another thread" in message for message in refused)


# A line fastevlog could have written, then bytes of it changed: what a validator most often misses.
VALID_LINE = ('{"timestamp":"2026-11-28T16:03:05.123456Z","level":"INFO","event_id":"ev\\u0062","message":'
              '"a \\"b\\" \u00e9\\n","n":[1,-2.5e3,{"k":null}],"t":true}').encode()
SYNTAX_BYTES = list(b'"\\{}[],:0-.eEuUNI \x00\x1f\x80\xc3\xed\xff\r\n\t')


@st.composite
def mutated_lines(draw: st.DrawFn) -> bytes:
    line = bytearray(VALID_LINE)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(line)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        byte = draw(st.sampled_from(SYNTAX_BYTES) | st.integers(0, 255))
        if action == "insert":
            line[at:at] = bytes([byte])
        elif at < len(line):
            line[at:at + 1] = b"" if action == "delete" else bytes([byte])
    return bytes(line)


json_leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text()
json_values = st.recursive(json_leaves, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=8)


def dumps_variants(event: Dict[str, Any]) -> List[str]:
    """One object as other writers put it on a line."""
    return [json.dumps(event), json.dumps(event, ensure_ascii=False),
            json.dumps(event, separators=(",", ":")), json.dumps(event, sort_keys=True),
            " \t" + json.dumps(event, separators=(" , ", " : ")) + " \r",
            json.dumps(dict(reversed(list(event.items()))))]


@st.composite
def written_objects(draw: st.DrawFn) -> bytes:
    keys = st.sampled_from(["level", "event_id", "timestamp", "m", "x"]) | st.text(max_size=3)
    event = draw(st.dictionaries(keys, json_values, max_size=5))
    if draw(st.booleans()):
        event["level"] = draw(st.text(max_size=4))
    if draw(st.booleans()):
        event["event_id"] = draw(st.text(max_size=4) | st.integers())
    return draw(st.sampled_from(dumps_variants(event))).encode("utf-8", "surrogatepass")


def split_points(data: bytes) -> Iterator[int]:
    return iter(range(len(data) + 1))


class TestProperties:
    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.binary(max_size=200), st.integers(1, 50))
    def test_random_bytes(self, data: bytes, block: int) -> None:
        assert_counts(data, blocks=(None, block))

    @settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(mutated_lines())
    def test_mutated_fastevlog_lines(self, line: bytes) -> None:
        assert_counts(line + b"\n" + VALID_LINE + b"\n", blocks=(None, 1, 37))

    @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(written_objects(), max_size=4), st.sampled_from([b"\n", b"\r\n"]))
    def test_other_writers(self, lines: List[bytes], newline: bytes) -> None:
        assert_counts(newline.join(lines) + newline, blocks=(None, 1, 13))

    def test_every_two_block_split(self) -> None:
        """Each place a block can end, in a few lines of each kind."""
        data = (fastevlog_shaped_line("INFO", "a\u0062", "m", {"n": [1, {"k": "}"}]})
                + b'{"level":"E","event_id":-0}\r\n \n' + VALID_LINE + b"\nx\n" + VALID_LINE[:40])
        want = expected(data)
        for cut in split_points(data):
            scanner = scanner_for(("level", "event_id"))
            consumed, _ = scanner.scan(exact_buffer(data[:cut]), False)
            rest, _ = scanner.scan(exact_buffer(data[consumed:]), True)
            assert (scanner.groups(), scanner.bad_lines, consumed + rest) == want, cut
