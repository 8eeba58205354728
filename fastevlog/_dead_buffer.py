"""A dead process's buffer file: what of it is still to be written, and recovery's progress recorded in it.

The layout is the core's: _core.BUFFER_LAYOUT, measured on the structs the
live ring writes (declared in src/fastevlog/_core.pxd), read here with struct
in this machine's byte order, since the file never leaves the machine.

Exactly once after a crash: before a segment's bytes are written, the
scheduler records in the file where each piece goes (file and offset).
Recovery writes every recorded piece again at the same place (only where the
file does not hold it already), which completes a piece that was cut short,
then places the bytes that had no place yet in new files, recording them first
in the same way (record_placements): a recovery killed midway is resumed by the
next one, not repeated.  A segment is marked free only once all its pieces are
written.  A segment that spans more files than it has placement slots is placed
a few pieces at a time: once the pieces recorded so far are all written,
``written`` moves past them, stored before the slots are cleared
(record_written, as move_written in src/layout.pxi), and the slots are reused
for what follows.

Anyone who can write the log directory can plant a buffer file, so nothing read
here is trusted: the geometry must fit the file, every range must lie in its
segment and end a line, every stamp must be one LogFiles makes (a plain name:
no "/" or "..") and the bytes to write must hold no NUL.  A segment that fails
a check is reported as a problem and left in the file; a header that fails one
makes the whole file unreadable (ValueError).
"""

from __future__ import annotations

import re
import struct
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Set, Tuple

from . import _core


class RecordedPiece(NamedTuple):
    """buffer[start:end] belongs at ``offset`` of ``{log_file}_{stamp}.log`` (written, partly or not yet)."""

    stamp: str
    offset: int
    start: int
    end: int


class SegmentToRecover(NamedTuple):
    """buffer[written:end] are whole lines of segment ``number`` not known to be in their files.

    ``placements`` are contiguous from ``written``; bytes past the last one had no place yet.
    """

    number: int  # its place in the ring, for record_placements and record_written
    written: int
    end: int
    placements: List[RecordedPiece]


class BufferContents(NamedTuple):
    header_bytes: int  # the file's header: where segment 0 starts
    segments: List[SegmentToRecover]  # in the order they were filled
    problems: List[str]  # each segment that cannot be recovered (whole or in part), and why


_LAYOUT = _core.BUFFER_LAYOUT
_MAGIC: bytes = _LAYOUT["magic"]
_FORMAT_VERSION: int = _LAYOUT["format_version"]
_FEWEST_SEGMENTS, _MOST_SEGMENTS = _LAYOUT["segment_count_range"]
_MAX_PLACEMENTS: int = _LAYOUT["max_placements"]
_STAMP_BYTES: int = _LAYOUT["stamp_bytes"]
_STATES = _LAYOUT["segment_states"]
_FREE, _ACTIVE, _SEALED = _STATES["free"], _STATES["active"], _STATES["sealed"]


def _unsigned_code(size: int) -> str:
    return {4: "I", 8: "Q"}[size]


class _Record:
    """One of the core's structs: its size, and a Struct packing the named fields in one call."""

    def __init__(self, name: str, **kinds: type) -> None:
        """kinds: the fields to pack, in the struct's order, each as bytes or int."""
        self.size, self.fields = _LAYOUT[name]
        codes, at = ["="], 0  # standard sizes, no implicit padding: the offsets place every field
        # Native: the struct module stores such a field with one memcpy of its width, so a process
        # killed while storing leaves the old value or the new one, never a mix of both.
        self._stores: Dict[str, Tuple[int, struct.Struct]] = {}
        for field, kind in kinds.items():
            offset, size = self.fields[field]
            if offset < at:
                raise ValueError(f"{name}.{field} is listed out of the struct's order")
            codes.append(f"{offset - at}x" if offset > at else "")
            if kind is bytes:
                codes.append(f"{size}s")
            else:
                codes.append(_unsigned_code(size))
                self._stores[field] = offset, struct.Struct("@" + _unsigned_code(size))
            at = offset + size
        self.struct = struct.Struct("".join(codes))

    def store(self, buffer: Any, at: int, field: str, value: int) -> None:
        """Store one integer field of the struct at ``at``."""
        offset, packer = self._stores[field]
        packer.pack_into(buffer, at + offset, value)


_FILE_HEADER = _Record("FileHeader", magic=bytes, version=int, segment_count=int, segment_size=int,
                       data_offset=int)
_SEGMENT_HEADER = _Record("SegmentHeader", seq=int, length=int, state=int, placements=int, written=int)
_PIECE_RECORD = _Record("PieceRecord", stamp=bytes, offset=int, start=int, end=int)
_PLACEMENT_AT = _SEGMENT_HEADER.fields["placement"][0]  # the segment header's array of PieceRecord
_MAX_OFFSET = (1 << 8 * _PIECE_RECORD.fields["offset"][1]) - 1

# The stamps LogFiles makes: YYYYMMDD_HHMMSS, optionally _ and a 6 to 8 digit suffix.
_STAMP = re.compile(rb"[0-9]{8}_[0-9]{6}(_[0-9]{6,8})?")

_ZEROS_AT_ONCE = 1024 * 1024  # bytes of a headerless file checked per copy


class _Geometry(NamedTuple):
    segment_count: int
    segment_size: int
    data_offset: int


class DeadBufferFile:
    """A dead process's buffer file: what of it is still to be written, and recovery's progress.

    ``buffer`` is a _core.Mapping of the file (or bytes to read, a bytearray
    to record into): its find/rfind of one byte search the lines (a Mapping's
    with memchr, copying nothing).  All offsets are into it.  The header is
    checked once, at the first call that needs it (ValueError when it fails).
    """

    def __init__(self, buffer: Any) -> None:
        self.buffer = buffer
        self._geometry: Optional[_Geometry] = None  # once the header has passed its checks

    def read(self) -> BufferContents:
        """What of the file is still to be written to log files.

        A file cut short keeps the whole lines before the cut.  A file of zero
        bytes only has nothing to recover.  Raises ValueError when the file as
        a whole cannot be read.
        """
        with memoryview(self.buffer) as view:
            size = len(view)
            if not any(view[:8]):
                nonzero = _count_nonzero(view)
                if not nonzero:
                    return BufferContents(0, [], [])  # created, but its process ended before logging into it
                if size >= 8:
                    raise ValueError(f"its header is zeroed but {nonzero:,} of its {size:,} bytes are not")
            geometry = self._checked_header()
            found: List[Tuple[int, int, SegmentToRecover]] = []
            problems = []
            for index in range(geometry.segment_count):
                problem = self._read_segment(view, geometry, index, found)
                if problem is not None:
                    problems.append(problem)
        found.sort()
        return BufferContents(geometry.data_offset, [segment for *_, segment in found], problems)

    def _checked_header(self) -> _Geometry:
        """The file's geometry, once it is known to describe a ring this file can hold a table of."""
        if self._geometry is not None:
            return self._geometry
        size = len(self.buffer)
        if size < _FILE_HEADER.size:
            raise ValueError(f"{size} bytes is shorter than a buffer file's header")
        magic, version, count, segment_size, data_offset = _FILE_HEADER.struct.unpack_from(self.buffer, 0)
        if magic != _MAGIC:
            raise ValueError("not a fastevlog buffer file: bad magic")
        if version != _FORMAT_VERSION:
            raise ValueError(f"buffer file format {version} is not supported (expected {_FORMAT_VERSION})")
        # Placements address a segment's bytes with 32 bits.
        if (not _FEWEST_SEGMENTS <= count <= _MOST_SEGMENTS or not 0 < segment_size <= 0xFFFFFFFF
                or data_offset != _core.buffer_file_size(count, 0)):  # a file of no segment bytes: the header
            raise ValueError("corrupt buffer file header: bad segment geometry")
        if _FILE_HEADER.size + count * _SEGMENT_HEADER.size > size:
            raise ValueError(f"truncated inside its header: {size} bytes")
        self._geometry = _Geometry(count, segment_size, data_offset)
        return self._geometry

    def _read_segment(self, view: memoryview, geometry: _Geometry, i: int,
                      found: List[Tuple[int, int, SegmentToRecover]]) -> Optional[str]:
        """Check segment i; append what of it is to be recovered to found; a problem, or None."""
        header_at = _segment_header_at(i)
        seq, length, state, placements, written_bytes = _SEGMENT_HEADER.struct.unpack_from(view, header_at)
        if state == _FREE or length == 0:
            return None  # empty, or all of it reached its files (the release may have been cut short)
        if state not in (_ACTIVE, _SEALED):
            return f"segment {i}: unknown state {state}"
        if length > geometry.segment_size or written_bytes > length or placements > _MAX_PLACEMENTS:
            return f"segment {i}: corrupt header (length {length}, written {written_bytes})"
        if written_bytes == length:
            return None
        size = len(view)
        start = geometry.data_offset + i * geometry.segment_size
        written = start + written_bytes
        committed = end = start + length
        if committed > size:
            # Cut by the end of the file: the whole lines before the cut are still good.
            end = self.buffer.rfind(b"\n", written, size) + 1 or written
        elif view[committed - 1] != ord("\n"):
            return f"segment {i}: its committed bytes do not end a line"
        if end > written and self.buffer.find(b"\0", written, end) >= 0:
            return f"segment {i}: NUL bytes among its lines"
        recorded = []
        expected = written
        for k in range(placements):
            stamp, offset, first, last = _PIECE_RECORD.struct.unpack_from(view, _slot_at(header_at, k))
            if not first < last <= length:
                return f"segment {i} placement {k}: bytes [{first}, {last}) are not in the segment"
            piece_start, piece_end = start + first, start + last
            if piece_end <= written:
                continue  # written already: recorded before written moved past it, not cleared yet
            if piece_start != expected:
                return f"segment {i} placement {k}: does not follow the bytes before it"
            name = stamp.partition(b"\0")[0]
            if not _STAMP.fullmatch(name):
                return f"segment {i} placement {k}: not a log file stamp"
            if piece_end <= size and view[piece_end - 1] != ord("\n"):
                return f"segment {i} placement {k}: does not end a line"
            expected = piece_end
            if piece_start < end:
                recorded.append(RecordedPiece(name.decode(), offset, piece_start, min(piece_end, end)))
        if end > written:
            found.append((seq, i, SegmentToRecover(i, written, end, recorded)))
        if end < committed:
            return f"segment {i}: cut by the end of the file, {committed - end} bytes of lines lost"
        return None

    def record_placements(self, index: int, placements: Sequence[Tuple[str, int, int, int]]) -> None:
        """Record where the next pieces of segment ``index`` go, before any is written (the write-ahead).

        ``placements`` lists ``(stamp, offset, start, end)`` (offsets into the
        writable buffer, as read() gives them), contiguous from the segment's
        ``written``; at most _core.PLACEMENT_SLOTS.  Slots still in use must all
        be behind ``written`` (record_written was cut short before clearing them).
        """
        header_at, start, length, in_use, written = self._segment_to_record(index)
        if not 0 < len(placements) <= _MAX_PLACEMENTS:
            raise ValueError(f"{len(placements)} placements: a segment records 1 to {_MAX_PLACEMENTS} "
                             "at a time")
        for k in range(min(in_use, _MAX_PLACEMENTS)):
            _, _, _, end = _PIECE_RECORD.struct.unpack_from(self.buffer, _slot_at(header_at, k))
            if end > written:
                raise ValueError(f"segment {index} still has recorded pieces not written")
        expected = start + written
        limit = min(start + length, len(self.buffer))
        records = []
        for stamp, offset, piece_start, piece_end in placements:
            name = stamp.encode()
            if not (piece_start == expected < piece_end <= limit and len(name) <= _STAMP_BYTES
                    and 0 <= offset <= _MAX_OFFSET):
                raise ValueError(f"cannot record {stamp!r} at {offset} for bytes "
                                 f"[{piece_start}, {piece_end}) of segment {index}")
            records.append((name, offset, piece_start - start, piece_end - start))
            expected = piece_end
        # The count last: a process killed while the slots are filled leaves none of them counted.
        _SEGMENT_HEADER.store(self.buffer, header_at, "placements", 0)
        for k, record in enumerate(records):
            # The stamp NUL-padded, as the ring stores it.
            _PIECE_RECORD.struct.pack_into(self.buffer, _slot_at(header_at, k), *record)
        _SEGMENT_HEADER.store(self.buffer, header_at, "placements", len(records))

    def record_written(self, index: int, written: int) -> None:
        """Bytes of segment ``index`` before ``written`` (an offset into the buffer) are in their files."""
        header_at, start, length, _, written_before = self._segment_to_record(index)
        if not start + written_before <= written <= start + length:
            raise ValueError(f"{written} is not between segment {index}'s written mark and its length")
        # written first, then the slots freed: move_written's order (src/layout.pxi), for the same reason.
        _SEGMENT_HEADER.store(self.buffer, header_at, "written", written - start)
        _SEGMENT_HEADER.store(self.buffer, header_at, "placements", 0)

    def _segment_to_record(self, index: int) -> Tuple[int, int, int, int, int]:
        """Where segment index's header and bytes are, then its length, placements and written."""
        geometry = self._checked_header()
        if not 0 <= index < geometry.segment_count:
            raise IndexError(f"segment {index} is not in the file")
        header_at = _segment_header_at(index)
        _, length, _, placements, written = _SEGMENT_HEADER.struct.unpack_from(self.buffer, header_at)
        return header_at, geometry.data_offset + index * geometry.segment_size, length, placements, written


def recorded_stamps(read: Callable[[int, int], bytes]) -> Set[str]:
    """The stamps of the log files a buffer file records pieces for, in segments not free.

    ``read(size, offset)`` reads the file (os.pread); the file may be live and
    changing.  A recorded piece may be written already: the answer errs on the
    side of naming a file.  A file still all zeros at its start (being created)
    records nothing.  Raises ValueError when its header is not a buffer file's.
    """
    first = read(_FILE_HEADER.size, 0)
    if not any(first):
        return set()
    count = _FILE_HEADER.struct.unpack_from(first, 0)[2] if len(first) == _FILE_HEADER.size else 0
    if not _FEWEST_SEGMENTS <= count <= _MOST_SEGMENTS:
        raise ValueError("not a fastevlog buffer file header")
    header = read(_segment_header_at(count), 0)
    DeadBufferFile(header)._checked_header()
    stamps = set()
    for i in range(count):
        header_at = _segment_header_at(i)
        _, length, state, placements, _ = _SEGMENT_HEADER.struct.unpack_from(header, header_at)
        if state == _FREE or length == 0:
            continue
        for k in range(min(placements, _MAX_PLACEMENTS)):
            stamp = _PIECE_RECORD.struct.unpack_from(header, _slot_at(header_at, k))[0]
            stamps.add(stamp.partition(b"\0")[0].decode("ascii", "replace"))
    return stamps


def _segment_header_at(index: int) -> int:
    return _FILE_HEADER.size + index * _SEGMENT_HEADER.size


def _slot_at(header_at: int, k: int) -> int:
    """Where placement slot k of the segment header at header_at is."""
    return header_at + _PLACEMENT_AT + k * _PIECE_RECORD.size


def _count_nonzero(view: memoryview) -> int:
    size = len(view)
    return size - sum(bytes(view[at:at + _ZEROS_AT_ONCE]).count(0) for at in range(0, size, _ZEROS_AT_ONCE))
