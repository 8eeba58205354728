"""The inputs issue 13's counter is tested on, as (source name, bytes) pairs for count_reference().

- ``fastevlog simulate``'s output;
- fastevlog's own output, written by a real EventLogCounter: hostile ids and messages (every escape,
  U+2028/U+2029, lone surrogates that the logger writes as U+FFFD, 1 MiB lines, int ids);
- lines of "another writer" (json.dumps with other key orders, whitespace, ensure_ascii both ways, ids
  spelled with escapes such as ``"a\\u0062"`` that must count with ``"ab"``);
- damaged files: torn last lines, CRLF endings, NUL-filled gaps of a live file, random bytes, empty files;
- ``sources()``, a Hypothesis strategy of sources mixing all of these line by line.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from hypothesis import strategies as st
from reference import TIMESTAMP_PLACEHOLDER, reference_line
from support import child_env

import fastevlog

Event = Tuple[str, Any, Optional[str], Dict[str, Any]]  # level, event_id, message, fields
Source = Tuple[str, bytes]

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
EVERY_ESCAPE = "".join(chr(cp) for cp in range(0x20)) + '"\\/\u2028\u2029\x7f'
MIB = 1 << 20


def hostile_events() -> List[Event]:
    """Events whose ids and messages hold what a scanner gets wrong: escapes, U+2028, surrogates, size."""
    texts = [
        EVERY_ESCAPE,
        "line\u2028separator\u2029paragraph",
        "lone \ud800 high, lone \udfff low",  # the logger writes U+FFFD for each
        "pair \U0001F600 and \u00e9\u4e2d",
        '"level":"ERROR","event_id":"fake"',  # a key sequence inside a string
        "\\u0062",  # a backslash and u0062, not "b"
        "",
    ]
    events: List[Event] = []
    for index, text in enumerate(texts):
        level = LEVELS[index % len(LEVELS)]
        events.append((level, text, text, {"note": text}))
        events.append((level, f"id_{index}", text, {}))
    for event_id in (0, 7, -1, 2 ** 63, -(2 ** 70), 10 ** 30):
        events.append(("ERROR", event_id, f"int id {event_id}", {"n": event_id}))
    events.append(("INFO", "big_message", "m" * MIB, {}))
    events.append(("WARNING", "x" * MIB, None, {"after": "the id"}))
    events.append(("INFO", "nested", None, {"deep": [[[{"level": "FAKE", "event_id": 1}]]]}))
    return events


def fastevlog_sources(directory: Path, events: Iterable[Event],
                      log_file: str = "count_corpus") -> List[Source]:
    """The files a real EventLogCounter writes for ``events``, each as (its path, its bytes)."""
    with fastevlog.EventLogCounter(directory=str(directory), log_file=log_file, flush_interval=60) as logger:
        for level, event_id, message, fields in events:
            logger.log(level, event_id, message, **fields)
    paths = sorted(Path(directory).glob(f"{log_file}_*.log"))
    return [(str(path), path.read_bytes()) for path in paths]


def simulate_sources(directory: Path, events: int, threads: int = 4,
                     max_file_size: int = 64 * 1024) -> List[Source]:
    """The files ``fastevlog simulate`` writes (small files, so there are several), as (path, bytes)."""
    subprocess.run([sys.executable, "-m", "fastevlog", "simulate", "--events", str(events), "--threads",
                    str(threads), "--dir", str(directory), "--max-file-size", str(max_file_size)],
                   cwd=directory, env=child_env(), check=True, capture_output=True)
    paths = sorted(Path(directory).glob("async_buffered_logs_*.log"))
    return [(str(path), path.read_bytes()) for path in paths]


def fastevlog_shaped_line(level: str, event_id: Any, message: Optional[str] = None,
                          fields: Optional[Dict[str, Any]] = None,
                          timestamp: str = "2026-11-28T16:03:05.123456Z") -> bytes:
    """The line fastevlog writes (tests/reference.py builds it), without running a logger."""
    line = reference_line(level, event_id, message, fields or {})
    return line.replace(TIMESTAMP_PLACEHOLDER, timestamp.encode("ascii"), 1)


def other_writer_line(obj: Dict[str, Any], rng: random.Random) -> bytes:
    """``obj`` as another writer might write it: keys shuffled, spaced or compact, ASCII-escaped or not."""
    items = list(obj.items())
    rng.shuffle(items)
    separators = rng.choice([(",", ":"), (", ", ": "), (" ,\t", " :  ")])
    text = json.dumps(dict(items), separators=separators, ensure_ascii=rng.random() < 0.5)
    padding = rng.choice(["", " ", "\t", " \t "])
    return (padding + text + padding).encode("utf-8", "surrogatepass") + b"\n"


def escaped_id_line(level: str, event_id_json: str, timestamp: str = "2026-11-28T16:03:05Z") -> bytes:
    """A line whose event id is given as raw JSON text, e.g. ``'"a\\\\u0062"'`` (counts with "ab")."""
    return f'{{"event_id":{event_id_json},"timestamp":"{timestamp}","level":"{level}"}}\n'.encode()


def other_writer_sources(rng: random.Random, count: int = 200) -> List[Source]:
    """Lines of another writer: other key orders, whitespace, escapes, int ids, offsets in timestamps."""
    lines = []
    for index in range(count):
        obj: Dict[str, Any] = {
            "level": LEVELS[index % 5],
            "event_id": rng.choice(["ab", "é", "\u2028", 7, f"event_{index % 3}"]),
            "timestamp": rng.choice(["2026-11-28T16:03:05Z", "2026-11-28T17:03:05.5+01:00",
                                     "2026-11-28t16:59:59.999999999z", "2026-11-29 00:00:00Z"]),
            "message": rng.choice(["", EVERY_ESCAPE, "plain"]),
            "host": rng.choice(["web1", "web2", 3, None, True, 1.5]),
        }
        lines.append(other_writer_line(obj, rng))
    lines += [escaped_id_line("INFO", '"a\\u0062"'), escaped_id_line("INFO", '"\\u0061b"'),
              escaped_id_line("INFO", '"ab"'), escaped_id_line("INFO", '"\\ud800"'),
              escaped_id_line("INFO", '"\\ud83d\\ude00"'), escaped_id_line("ERROR", "7"),
              escaped_id_line("ERROR", "-0"), escaped_id_line("ERROR", "7.0")]
    rng.shuffle(lines)
    return [("other-writer.log", b"".join(lines))]


def torn(data: bytes, rng: random.Random) -> bytes:
    """``data`` cut inside its last line, as a crashed writer leaves it."""
    last_start = data.rstrip(b"\n").rfind(b"\n") + 1
    if len(data) - last_start < 2:
        return data
    return data[:rng.randrange(last_start + 1, len(data) - 1)]


def crlf(data: bytes) -> bytes:
    return data.replace(b"\n", b"\r\n")


def nul_gap(data: bytes, start: int, length: int) -> bytes:
    """``data`` with ``length`` bytes from ``start`` not written yet: a live file's parallel pwrites."""
    end = min(len(data), start + length)
    return data[:start] + b"\0" * (end - start) + data[end:]


def random_bytes(rng: random.Random, size: int) -> bytes:
    return bytes(rng.getrandbits(8) for _ in range(size))


def damaged_sources(clean: Sequence[Source], rng: random.Random) -> List[Source]:
    """Each clean source torn, in CRLF, with a NUL gap (at 0, in the middle); random and empty sources."""
    damaged: List[Source] = [("empty.log", b""), ("newlines.log", b"\n\r\n \n"),
                             ("random.log", random_bytes(rng, 4096)),
                             ("random-lines.log", b"\n".join(random_bytes(rng, 40) for _ in range(50)))]
    for name, data in clean:
        damaged.append((name + ".torn", torn(data, rng)))
        damaged.append((name + ".crlf", crlf(data)))
        damaged.append((name + ".gap0", nul_gap(data, 0, 4096)))
        damaged.append((name + ".gap", nul_gap(data, len(data) // 2, 100)))
    return damaged


# -- Hypothesis ----------------------------------------------------------------------------------------

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2 ** 70), 2 ** 70), st.text(max_size=8),
                         st.floats(allow_nan=False, allow_infinity=False))
event_ids = st.one_of(st.text(max_size=6), st.integers(-10, 10), st.sampled_from(["ab", "a\u0062", "7"]))
timestamps = st.one_of(
    st.datetimes().map(lambda moment: moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")),
    st.sampled_from(["2026-11-28T16:03:05Z", "2026-11-28T17:03:05+01:00", "2026-11-28", "yesterday",
                     "2026-02-30T00:00:00Z", "2026-11-28T23:59:60Z"]),
)


@st.composite
def fastevlog_lines(draw: st.DrawFn) -> bytes:
    fields = draw(st.dictionaries(st.sampled_from(["host", "user", "n"]), json_scalars, max_size=2))
    message = draw(st.one_of(st.none(), st.text(max_size=10)))
    return fastevlog_shaped_line(draw(st.sampled_from(LEVELS)), draw(event_ids), message, fields,
                                 draw(timestamps))


@st.composite
def other_writer_lines(draw: st.DrawFn) -> bytes:
    obj = draw(st.fixed_dictionaries({}, optional={
        "level": st.one_of(st.sampled_from(LEVELS + ("error", "Warn")), json_scalars),
        "event_id": st.one_of(event_ids, json_scalars, st.lists(st.integers(), max_size=2)),
        "timestamp": st.one_of(timestamps, json_scalars),
        "host": json_scalars,
    }))
    return other_writer_line(obj, random.Random(draw(st.integers(0, 2 ** 32))))


garbage_lines = st.one_of(
    st.binary(max_size=20).map(lambda raw: raw.replace(b"\n", b"") + b"\n"),
    st.sampled_from([b"\n", b"\r\n", b"  \n", b"[]\n", b"{}\n", b'{"level":"INFO"}\n', b"null\n",
                     b'{"level":"INFO","event_id":NaN}\n', b'\xef\xbb\xbf{"level":"INFO","event_id":1}\n',
                     b'{"level":"INFO","event_id":"\xff"}\n',
                     b'{"level":"INFO","event_id":"\xed\xa0\x80"}\n']),
)
# fastevlog's shape twice: one_of draws its branches alike, and most lines in the field are the logger's.
lines = st.one_of(fastevlog_lines(), fastevlog_lines(), other_writer_lines(), garbage_lines)


@st.composite
def sources(draw: st.DrawFn) -> Source:
    """One source: mixed lines, maybe CRLF, maybe (one in four) cut anywhere, maybe a NUL gap."""
    data = b"".join(draw(st.lists(lines, max_size=8)))
    if draw(st.booleans()):
        data = crlf(data)
    if data and draw(st.integers(0, 3)) == 0:
        data = data[:draw(st.integers(0, len(data)))]
    if data and draw(st.integers(0, 3)) == 0:
        data = nul_gap(data, draw(st.integers(0, len(data))), draw(st.integers(1, 64)))
    return (draw(st.sampled_from(["host1/a.log", "host2/a.log", "-"])), data)
