# The buffer file: a small header, then the ring of segments.
#
# The file is memory-mapped by the process that logs, so its content survives
# the process being killed; recovery (fastevlog/_recovery.py) reads it through
# read_buffer_file() below, so the layout is defined in this one place.

cdef extern from "fevl.h":
    void fevl_store_release_u64(uint64_t *p, uint64_t v) nogil
    void fevl_store_release_u32(uint32_t *p, uint32_t v) nogil

cdef enum:
    FORMAT_VERSION = 1
    HEADER_BYTES = 4096      # segment data starts on the second page
    MAX_SEGMENTS = 64
    MIN_SEGMENTS = 4
    SEG_FREE = 0             # empty, or its lines already reached a log file
    SEG_ACTIVE = 1           # receiving lines
    SEG_SEALED = 2           # handed to the writers, not all written yet

cdef struct SegmentHeader:
    uint64_t seq             # activation order; recovery replays segments in it
    uint64_t length          # committed bytes: only whole lines lie below it
    uint64_t events          # lines below length
    uint32_t state           # SEG_*
    uint32_t reserved

cdef struct FileHeader:
    char magic[8]            # BUFFER_MAGIC
    uint32_t version         # FORMAT_VERSION
    uint32_t segment_count
    uint64_t segment_size
    uint64_t pid             # the process that owns the file, for messages only
    uint64_t reserved[4]
    SegmentHeader segments[MAX_SEGMENTS]

cdef const char *BUFFER_MAGIC = b"FEVLBUF\0"


def buffer_file_size(Py_ssize_t segment_count, Py_ssize_t segment_size):
    """Bytes a buffer file of this geometry occupies."""
    return HEADER_BYTES + segment_count * segment_size


def read_buffer_file(buffer):
    """Segments of a buffer file that still hold lines not yet in a log file.

    Returns a list of ``(start, end, events)`` byte ranges of ``buffer`` (any
    object exporting the buffer protocol, e.g. an mmap of the file), in the
    order the segments were filled.  Raises ValueError when ``buffer`` is not a
    buffer file of a format this version understands.
    """
    cdef const unsigned char[::1] view = buffer
    cdef Py_ssize_t size = view.shape[0]
    if size < HEADER_BYTES:
        raise ValueError(f"not a fastevlog buffer file: {size} bytes is shorter than the header")
    cdef const FileHeader *header = <const FileHeader *> &view[0]
    cdef char unset[8]
    memset(unset, 0, 8)
    if memcmp(header.magic, unset, 8) == 0:
        return []  # created, but its process ended before logging into it
    if memcmp(header.magic, BUFFER_MAGIC, 8) != 0:
        raise ValueError("not a fastevlog buffer file: bad magic")
    if header.version != FORMAT_VERSION:
        raise ValueError(f"buffer file format {header.version} is not supported (expected {FORMAT_VERSION})")
    if not MIN_SEGMENTS <= header.segment_count <= MAX_SEGMENTS or header.segment_size == 0:
        raise ValueError("corrupt buffer file header: bad segment geometry")
    if HEADER_BYTES + header.segment_count * header.segment_size > <uint64_t> size:
        raise ValueError("buffer file is shorter than its header says")
    found = []
    cdef uint32_t i
    cdef const SegmentHeader *seg
    for i in range(header.segment_count):
        seg = &header.segments[i]
        if seg.state == SEG_FREE or seg.length == 0:
            continue
        if seg.length > header.segment_size:
            raise ValueError(f"corrupt buffer file header: segment {i} length {seg.length}")
        start = HEADER_BYTES + i * header.segment_size
        found.append((seg.seq, start, start + seg.length, seg.events))
    found.sort()
    return [(start, end, events) for _, start, end, events in found]


SEGMENT_COUNT_RANGE = (MIN_SEGMENTS, MAX_SEGMENTS)   # what _attach accepts
