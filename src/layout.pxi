# The buffer file: a header, then the ring of segments.
#
# The file is memory-mapped by the process that logs, so its content survives
# the process being killed; recovery (fastevlog/_recovery.py) reads it through
# read_buffer_file() below, so the layout is defined in this one place.
#
# Exactly once after a crash: before a segment's bytes are written, the
# scheduler records here where each piece goes (file and offset).  Recovery
# writes every recorded piece again at the same place, which changes nothing
# for a piece that was already written and completes one that was cut short,
# then places the bytes that had no place yet in new files.  A segment is
# marked free only once all its pieces are written.  A segment that spans more
# files than it has placement slots is placed a few pieces at a time: once the
# pieces recorded so far are all written, ``written`` moves past them (stored
# before the slots are cleared) and the slots are reused for what follows.

cdef extern from "fevl.h":
    void fevl_store_release_u64(uint64_t *p, uint64_t v) nogil
    void fevl_store_release_u32(uint32_t *p, uint32_t v) nogil

cdef enum:
    FORMAT_VERSION = 3
    PAGE_BYTES = 4096
    MAX_SEGMENTS = 1024
    MIN_SEGMENTS = 4
    MAX_PLACEMENTS = 4       # pieces recorded per segment at a time (see written)
    STAMP_BYTES = 24         # "YYYYMMDD_HHMMSS_NNNNNN", NUL-padded: the file is {log_file}_{stamp}.log
    SEG_FREE = 0             # empty, or its lines already reached a log file
    SEG_ACTIVE = 1           # receiving lines
    SEG_SEALED = 2           # handed to the writers, not all written yet

cdef struct Placement:
    char stamp[STAMP_BYTES]  # which file
    uint64_t offset          # where in it
    uint32_t start           # which bytes of the segment, relative to its start
    uint32_t end

cdef struct SegmentHeader:
    uint64_t seq             # activation order; recovery replays segments in it
    uint64_t length          # committed bytes: only whole lines lie below it
    uint64_t events          # lines below length
    uint32_t state           # SEG_*
    uint32_t placements      # entries of placement in use (published after them)
    uint64_t written         # bytes [0, written) are in their files; placements start at or after it
    Placement placement[MAX_PLACEMENTS]

cdef struct FileHeader:
    char magic[8]            # BUFFER_MAGIC
    uint32_t version         # FORMAT_VERSION
    uint32_t segment_count
    uint64_t segment_size
    uint64_t data_offset     # where segment 0 starts: the header rounded up to a page
    uint64_t pid             # the process that owns the file, for messages only
    uint64_t reserved[2]
    # followed by SegmentHeader[segment_count]

cdef const char *BUFFER_MAGIC = b"FEVLBUF\0"


cdef inline SegmentHeader *segment_header(FileHeader *header, Py_ssize_t index) noexcept nogil:
    return (<SegmentHeader *> (<char *> header + sizeof(FileHeader))) + index


cdef inline Py_ssize_t header_bytes(Py_ssize_t segment_count) noexcept nogil:
    cdef Py_ssize_t size = sizeof(FileHeader) + segment_count * sizeof(SegmentHeader)
    return (size + PAGE_BYTES - 1) // PAGE_BYTES * PAGE_BYTES


SEGMENT_COUNT_RANGE = (MIN_SEGMENTS, MAX_SEGMENTS)   # what _attach accepts
PLACEMENT_SLOTS = MAX_PLACEMENTS                     # pieces of a segment recorded at a time


def buffer_file_size(Py_ssize_t segment_count, Py_ssize_t segment_size):
    """Bytes a buffer file of this geometry occupies."""
    return header_bytes(segment_count) + segment_count * segment_size


def read_buffer_file(buffer):
    """Segments of a buffer file that still hold lines not known to be in a log file.

    Returns a list of ``(start, end, events, placements)``, in the order the
    segments were filled: ``buffer[start:end]`` are the segment's lines not
    known to be written yet (``events`` counts all of the segment's lines), and
    ``placements`` lists ``(stamp, offset, start, end)``: the bytes
    ``buffer[start:end]`` belong at ``offset`` of ``{log_file}_{stamp}.log``
    (written, partly written or not yet).  Bytes of the segment past the last
    placement had no place yet.  ``buffer`` is anything exporting the buffer
    protocol, e.g. an mmap of the file.  Raises ValueError when it is not a
    buffer file of a format this version understands.
    """
    cdef const unsigned char[::1] view = buffer
    cdef Py_ssize_t size = view.shape[0]
    if size < <Py_ssize_t> sizeof(FileHeader):
        raise ValueError(f"not a fastevlog buffer file: {size} bytes is shorter than the header")
    cdef FileHeader *header = <FileHeader *> &view[0]
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
    if (header.data_offset != <uint64_t> header_bytes(header.segment_count)
            or header.data_offset + header.segment_count * header.segment_size > <uint64_t> size):
        raise ValueError("corrupt buffer file header: the ring does not fit the file")
    found = []
    cdef uint32_t i, k
    cdef SegmentHeader *seg
    cdef Placement *placed
    for i in range(header.segment_count):
        seg = segment_header(header, i)
        if seg.state == SEG_FREE or seg.length == 0:
            continue
        if (seg.length > header.segment_size or seg.placements > MAX_PLACEMENTS
                or seg.written > seg.length):
            raise ValueError(f"corrupt buffer file header: segment {i}")
        if seg.written == seg.length:
            continue  # every byte reached its file; only the release was missing
        start = header.data_offset + i * header.segment_size
        placements = []
        for k in range(seg.placements):
            placed = &seg.placement[k]
            if not seg.written <= placed.start < placed.end <= seg.length:
                raise ValueError(f"corrupt buffer file header: segment {i} placement {k}")
            stamp = PyBytes_FromStringAndSize(placed.stamp, strnlen(placed.stamp, STAMP_BYTES)).decode()
            placements.append((stamp, placed.offset, start + placed.start, start + placed.end))
        found.append((seg.seq, start + seg.written, start + seg.length, seg.events, placements))
    found.sort()
    return [entry[1:] for entry in found]
