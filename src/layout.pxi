# The buffer file: a header, then the ring of segments.
#
# The file is memory-mapped by the process that logs, so its content survives
# the process being killed; recovery (fastevlog/_recovery.py) reads it through
# read_buffer_file() below, so the layout is defined in this one place.
#
# Exactly once after a crash: before a segment's bytes are written, the
# scheduler records here where each piece goes (file and offset).  Recovery
# writes every recorded piece again at the same place (only where the file does
# not hold it already), which completes a piece that was cut short, then places
# the bytes that had no place yet in new files, recording them here first in
# the same way: a recovery killed midway is resumed by the next one, not
# repeated.  A segment is marked free only once all its pieces are written.  A
# segment that spans more files than it has placement slots is placed a few
# pieces at a time: once the pieces recorded so far are all written, ``written``
# moves past them (stored before the slots are cleared) and the slots are
# reused for what follows.

cdef enum:
    FORMAT_VERSION = 3
    PAGE_BYTES = 4096
    SEG_FREE = 0             # empty, or its lines already reached a log file
    SEG_ACTIVE = 1           # receiving lines
    SEG_SEALED = 2           # handed to the writers, not all written yet

cdef const char *BUFFER_MAGIC = b"FEVLBUF\0"


cdef inline SegmentHeader *segment_header(FileHeader *header, Py_ssize_t index) noexcept nogil:
    return (<SegmentHeader *> (<char *> header + sizeof(FileHeader))) + index


cdef inline Py_ssize_t header_bytes(Py_ssize_t segment_count) noexcept nogil:
    cdef Py_ssize_t size = sizeof(FileHeader) + segment_count * sizeof(SegmentHeader)
    return (size + PAGE_BYTES - 1) // PAGE_BYTES * PAGE_BYTES


cdef inline void store_placement(PieceRecord *placed, bytes name, uint64_t offset, uint32_t start,
                                 uint32_t end) noexcept:
    """Fill a placement slot (the caller publishes it by raising the segment's placements count)."""
    memset(placed.stamp, 0, STAMP_BYTES)
    memcpy(placed.stamp, PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name))
    placed.offset = offset
    placed.start = start
    placed.end = end


cdef inline void move_written(SegmentHeader *seg, uint64_t written) noexcept nogil:
    """The recorded pieces are written up to ``written`` (relative to the segment): free the slots.

    written first: a crash between the two stores leaves slots that lie below
    written, which recovery skips; the other order would leave written bytes
    with no record, which recovery would write again.
    """
    fevl_store_release_u64(&seg.written, written)
    fevl_store_release_u32(&seg.placements, 0)


SEGMENT_COUNT_RANGE = (MIN_SEGMENTS, MAX_SEGMENTS)   # what _attach accepts
PLACEMENT_SLOTS = MAX_PLACEMENTS                     # pieces of a segment recorded at a time


def buffer_file_size(Py_ssize_t segment_count, Py_ssize_t segment_size):
    """Bytes a buffer file of this geometry occupies."""
    return header_bytes(segment_count) + segment_count * segment_size


# -- recovery's side: reading a dead process's file, recording its own progress --
#
# Anyone who can write the log directory can plant a buffer file, so nothing
# read here is trusted: the geometry must fit the file, every range must lie in
# its segment and end a line, every stamp must be one LogFiles makes (a plain
# name: no "/" or "..") and the bytes to write must hold no NUL.  A segment that
# fails a check is reported as a problem and left in the file; a header that
# fails one makes the whole file unreadable (ValueError).

import collections

BufferContents = collections.namedtuple("BufferContents", "header_bytes segments problems")
SegmentToRecover = collections.namedtuple("SegmentToRecover", "number written end placements")
RecordedPiece = collections.namedtuple("RecordedPiece", "stamp offset start end")


cdef bint _all_zero(const unsigned char *p, Py_ssize_t size) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(size):
        if p[i]:
            return False
    return True


cdef Py_ssize_t _count_nonzero(const unsigned char *p, Py_ssize_t size) noexcept nogil:
    cdef Py_ssize_t i, n = 0
    for i in range(size):
        n += p[i] != 0
    return n


cdef bint _digits(const char *p, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if not b'0' <= p[i] <= b'9':
            return False
    return True


cdef bint _valid_stamp(const char *stamp) noexcept nogil:
    """YYYYMMDD_HHMMSS, optionally _ and a 6 to 8 digit suffix: the stamps LogFiles makes."""
    cdef Py_ssize_t n = strnlen(stamp, STAMP_BYTES)
    if n < 15 or not (_digits(stamp, 8) and stamp[8] == b'_' and _digits(stamp + 9, 6)):
        return False
    return n == 15 or (22 <= n <= 24 and stamp[15] == b'_' and _digits(stamp + 16, n - 16))


cdef FileHeader *_checked_header(const unsigned char *base, Py_ssize_t size) except NULL:
    """The file's header, once its fields are known to describe a ring this file can hold a table of."""
    if size < <Py_ssize_t> sizeof(FileHeader):
        raise ValueError(f"{size} bytes is shorter than a buffer file's header")
    cdef FileHeader *header = <FileHeader *> base
    if memcmp(header.magic, BUFFER_MAGIC, 8) != 0:
        raise ValueError("not a fastevlog buffer file: bad magic")
    if header.version != FORMAT_VERSION:
        raise ValueError(f"buffer file format {header.version} is not supported (expected {FORMAT_VERSION})")
    # Placements address a segment's bytes with 32 bits; the bound also keeps the sums below from overflowing.
    if (not MIN_SEGMENTS <= header.segment_count <= MAX_SEGMENTS or header.segment_size == 0
            or header.segment_size > 0xFFFFFFFF
            or header.data_offset != <uint64_t> header_bytes(header.segment_count)):
        raise ValueError("corrupt buffer file header: bad segment geometry")
    if sizeof(FileHeader) + header.segment_count * sizeof(SegmentHeader) > <size_t> size:
        raise ValueError(f"truncated inside its header: {size} bytes")
    return header


cdef str _read_segment(SegmentHeader *seg, uint32_t i, FileHeader *header, const unsigned char *base,
                       Py_ssize_t size, list segments):
    """Check segment i; append what of it is to be recovered to segments; a problem (str) or None."""
    if seg.state == SEG_FREE or seg.length == 0:
        return None  # empty, or all of it reached its files (the release may have been cut short)
    if seg.state != SEG_ACTIVE and seg.state != SEG_SEALED:
        return f"segment {i}: unknown state {seg.state}"
    if seg.length > header.segment_size or seg.written > seg.length or seg.placements > MAX_PLACEMENTS:
        return f"segment {i}: corrupt header (length {seg.length}, written {seg.written})"
    if seg.written == seg.length:
        return None
    cdef Py_ssize_t start = header.data_offset + i * header.segment_size
    cdef Py_ssize_t written = start + seg.written
    cdef Py_ssize_t committed = start + seg.length
    cdef Py_ssize_t end = committed
    cdef const void *newline
    if committed > size:
        # Cut by the end of the file: the whole lines before the cut are still good.
        end = written
        if size > written:
            newline = memrchr(base + written, b'\n', size - written)
            if newline != NULL:
                end = <const unsigned char *> newline - base + 1
    elif base[committed - 1] != b'\n':
        return f"segment {i}: its committed bytes do not end a line"
    if end > written and memchr(base + written, 0, end - written) != NULL:
        return f"segment {i}: NUL bytes among its lines"
    placements = []
    cdef Py_ssize_t expected = written, piece_start, piece_end
    cdef uint32_t k
    cdef PieceRecord *placed
    for k in range(seg.placements):
        placed = &seg.placement[k]
        if not placed.start < placed.end <= seg.length:
            return f"segment {i} placement {k}: bytes [{placed.start}, {placed.end}) are not in the segment"
        piece_start, piece_end = start + placed.start, start + placed.end
        if piece_end <= written:
            continue  # written already: recorded before written moved past it, not cleared yet
        if piece_start != expected:
            return f"segment {i} placement {k}: does not follow the bytes before it"
        if not _valid_stamp(placed.stamp):
            return f"segment {i} placement {k}: not a log file stamp"
        if piece_end <= size and base[piece_end - 1] != b'\n':
            return f"segment {i} placement {k}: does not end a line"
        expected = piece_end
        if piece_start < end:
            stamp = PyBytes_FromStringAndSize(placed.stamp, strnlen(placed.stamp, STAMP_BYTES)).decode()
            placements.append(RecordedPiece(stamp, placed.offset, piece_start, min(piece_end, end)))
    if end > written:
        segments.append((seg.seq, i, SegmentToRecover(i, written, end, placements)))
    if end < committed:
        return f"segment {i}: cut by the end of the file, {committed - end} bytes of lines lost"
    return None


def read_buffer_file(buffer):
    """What of a buffer file is still to be written to log files.

    ``buffer`` is anything exporting the buffer protocol, e.g. a Mapping of the
    file.  Returns ``BufferContents(header_bytes, segments, problems)``:
    ``segments`` lists ``SegmentToRecover(number, written, end, placements)`` in
    the order the segments were filled (``number`` is its place in the ring,
    for record_placements and record_written): ``buffer[written:end]`` are whole
    lines not known to be in their files; ``placements`` lists ``RecordedPiece(stamp,
    offset, start, end)``, contiguous from ``written``: ``buffer[start:end]``
    belongs at ``offset`` of ``{log_file}_{stamp}.log`` (written, partly
    written or not yet); bytes past the last one had no place yet.  All offsets
    are into ``buffer``.  ``problems`` describes each segment that cannot be
    recovered (whole or in part: a file cut short keeps the whole lines before
    the cut).  A file of zero bytes only has nothing to recover.  Raises
    ValueError when the file as a whole cannot be read.
    """
    cdef const unsigned char[::1] view = buffer
    cdef Py_ssize_t size = view.shape[0]
    if size == 0 or _all_zero(&view[0], size):
        return BufferContents(0, [], [])  # created, but its process ended before logging into it
    cdef const unsigned char *base = &view[0]
    cdef char unset[8]
    memset(unset, 0, 8)
    if size >= 8 and memcmp(base, unset, 8) == 0:
        raise ValueError(f"its header is zeroed but {_count_nonzero(base, size):,} of its "
                         f"{size:,} bytes are not")
    cdef FileHeader *header = _checked_header(base, size)
    found = []
    problems = []
    cdef uint32_t i
    for i in range(header.segment_count):
        problem = _read_segment(segment_header(header, i), i, header, base, size, found)
        if problem is not None:
            problems.append(problem)
    found.sort()
    return BufferContents(header.data_offset, [entry[2] for entry in found], problems)


cdef SegmentHeader *_segment_to_record(unsigned char[::1] view, Py_ssize_t index,
                                       Py_ssize_t *start) except NULL:
    cdef FileHeader *header = _checked_header(&view[0], view.shape[0])
    if not 0 <= index < header.segment_count:
        raise IndexError(f"segment {index} is not in the file")
    start[0] = header.data_offset + index * header.segment_size
    return segment_header(header, index)


def record_placements(buffer, Py_ssize_t index, placements):
    """Record where the next pieces of segment ``index`` go, before any is written (recovery's write-ahead).

    ``placements`` lists ``(stamp, offset, start, end)`` (offsets into the
    writable ``buffer``, as read_buffer_file gives them), contiguous from the
    segment's ``written``; at most PLACEMENT_SLOTS.  Slots still in use must
    all be behind ``written`` (record_written was cut short before clearing them).
    """
    cdef unsigned char[::1] view = buffer
    cdef Py_ssize_t start = 0
    cdef SegmentHeader *seg = _segment_to_record(view, index, &start)
    cdef Py_ssize_t expected = start + seg.written
    cdef Py_ssize_t limit = min(start + <Py_ssize_t> seg.length, view.shape[0])
    cdef uint32_t k
    if not 0 < len(placements) <= MAX_PLACEMENTS:
        raise ValueError(f"{len(placements)} placements: a segment records 1 to {MAX_PLACEMENTS} at a time")
    for k in range(min(seg.placements, MAX_PLACEMENTS)):
        if seg.placement[k].end > seg.written:
            raise ValueError(f"segment {index} still has recorded pieces not written")
    names = []
    for stamp, offset, piece_start, piece_end in placements:
        name = stamp.encode()
        if not (piece_start == expected < piece_end <= limit and len(name) <= STAMP_BYTES and offset >= 0):
            raise ValueError(f"cannot record {stamp!r} at {offset} for bytes [{piece_start}, {piece_end}) "
                             f"of segment {index}")
        names.append(name)
        expected = piece_end
    fevl_store_release_u32(&seg.placements, 0)
    for k, (stamp, offset, piece_start, piece_end) in enumerate(placements):
        store_placement(&seg.placement[k], names[k], offset, <uint32_t> (piece_start - start),
                        <uint32_t> (piece_end - start))
    fevl_store_release_u32(&seg.placements, len(placements))


def record_written(buffer, Py_ssize_t index, Py_ssize_t written):
    """Bytes of segment ``index`` before ``written`` (an offset into ``buffer``) are in their files."""
    cdef unsigned char[::1] view = buffer
    cdef Py_ssize_t start = 0
    cdef SegmentHeader *seg = _segment_to_record(view, index, &start)
    if not start + <Py_ssize_t> seg.written <= written <= start + <Py_ssize_t> seg.length:
        raise ValueError(f"{written} is not between segment {index}'s written mark and its length")
    move_written(seg, <uint64_t> (written - start))
