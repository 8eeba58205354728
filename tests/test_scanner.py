"""The counting scanner (src/scanner.pxi), diffed against a json.loads loop.

reference_counts() is what the scanner must say about any bytes: a line counts
when json.loads reads it as an object with a str level and a str or int (not
bool) event_id; a NUL byte stops everything at the start of its line.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastevlog
from fastevlog._core import scan_counts

try:
    import numpy
except ImportError:  # the test extra has it; without it the buffers are bytes
    numpy = None  # type: ignore[assignment]

Key = Tuple[str, Any]
Scan = Tuple[Dict[Key, int], int, int, bool]

LOG_GLOB = "async_buffered_logs_*.log"


def counted_key(line: bytes) -> Optional[Key]:
    """The group of one line (without its newline), or None for a bad line."""
    try:
        event = json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    if type(event) is not dict:
        return None
    level, event_id = event.get("level"), event.get("event_id")
    if type(level) is not str or type(event_id) not in (str, int):
        return None
    return level, event_id


def reference_counts(data: bytes, final: bool = True) -> Scan:
    nul = data.find(b"\0")
    stopped = nul >= 0
    if stopped:
        data = data[:data.rfind(b"\n", 0, nul) + 1]
    lines = data.split(b"\n")
    tail = lines.pop()
    consumed = len(data) - len(tail)
    if tail and (final or stopped):
        lines.append(tail)
        consumed = len(data)
    counts: Counter = Counter()
    bad = 0
    for line in lines:
        key = counted_key(line)
        if key is None:
            bad += 1
        else:
            counts[key] += 1
    return dict(counts), bad, consumed, stopped


def exact_buffer(data: bytes) -> Any:
    """data in an allocation of exactly its size: bytes keep a NUL after their end, which would hide
    a read past it from AddressSanitizer (tests/sanitize.sh)."""
    return numpy.frombuffer(data, dtype=numpy.uint8).copy() if numpy is not None else data


def assert_same(data: bytes, final: bool = True) -> Scan:
    got = scan_counts(data, final=final)
    assert scan_counts(exact_buffer(data), final=final) == got
    assert got == reference_counts(data, final)
    # The key types too: 1 == True and "1" != 1, so equal dicts can still differ in them.
    assert sorted(map(repr, got[0])) == sorted(map(repr, reference_counts(data, final)[0]))
    return got


def logged_bytes(directory: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(directory.glob(LOG_GLOB)))


HOSTILE_TEXT = ["".join(map(chr, range(0x20))), '"\\/', "\u2028\u2029", "caf\u00e9 \u4e2d \U0001f600",
                "\ud800 lone", "x\udfff", "\x7f\ufeff", "a" * 300, ""]
HOSTILE_IDS: list = HOSTILE_TEXT + [0, -1, 7, 2**63, -(2**63), 2**70, -(2**80), "0", "-0", "1.5"]


class TestFastevlogOutput:
    def test_hostile_ids_and_messages(self, tmp_path: Path) -> None:
        """Every escape, U+2028, lone surrogates, int ids: counted as json.loads reads them."""
        with fastevlog.EventLogCounter(directory=str(tmp_path)) as events:
            for i, event_id in enumerate(HOSTILE_IDS):
                for message in HOSTILE_TEXT + [None]:
                    events.log("ERROR" if i % 2 else "INFO", event_id, message, n=i, text=message,
                               nested={"k\n": [message, i, 1.5, None, True]})
        data = logged_bytes(tmp_path)
        counts, bad, consumed, stopped = assert_same(data)
        assert bad == 0 and consumed == len(data) and not stopped
        assert sum(counts.values()) == len(HOSTILE_IDS) * (len(HOSTILE_TEXT) + 1)
        assert counts[("INFO", "\ufffd lone")] == len(HOSTILE_TEXT) + 1   # written as U+FFFD

    def test_torn_last_line(self, tmp_path: Path) -> None:
        """A line cut anywhere is bad when the block is final, and left for the next block when not."""
        with fastevlog.EventLogCounter(directory=str(tmp_path)) as events:
            events.info("first", "ok")
            events.warning(12, "caf\u00e9 \\ \"", items=[1, {"a": "}"}])
        data = logged_bytes(tmp_path)
        last = data.rfind(b"\n", 0, len(data) - 1) + 1
        for cut in range(last, len(data) + 1):
            assert_same(data[:cut])
            counts, bad, consumed, _ = assert_same(data[:cut], final=False)
            assert consumed == (len(data) if cut == len(data) else last) and bad == 0


def dumps_variants(event: Dict[str, Any]) -> list:
    """One object as other writers put it on a line."""
    return [json.dumps(event), json.dumps(event, ensure_ascii=False),
            json.dumps(event, separators=(",", ":")), json.dumps(event, indent=None, sort_keys=True),
            " \t" + json.dumps(event, separators=(" , ", " : ")) + " \r",
            json.dumps(dict(reversed(list(event.items()))))]


class TestOtherWriters:
    def test_key_orders_and_whitespace(self) -> None:
        """Any key order, whitespace and ensure_ascii: the same groups."""
        lines = []
        for event_id in HOSTILE_IDS:
            event = {"msg": "x", "timestamp": "t", "level": "INFO", "event_id": event_id,
                     "extra": {"level": "nested, not counted", "event_id": [1]}}
            lines += dumps_variants(event)
        assert_same("\n".join(lines).encode("utf-8", "surrogatepass"))

    @pytest.mark.parametrize("line, key", [
        (rb'{"level":"INFO","event_id":"a\u0062"}', ("INFO", "ab")),
        (rb'{"level":"I\u004eFO","event_id":"ab"}', ("INFO", "ab")),
        (rb'{"lev\u0065l":"INFO","\u0065vent_id":"ab"}', ("INFO", "ab")),
        (rb'{"level":"INFO","event_id":"\ud83d\ude00"}', ("INFO", "\U0001f600")),
        (rb'{"level":"INFO","event_id":"\ud800"}', ("INFO", "\ud800")),
        (rb'{"level":"INFO","event_id":"\ud800\u0041"}', ("INFO", "\ud800A")),
        (rb'{"level":"INFO","event_id":"\udc00\ud800"}', ("INFO", "\udc00\ud800")),
        (rb'{"level":"INFO","event_id":"\n\t\"\\\/\b\f\r\u0000"}', ("INFO", "\n\t\"\\/\b\f\r\0")),
        (rb'{"level":"INFO","event_id":-0}', ("INFO", 0)),
        (rb'{"level":"INFO","event_id":-0}' + b"\n" + rb'{"level":"INFO","event_id":0}', ("INFO", 0)),
        (rb'{"level":"INFO","event_id":1,"event_id":"x"}', ("INFO", "x")),
        (rb'{"level":1,"event_id":1,"level":"L"}', ("L", 1)),
        (b'{"level":"INFO","event_id":"\xf0\x9f\x98\x80"}', ("INFO", "\U0001f600")),
    ])
    def test_escapes_and_duplicates(self, line: bytes, key: Key) -> None:
        """Escaped ids and keys are unescaped exactly; the last of duplicate keys wins."""
        lines = line.count(b"\n") + 1
        assert assert_same(line + b"\n" + line) == ({key: 2 * lines}, 0, len(line) * 2 + 1, False)
        assert scan_counts(line)[0] == {key: lines}

    @pytest.mark.parametrize("line", [
        b"", b"\r", b"{}", b"[]", b'"x"', b"1", b'{"level":"INFO"}', b'{"event_id":"x"}',
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
        b'{"level":"INFO","event_id":-Infinity}',
    ])
    def test_bad_lines(self, line: bytes) -> None:
        """Lines that are not an object with a str level and a str or int event_id."""
        assert assert_same(line + b"\n") == ({}, 1, len(line) + 1, False)

    def test_values_json_loads_reads(self) -> None:
        """NaN, Infinity, nesting, numbers in every form: valid lines."""
        line = (b'{"level":"INFO","event_id":-Infinity,"event_id":"x","a":[NaN,Infinity,-Infinity,-0.5e-3,'
                b'1E+2,{"b":{}},[],[[]],"\\u2028"],"c":' + b"[" * 500 + b"]" * 500 + b"}")
        assert assert_same(line) == ({("INFO", "x"): 1}, 0, len(line), False)

    def test_one_mib_lines(self) -> None:
        """1 MiB in an id and in a message, escapes throughout."""
        event_id = "\u2028a\\\"\n\U0001f600" * (1 << 17)
        data = (json.dumps({"level": "INFO", "event_id": event_id, "message": "m" * (1 << 20)}) + "\n"
                + json.dumps({"event_id": event_id, "level": "INFO"}, ensure_ascii=False)).encode()
        assert assert_same(data) == ({("INFO", event_id): 2}, 0, len(data), False)

    def test_huge_int_id(self) -> None:
        """An int id json.loads refuses (past sys.get_int_max_str_digits) is bad here too."""
        assert_same(b'{"level":"INFO","event_id":' + b"9" * 5000 + b"}\n")


class TestBlocks:
    def test_empty(self) -> None:
        assert scan_counts(b"") == ({}, 0, 0, False)
        assert scan_counts(b"", final=False) == ({}, 0, 0, False)

    def test_crlf(self) -> None:
        """CRLF endings: the CR is whitespace after the object."""
        data = b'{"level":"INFO","event_id":"a"}\r\n' * 3 + b'{"level":"INFO","event_id":"a"}\r'
        assert assert_same(data) == ({("INFO", "a"): 4}, 0, len(data), False)

    def test_line_longer_than_block(self) -> None:
        """No newline in a block that is not final: nothing consumed, so the caller grows it."""
        line = b'{"level":"INFO","event_id":"' + b"a" * 1000
        assert scan_counts(line, final=False) == ({}, 0, 0, False)

    def test_bytes_like(self) -> None:
        data = b'{"level":"INFO","event_id":"a"}\n'
        for view in (bytearray(data), memoryview(data)):
            assert scan_counts(view) == ({("INFO", "a"): 1}, 0, len(data), False)
        with pytest.raises(TypeError, match="data must be bytes-like"):
            scan_counts("text")  # type: ignore[arg-type]


class TestNulGaps:
    @pytest.mark.parametrize("gap_at", [0, 5, 40])
    def test_stops_at_the_gap(self, gap_at: int) -> None:
        """A NUL range is never a bad line: the scan stops at the start of its line."""
        line = b'{"level":"INFO","event_id":"abc","message":"a message"}\n'
        data = line * 2 + line[:gap_at] + b"\0" * 1000 + line[gap_at + 3:] + line * 3
        counts, bad, consumed, stopped = assert_same(data)
        assert (counts, bad, consumed, stopped) == ({("INFO", "abc"): 2}, 0, len(line) * 2, True)
        assert assert_same(data, final=False) == (counts, bad, consumed, stopped)

    def test_gap_to_the_end(self) -> None:
        line = b'{"level":"INFO","event_id":1}\n'
        assert assert_same(line + b"\0" * 10) == ({("INFO", 1): 1}, 0, len(line), True)
        assert assert_same(b"\0") == ({}, 0, 0, True)


# A line fastevlog could have written, then bytes of it changed: what a validator most often misses.
VALID_LINE = ('{"timestamp":"2026-11-28T16:03:05.123456Z","level":"INFO","event_id":"ev\\u0062","message":'
              '"a \\"b\\" \u00e9\\n","n":[1,-2.5e3,{"k":null}],"t":true}').encode()


SYNTAX_BYTES = list(b'"\\{}[],:0-.eEuU \x00\x1f\x80\xc3\xed\xff\r\n')


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


@st.composite
def written_objects(draw: st.DrawFn) -> bytes:
    keys = st.sampled_from(["level", "event_id", "timestamp", "m", "x"]) | st.text(max_size=3)
    event = draw(st.dictionaries(keys, json_values, max_size=5))
    if draw(st.booleans()):
        event["level"] = draw(st.text(max_size=4))
    if draw(st.booleans()):
        event["event_id"] = draw(st.text(max_size=4) | st.integers())
    return draw(st.sampled_from(dumps_variants(event))).encode("utf-8", "surrogatepass")


class TestProperties:
    @settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
    @given(st.binary(max_size=200), st.booleans())
    def test_random_bytes(self, data: bytes, final: bool) -> None:
        assert_same(data, final)

    @settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
    @given(mutated_lines())
    def test_mutated_fastevlog_lines(self, line: bytes) -> None:
        assert_same(line + b"\n" + VALID_LINE)

    @settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(written_objects(), max_size=4), st.sampled_from([b"\n", b"\r\n"]))
    def test_other_writers(self, lines: list, newline: bytes) -> None:
        assert_same(newline.join(lines))
