"""Buffer files of dead processes for recovery's tests: left by a child killed with SIGKILL, or built by hand.

The hand-built ones follow the layout of the structs in src/fastevlog/_core.pxd
(format 3), spelled here independently with struct, so a test can plant exactly
the header an attacker or a crash would leave (test_dead_buffer.py checks it
against the layout the core exports).
"""

import json
import struct
import textwrap
from dataclasses import dataclass, field
from typing import List, Sequence, Tuple

from support import run_python

MAGIC = b"FEVLBUF\0"
FORMAT_VERSION = 3
FILE_HEADER = struct.Struct("<8sIIQQQ16x")  # magic, version, segment_count, segment_size, data_offset, pid
SEGMENT_HEADER = struct.Struct("<QQQIIQ")  # seq, length, events, state, placements, written
PLACEMENT = struct.Struct("<24sQII")  # stamp, offset, start, end (of the segment's bytes)
SLOTS = 4
SEGMENT_HEADER_BYTES = SEGMENT_HEADER.size + SLOTS * PLACEMENT.size
FREE, ACTIVE, SEALED = 0, 1, 2
STAMP = "20260101_120000"  # a stamp of the form LogFiles makes
LOG_FILE = "async_buffered_logs"


def lines(first: int, count: int, pad: int = 40) -> bytes:
    """JSON lines {"seq": first}, ... like the logger's, each about pad bytes longer."""
    events = ({"event_id": "e", "seq": n, "pad": "x" * pad} for n in range(first, first + count))
    return b"".join(json.dumps(event).encode() + b"\n" for event in events)


@dataclass
class Segment:
    data: bytes  # its committed lines
    seq: int = 0
    state: int = SEALED
    written: int = 0
    placements: Sequence[Tuple[str, int, int, int]] = ()  # (stamp, offset, start, end) in the segment
    length: int = -1  # the committed length recorded; -1: len(data)


@dataclass
class Ring:
    segments: List[Segment] = field(default_factory=list)
    segment_size: int = 64 * 1024
    segment_count: int = 4

    def header_bytes(self) -> int:
        size = FILE_HEADER.size + self.segment_count * SEGMENT_HEADER_BYTES
        return (size + 4095) // 4096 * 4096

    def data_offset(self, index: int) -> int:
        return self.header_bytes() + index * self.segment_size

    def to_bytes(self) -> bytes:
        out = bytearray(self.header_bytes() + self.segment_count * self.segment_size)
        FILE_HEADER.pack_into(out, 0, MAGIC, FORMAT_VERSION, self.segment_count, self.segment_size,
                              self.header_bytes(), 1)
        for index, segment in enumerate(self.segments):
            at = FILE_HEADER.size + index * SEGMENT_HEADER_BYTES
            length = len(segment.data) if segment.length < 0 else segment.length
            SEGMENT_HEADER.pack_into(out, at, segment.seq, length, segment.data.count(b"\n"), segment.state,
                                     len(segment.placements), segment.written)
            for k, (stamp, offset, start, end) in enumerate(segment.placements):
                slot = at + SEGMENT_HEADER.size + k * PLACEMENT.size
                PLACEMENT.pack_into(out, slot, stamp.encode(), offset, start, end)
            out[self.data_offset(index):self.data_offset(index) + len(segment.data)] = segment.data
        return bytes(out)

    def plant(self, directory, name: str = f"{LOG_FILE}.1-0.buffer"):
        path = directory / name
        path.write_bytes(self.to_bytes())
        return path


def segment_headers(data: bytes) -> List[Tuple[int, int, int, int, int, int]]:
    """(seq, length, events, state, placements, written) of each segment of a buffer file's bytes."""
    count = FILE_HEADER.unpack_from(data, 0)[2]
    at = FILE_HEADER.size
    return [SEGMENT_HEADER.unpack_from(data, at + i * SEGMENT_HEADER_BYTES) for i in range(count)]


def geometry(data: bytes) -> Tuple[int, int, int]:
    """(segment_count, segment_size, data_offset) of a buffer file's bytes."""
    magic, version, count, size, data_offset, _ = FILE_HEADER.unpack_from(data, 0)
    assert (magic, version) == (MAGIC, FORMAT_VERSION)
    return count, size, data_offset


def log_then_die(directory, events: int, log_file: str = LOG_FILE, flush_every=None,
                 buffer_bytes: int = 4 * 1024 * 1024) -> None:
    """A child process logs seq 0..events-1 and kills itself with SIGKILL before any stop()."""
    script = textwrap.dedent(f"""
        import os, signal
        import fastevlog
        logger = fastevlog.EventLogCounter(directory={str(directory)!r}, log_file={log_file!r},
                                           flush_interval=3600, buffer_bytes={buffer_bytes})
        for i in range({events}):
            logger.info("e", "m", seq=i)
            if {flush_every!r} and i % {flush_every or 1} == 0:
                logger.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    child = run_python(script, directory, timeout=60)
    assert child.returncode == -9
