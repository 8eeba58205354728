# The buffer file: a header, then the ring of segments (the structs are in src/fastevlog/_core.pxd).
#
# The file is memory-mapped by the process that logs, so its content survives
# the process being killed.  Recovery reads it in Python (fastevlog/_dead_buffer.py,
# which also tells how every line reaches the log files exactly once) through
# BUFFER_LAYOUT below: the layout as data measured on the structs, so it is never
# spelled out a second time.

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


# The layout for recovery's reader: each struct's size and each field's (offset, size) in bytes,
# measured on these instances, so they are the compiler's own.
cdef FileHeader _file
cdef SegmentHeader _seg
cdef PieceRecord _piece


cdef tuple _field(const void *field, const void *record, size_t size):
    return <const char *> field - <const char *> record, size


BUFFER_LAYOUT = {
    "magic": BUFFER_MAGIC[:8], "format_version": FORMAT_VERSION, "page_bytes": PAGE_BYTES,
    "stamp_bytes": STAMP_BYTES, "max_placements": MAX_PLACEMENTS,
    "segment_count_range": SEGMENT_COUNT_RANGE,
    "segment_states": {"free": SEG_FREE, "active": SEG_ACTIVE, "sealed": SEG_SEALED},
    "FileHeader": (sizeof(FileHeader), {
        "magic": _field(&_file.magic, &_file, sizeof(_file.magic)),
        "version": _field(&_file.version, &_file, sizeof(_file.version)),
        "segment_count": _field(&_file.segment_count, &_file, sizeof(_file.segment_count)),
        "segment_size": _field(&_file.segment_size, &_file, sizeof(_file.segment_size)),
        "data_offset": _field(&_file.data_offset, &_file, sizeof(_file.data_offset)),
        "pid": _field(&_file.pid, &_file, sizeof(_file.pid))}),
    "SegmentHeader": (sizeof(SegmentHeader), {
        "seq": _field(&_seg.seq, &_seg, sizeof(_seg.seq)),
        "length": _field(&_seg.length, &_seg, sizeof(_seg.length)),
        "events": _field(&_seg.events, &_seg, sizeof(_seg.events)),
        "state": _field(&_seg.state, &_seg, sizeof(_seg.state)),
        "placements": _field(&_seg.placements, &_seg, sizeof(_seg.placements)),
        "written": _field(&_seg.written, &_seg, sizeof(_seg.written)),
        "placement": _field(&_seg.placement, &_seg, sizeof(_seg.placement))}),
    "PieceRecord": (sizeof(PieceRecord), {
        "stamp": _field(&_piece.stamp, &_piece, sizeof(_piece.stamp)),
        "offset": _field(&_piece.offset, &_piece, sizeof(_piece.offset)),
        "start": _field(&_piece.start, &_piece, sizeof(_piece.start)),
        "end": _field(&_piece.end, &_piece, sizeof(_piece.end))}),
}
