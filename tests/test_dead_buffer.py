"""fastevlog._dead_buffer: reading a dead process's buffer file, and recording recovery's progress in it."""

import json
import os
import re
import struct

import dead_buffers
import pytest
from dead_buffers import STAMP, Ring, Segment, lines
from hypothesis import given, settings
from hypothesis import strategies as st

from fastevlog import _core
from fastevlog._dead_buffer import DeadBufferFile, RecordedPiece

LAYOUT = _core.BUFFER_LAYOUT
SEGMENT = 4096


def fields(codes: str, names: str):
    """{name: (offset, size)} of fields packed one after the other, each spelled as a struct code."""
    spelled, at = {}, 0
    for name, code in zip(names.split(), codes.split()):
        spelled[name] = (at, struct.calcsize("<" + code))
        at += spelled[name][1]
    return spelled


class TestLayout:
    def test_the_core_exports_the_layout_the_tests_spell_out(self):
        """BUFFER_LAYOUT, measured on the core's structs, is the layout dead_buffers.py writes by hand."""
        file_size, file_fields = LAYOUT["FileHeader"]
        segment_size, segment_fields = LAYOUT["SegmentHeader"]
        piece_size, piece_fields = LAYOUT["PieceRecord"]
        assert file_size == dead_buffers.FILE_HEADER.size
        assert segment_size == dead_buffers.SEGMENT_HEADER_BYTES
        assert piece_size == dead_buffers.PLACEMENT.size
        assert file_fields == fields("8s I I Q Q Q",
                                     "magic version segment_count segment_size data_offset pid")
        assert {name: at for name, at in segment_fields.items() if name != "placement"} == fields(
            "Q Q Q I I Q", "seq length events state placements written")
        assert segment_fields["placement"] == (dead_buffers.SEGMENT_HEADER.size,
                                               dead_buffers.SLOTS * dead_buffers.PLACEMENT.size)
        assert piece_fields == fields("24s Q I I", "stamp offset start end")
        assert LAYOUT["magic"] == dead_buffers.MAGIC
        assert LAYOUT["format_version"] == dead_buffers.FORMAT_VERSION
        assert LAYOUT["max_placements"] == dead_buffers.SLOTS == _core.PLACEMENT_SLOTS
        assert LAYOUT["segment_states"] == {"free": dead_buffers.FREE, "active": dead_buffers.ACTIVE,
                                            "sealed": dead_buffers.SEALED}
        assert LAYOUT["segment_count_range"] == _core.SEGMENT_COUNT_RANGE

    def test_what_the_live_ring_writes_reads_back(self, tmp_path):
        """Lines logged into a ring and the placements it records are what the reader finds, in order."""
        size = _core.buffer_file_size(4, SEGMENT)
        fd = os.open(tmp_path / "ring.buffer", os.O_RDWR | os.O_CREAT, 0o600)
        os.ftruncate(fd, size)
        mapping = _core.Mapping(fd, size)
        os.close(fd)
        core = _core.LoggerCore()
        ring = core._attach(mapping, 4, SEGMENT, -1, 0, False, 1_000_000)
        try:
            seq = 0
            while ring.metrics()["buffer_bytes_in_use"] < 2 * SEGMENT:  # two segments full, a third active
                core.info("e", "m", seq=seq)
                seq += 1
            sealed = [entry for entry in ring.take_sealed() if entry.segment is not None]
            assert len(sealed) >= 2
            first = sealed[0]
            middle = bytes(memoryview(mapping)[first.start:first.end]).find(b"\n") + 1 + first.start
            ring.record_placement(first.segment, f"{STAMP}_000001", 7, first.start, middle)
            ring.record_placement(first.segment, f"{STAMP}_000002", 0, middle, first.end)

            contents = DeadBufferFile(mapping).read()
            assert contents.problems == []
            assert contents.header_bytes == _core.buffer_file_size(4, 0)
            recovered = b"".join(bytes(memoryview(mapping)[s.written:s.end]) for s in contents.segments)
            assert [json.loads(line)["seq"] for line in recovered.splitlines()] == list(range(seq))
            found = contents.segments[0]
            assert (found.number, found.written, found.end) == (first.segment, first.start, first.end)
            assert found.placements == [RecordedPiece(f"{STAMP}_000001", 7, first.start, middle),
                                        RecordedPiece(f"{STAMP}_000002", 0, middle, first.end)]

            ring.recycle_placements(first.segment, middle)  # the first piece is written
            found = DeadBufferFile(mapping).read().segments[0]
            assert (found.written, found.placements) == (middle, [])
        finally:
            ring.detach()
            mapping.close()


def _ring(*segments: Segment) -> bytearray:
    return bytearray(Ring(list(segments), segment_size=SEGMENT).to_bytes())


def _start(index: int) -> int:
    return Ring(segment_size=SEGMENT).data_offset(index)


DATA = lines(0, 20)
CUT = DATA.find(b"\n", len(DATA) // 2) + 1  # a line end near the middle
CUT2 = DATA.find(b"\n", CUT + (len(DATA) - CUT) // 2) + 1  # one between CUT and the end


class TestRead:
    def test_segments_come_in_the_order_they_were_filled(self):
        buffer = _ring(Segment(lines(0, 3), seq=2), Segment(b""), Segment(lines(3, 3), seq=1, state=1))
        assert [s.number for s in DeadBufferFile(buffer).read().segments] == [2, 0]

    def test_recorded_pieces_behind_written_are_skipped(self):
        """Slots that record_written was killed before clearing lie below written: already in their files."""
        pieces = [(STAMP, 0, 0, CUT), (STAMP, CUT, CUT, len(DATA))]
        buffer = _ring(Segment(DATA, written=CUT, placements=pieces))
        (segment,) = DeadBufferFile(buffer).read().segments
        assert (segment.written, segment.end) == (_start(0) + CUT, _start(0) + len(DATA))
        assert segment.placements == [RecordedPiece(STAMP, CUT, _start(0) + CUT, _start(0) + len(DATA))]

    @pytest.mark.parametrize("segment, problem", [
        (Segment(DATA, state=7), "segment 0: unknown state 7"),
        (Segment(DATA, length=SEGMENT + 1), f"segment 0: corrupt header (length {SEGMENT + 1}, written 0)"),
        (Segment(DATA, written=len(DATA) + 1), f"segment 0: corrupt header (length {len(DATA)}, "
                                               f"written {len(DATA) + 1})"),
        (Segment(DATA, length=len(DATA) - 1), "segment 0: its committed bytes do not end a line"),
        (Segment(DATA[:CUT] + b"\0" + DATA[CUT + 1:]), "segment 0: NUL bytes among its lines"),
        (Segment(DATA, placements=[(STAMP, 0, 0, len(DATA) + 1)]),
         f"segment 0 placement 0: bytes [0, {len(DATA) + 1}) are not in the segment"),
        (Segment(DATA, placements=[(STAMP, 0, CUT, CUT)]), f"segment 0 placement 0: bytes [{CUT}, {CUT}) "
                                                           "are not in the segment"),
        (Segment(DATA, placements=[(STAMP, 0, CUT, len(DATA))]),
         "segment 0 placement 0: does not follow the bytes before it"),
        (Segment(DATA, placements=[(STAMP, 0, 0, CUT), (STAMP, 0, CUT + 1, len(DATA))]),
         "segment 0 placement 1: does not follow the bytes before it"),
        (Segment(DATA, placements=[("../x", 0, 0, len(DATA))]),
         "segment 0 placement 0: not a log file stamp"),
        (Segment(DATA, placements=[(STAMP + "_12345", 0, 0, len(DATA))]),
         "segment 0 placement 0: not a log file stamp"),
        (Segment(DATA, placements=[(STAMP + "\n", 0, 0, len(DATA))]),
         "segment 0 placement 0: not a log file stamp"),
        (Segment(DATA, placements=[(STAMP, 0, 0, CUT - 1)]), "segment 0 placement 0: does not end a line"),
    ])
    def test_a_bad_segment_is_a_problem_and_nothing_of_it_is_read(self, segment, problem):
        contents = DeadBufferFile(_ring(segment, Segment(DATA, seq=1))).read()
        assert contents.problems == [problem]
        assert [s.number for s in contents.segments] == [1]

    def test_more_placements_than_slots_is_a_corrupt_header(self):
        buffer = _ring(Segment(DATA))
        struct.pack_into("<I", buffer, dead_buffers.FILE_HEADER.size + 28, 5)  # segment 0's placements
        assert DeadBufferFile(buffer).read().problems == [f"segment 0: corrupt header (length {len(DATA)}, "
                                                          "written 0)"]

    @pytest.mark.parametrize("stamp", [STAMP, f"{STAMP}_123456", f"{STAMP}_12345678"])
    def test_stamps_logfiles_makes_are_read(self, stamp):
        (segment,) = DeadBufferFile(_ring(Segment(DATA, placements=[(stamp, 5, 0, CUT)]))).read().segments
        assert segment.placements == [RecordedPiece(stamp, 5, _start(0), _start(0) + CUT)]

    def test_a_file_cut_short_keeps_the_whole_lines_before_the_cut(self):
        buffer = _ring(Segment(DATA, placements=[(STAMP, 0, 0, len(DATA))]))
        cut_at = _start(0) + CUT + 3
        contents = DeadBufferFile(buffer[:cut_at]).read()
        (segment,) = contents.segments
        assert (segment.written, segment.end) == (_start(0), _start(0) + CUT)
        assert segment.placements == [RecordedPiece(STAMP, 0, _start(0), _start(0) + CUT)]
        assert contents.problems == [f"segment 0: cut by the end of the file, {len(DATA) - CUT} bytes of "
                                     "lines lost"]

    def test_zeroes_hold_nothing(self):
        assert DeadBufferFile(bytes(3 * SEGMENT)).read() == (0, [], [])
        assert DeadBufferFile(b"").read() == (0, [], [])

    @pytest.mark.parametrize("field, value, message", [
        ("version", 9, "buffer file format 9 is not supported (expected 3)"),
        ("segment_count", 3, "corrupt buffer file header: bad segment geometry"),
        ("segment_count", 1025, "corrupt buffer file header: bad segment geometry"),
        ("segment_size", 0, "corrupt buffer file header: bad segment geometry"),
        ("segment_size", 1 << 32, "corrupt buffer file header: bad segment geometry"),
        ("data_offset", 8192, "corrupt buffer file header: bad segment geometry"),
    ])
    def test_a_bad_header_makes_the_file_unreadable(self, field, value, message):
        buffer = _ring(Segment(DATA))
        at, code = {"version": (8, "<I"), "segment_count": (12, "<I"), "segment_size": (16, "<Q"),
                    "data_offset": (24, "<Q")}[field]  # dead_buffers.FILE_HEADER's
        struct.pack_into(code, buffer, at, value)
        with pytest.raises(ValueError, match=re.escape(message)):
            DeadBufferFile(buffer).read()

    @pytest.mark.parametrize("damage, message", [
        (lambda data: data[:40], "40 bytes is shorter than a buffer file's header"),
        (lambda data: b"X" + data[1:], "not a fastevlog buffer file: bad magic"),
        (lambda data: data[:500], "truncated inside its header: 500 bytes"),
        (lambda data: bytes(8) + data[8:], "its header is zeroed but"),
    ])
    def test_a_file_that_is_no_buffer_file_is_unreadable(self, damage, message):
        with pytest.raises(ValueError, match=re.escape(message)):
            DeadBufferFile(bytes(damage(_ring(Segment(DATA))))).read()


# A ring of all kinds of segments, to be damaged.
VARIED = bytes(_ring(Segment(DATA, seq=3, placements=[(STAMP, 0, 0, CUT), (f"{STAMP}_000001", 9, CUT, CUT2)]),
                     Segment(DATA, seq=1, state=1, written=CUT), Segment(lines(50, 5), seq=2),
                     Segment(DATA, seq=4, written=CUT, placements=[(STAMP, 0, 0, CUT)])))
# The integer fields of a segment header and its slots, (offset, struct code), as dead_buffers.py spells them.
INTEGER_FIELDS = [(0, "Q"), (8, "Q"), (16, "Q"), (24, "I"), (28, "I"), (32, "Q")] + [
    (dead_buffers.SEGMENT_HEADER.size + k * dead_buffers.PLACEMENT.size + at, code)
    for k in range(dead_buffers.SLOTS) for at, code in ((24, "Q"), (32, "I"), (36, "I"))]
# Any byte of the file header or of segment 0's lines set to anything (NUL and newline often).
BYTES = st.tuples(st.one_of(st.integers(0, dead_buffers.FILE_HEADER.size - 1),
                            st.integers(_start(0), _start(0) + len(DATA))),
                  st.one_of(st.sampled_from([0, 10]), st.integers(0, 255)))
# A field of a segment header moved a little (or a lot).
NUDGES = st.tuples(st.integers(0, 3), st.sampled_from(INTEGER_FIELDS),
                   st.one_of(st.sampled_from([-1, 1, -CUT, CUT]), st.integers(-2 * len(DATA), 2 * len(DATA)),
                             st.integers(0, 1 << 64)))


def _nudge(buffer, index, field, delta):
    at, code = field
    at += dead_buffers.FILE_HEADER.size + index * dead_buffers.SEGMENT_HEADER_BYTES
    (value,) = struct.unpack_from("<" + code, buffer, at)
    struct.pack_into("<" + code, buffer, at, (value + delta) % (1 << 8 * struct.calcsize(code)))


def _assert_only_whole_lines_are_read(buffer):
    """Every range read lies in the file, is whole lines without NUL, and its pieces follow each other."""
    try:
        contents = DeadBufferFile(buffer).read()
    except ValueError:
        return
    for segment in contents.segments:
        assert contents.header_bytes <= segment.written < segment.end <= len(buffer)
        assert buffer[segment.end - 1:segment.end] == b"\n"
        assert b"\0" not in buffer[segment.written:segment.end]
        expected = segment.written
        for piece in segment.placements:
            assert piece.start == expected < piece.end <= segment.end
            assert buffer[piece.end - 1:piece.end] == b"\n"
            assert "/" not in piece.stamp and ".." not in piece.stamp and len(piece.stamp) >= 15
            expected = piece.end


class TestUntrusted:
    def test_any_field_moved_by_a_little_or_a_lot(self):
        for index in range(4):
            for field in INTEGER_FIELDS:
                for delta in (-1, 1, -CUT, CUT, 1 << 40):
                    buffer = bytearray(VARIED)
                    _nudge(buffer, index, field, delta)
                    _assert_only_whole_lines_are_read(bytes(buffer))

    @settings(max_examples=300, deadline=None)
    @given(damage=st.lists(BYTES, max_size=3), nudges=st.lists(NUDGES, max_size=3),
           cut=st.one_of(st.just(len(VARIED)), st.integers(0, len(VARIED))))
    def test_whatever_the_bytes_every_range_read_is_whole_lines_within_the_file(self, damage, nudges, cut):
        buffer = bytearray(VARIED)
        for at, value in damage:
            buffer[at] = value
        for nudge in nudges:
            _nudge(buffer, *nudge)
        _assert_only_whole_lines_are_read(bytes(buffer[:cut]))


def _reads(buffer):
    """What a read finds of segment 0: (written, end, placements)."""
    (segment,) = DeadBufferFile(bytes(buffer)).read().segments
    return segment.written, segment.end, segment.placements


class _Snapshots:
    """Stands in for the stores of DeadBufferFile, keeping the buffer as it was before each one:
    the files a process killed at that point would leave."""

    def __init__(self, monkeypatch, buffer):
        import fastevlog._dead_buffer as module

        self.states = []
        for record in (module._SEGMENT_HEADER, module._PIECE_RECORD):
            store, packer = record.store, record.struct
            monkeypatch.setattr(record, "store", self._before(store))
            monkeypatch.setattr(record, "struct", _Packer(packer, self._before(packer.pack_into)))
        self.buffer = buffer

    def _before(self, write):
        def wrapped(*args):
            self.states.append(bytes(self.buffer))
            return write(*args)
        return wrapped


class _Packer:
    def __init__(self, packer, pack_into):
        self.packer, self.pack_into = packer, pack_into

    def __getattr__(self, name):
        return getattr(self.packer, name)


class TestRecord:
    def test_recorded_placements_read_back(self):
        buffer = _ring(Segment(DATA))
        start = _start(0)
        DeadBufferFile(buffer).record_placements(0, [(STAMP, 10, start, start + CUT),
                                                     (f"{STAMP}_000001", 0, start + CUT, start + len(DATA))])
        assert _reads(buffer) == (start, start + len(DATA),
                                  [RecordedPiece(STAMP, 10, start, start + CUT),
                                   RecordedPiece(f"{STAMP}_000001", 0, start + CUT, start + len(DATA))])
        DeadBufferFile(buffer).record_written(0, start + CUT)
        assert _reads(buffer) == (start + CUT, start + len(DATA), [])

    def test_a_kill_while_recording_placements_leaves_them_unrecorded_or_recorded(self, monkeypatch):
        """Stale slots (behind written) are cleared before the new ones are filled, and counted last."""
        start = _start(0)
        buffer = _ring(Segment(DATA, written=CUT, placements=[(STAMP, 0, 0, 10), (STAMP, 10, 10, CUT)]))
        before = _reads(buffer)
        snapshots = _Snapshots(monkeypatch, buffer)
        DeadBufferFile(buffer).record_placements(0, [(f"{STAMP}_000001", 0, start + CUT, start + CUT2),
                                                     (f"{STAMP}_000002", 0, start + CUT2, start + len(DATA))])
        after = _reads(buffer)
        assert before[2] == [] and len(after[2]) == 2 and len(snapshots.states) == 4
        for state in snapshots.states:
            assert _reads(state) in (before, after)

    def test_a_kill_while_recording_written_leaves_it_before_or_after(self, monkeypatch):
        """written moves before the slots are freed: a kill between leaves slots that read as written."""
        start = _start(0)
        buffer = _ring(Segment(DATA, placements=[(STAMP, 0, 0, CUT)]))
        before = _reads(buffer)
        snapshots = _Snapshots(monkeypatch, buffer)
        DeadBufferFile(buffer).record_written(0, start + CUT)
        after = _reads(buffer)
        assert after == (start + CUT, start + len(DATA), []) and len(snapshots.states) == 2
        for state in snapshots.states + [bytes(buffer)]:
            assert _reads(state) in (before, after)

    @pytest.mark.parametrize("pieces, message", [
        ([], "0 placements: a segment records 1 to 4 at a time"),
        ([(STAMP, 0, 0, 1)] * 5, "5 placements"),
        ([(STAMP, 0, 1, CUT)], "cannot record"),  # does not start at written
        ([(STAMP, 0, 0, len(DATA) + 1)], "cannot record"),  # past the committed bytes
        ([("x" * 25, 0, 0, CUT)], "cannot record"),  # a stamp longer than its slot
        ([(STAMP, -1, 0, CUT)], "cannot record"),
        ([(STAMP, 1 << 64, 0, CUT)], "cannot record"),
    ])
    def test_bad_placements_are_refused_and_nothing_is_stored(self, pieces, message):
        buffer = _ring(Segment(DATA), Segment(DATA, seq=1))
        start = _start(0)
        pieces = [(stamp, offset, start + first, start + last) for stamp, offset, first, last in pieces]
        unchanged = bytes(buffer)
        with pytest.raises(ValueError, match=message):
            DeadBufferFile(buffer).record_placements(0, pieces)
        assert bytes(buffer) == unchanged

    def test_slots_in_use_are_not_overwritten(self):
        buffer = _ring(Segment(DATA, placements=[(STAMP, 3, 0, CUT)]))
        start = _start(0)
        with pytest.raises(ValueError, match="still has recorded pieces not written"):
            DeadBufferFile(buffer).record_placements(0, [(STAMP, 0, start, start + CUT)])

    def test_written_stays_within_the_segment(self):
        buffer = _ring(Segment(DATA, written=CUT))
        start = _start(0)
        for written in (start + CUT - 1, start + len(DATA) + 1):
            with pytest.raises(ValueError, match="is not between segment 0's written mark and its length"):
                DeadBufferFile(buffer).record_written(0, written)
        with pytest.raises(IndexError, match="segment 4 is not in the file"):
            DeadBufferFile(buffer).record_written(4, start)
