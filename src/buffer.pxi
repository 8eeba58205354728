# EventBuffer: log() encodes each event as one JSON line straight into the
# active segment of a memory-mapped ring; the Python layer takes sealed
# segments to the writers and hands them back once written.
#
# Concurrency.  Every method runs with the GIL held, and log() never lets it go
# between reserving room in a segment and committing the line: it calls no
# Python code there (str() of odd field values happens before the reservation)
# and the only waits (a full ring with on_full="block"; stepping aside for a
# writer, see _step_aside) happen before it too, with the GIL released and no
# native lock held, and are followed by a check that the logger still runs.
# So on CPython with a GIL reservation is a plain pointer bump and no native
# lock exists at all.
#
# Without the GIL (free-threaded CPython) this module is not declared
# freethreading_compatible, so importing it re-enables the GIL and all of the
# above still holds.  Dropping that requirement means: reserve with an atomic
# fetch-add on the active segment's cursor, count committed bytes with a second
# atomic so a segment is sealed only once reserved == committed, and move the
# free list, the sealed list and the counters behind atomics or a mutex taken
# only with the GIL-equivalent released.

cdef extern from "<unistd.h>" nogil:
    int usleep(unsigned int usec)

from cpython.buffer cimport PyBUF_SIMPLE
from posix.types cimport off_t
from posix.uio cimport iovec, pwritev

cdef extern from "<errno.h>" nogil:
    int errno
    int EINTR

cdef extern from "<string.h>" nogil:
    char *strerror(int errnum)

cdef extern from "<poll.h>" nogil:
    struct pollfd:
        int fd
        short events
        short revents
    int poll(pollfd *fds, unsigned long nfds, int timeout)
    short POLLIN

cdef extern from "fevl.h" nogil:
    void fevl_atomic_add_int(int *p, int v)
    int fevl_atomic_load_int(const int *p)

cdef struct IdJson:
    const char *json             # the encoded id from its IdSlot, or NULL to encode key
    Py_ssize_t length
    PyObject *key                # exact str, exact int, or bytes (digits of a big int)


cdef enum:
    PLANNED_MOST = 16            # fields whose kinds _fields_bound keeps for _put_fields

    VALUE_SKIP = 0               # a keyword naming a parameter, not a field
    VALUE_NULL = 1
    VALUE_TRUE = 2
    VALUE_FALSE = 3
    VALUE_STR = 4
    VALUE_INT = 5                # its value in Fields.number
    VALUE_FLOAT = 6

cdef struct Fields:
    PyObject **values            # the call's keyword values
    PyObject *names              # the call's keyword names (a tuple), or NULL
    Py_ssize_t count             # keywords in names; those naming a parameter are skipped
    bint has_parameters          # whether any does (rare: log("INFO", event_id="e"))
    # What _fields_bound found out about each value, so _put_fields need not
    # find it again: set when no value needed converting and count <= PLANNED_MOST.
    bint planned
    unsigned char kind[PLANNED_MOST]     # VALUE_*
    int64_t number[PLANNED_MOST]


cdef enum:
    LEVEL_COUNT = 5
    SMALL_LINE = 4096        # below this, sealing a segment early wastes little


LEVEL_NAMES = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LEVEL_VALUES = (10, 20, 30, 40, 50)

# ',"level":"INFO","event_id":' and the like, one per level.
cdef bytes _level_infix(str name):
    return ('","level":"' + name + '","event_id":').encode()

cdef tuple LEVEL_INFIXES = tuple(_level_infix(name) for name in LEVEL_NAMES)
cdef const char *LEVEL_INFIX[5]          # the same, for code without the GIL
cdef Py_ssize_t LEVEL_INFIX_LENGTH[5]
for _i, _infix in enumerate(LEVEL_INFIXES):
    LEVEL_INFIX[_i] = PyBytes_AS_STRING(_infix)
    LEVEL_INFIX_LENGTH[_i] = PyBytes_GET_SIZE(_infix)
cdef const char *MESSAGE_KEY = b',"message":'

_LEVEL_BY_NAME = {name: i for i, name in enumerate(LEVEL_NAMES)}
_LEVEL_BY_NAME["WARN"] = 2   # the stdlib's aliases
_LEVEL_BY_NAME["FATAL"] = 4


cpdef int level_index(object level) except -1:
    """0..4 for DEBUG..CRITICAL, from a name (any case) or a stdlib int."""
    # Literal names are interned, so the common call is one pointer compare.
    if level is "INFO":
        return 1
    if level is "ERROR":
        return 3
    if level is "DEBUG":
        return 0
    if level is "WARNING":
        return 2
    if level is "CRITICAL":
        return 4
    cdef object index = None
    if isinstance(level, str):
        if level.isascii():  # str.upper() would map e.g. a dotless "ı" to "I"
            index = _LEVEL_BY_NAME.get(level.upper())
    elif isinstance(level, int) and not isinstance(level, bool):
        if level in LEVEL_VALUES:
            index = LEVEL_VALUES.index(level)
    if index is None:
        raise ValueError(
            f"unknown level {level!r}: valid levels are DEBUG, INFO, WARNING, ERROR, "
            "CRITICAL (any case) or the stdlib's 10, 20, 30, 40, 50")
    return index


cdef inline object exact_event_id(object event_id):
    """event_id as an exact str or int, so counting never runs Python code."""
    if type(event_id) is str or (type(event_id) is int):
        return event_id
    if isinstance(event_id, str):
        return PyUnicode_Substring(event_id, 0, PyUnicode_GET_LENGTH(event_id))
    if isinstance(event_id, int) and not isinstance(event_id, bool):
        return PyNumber_Index(event_id)
    raise TypeError(f"event_id must be str or int, not {type(event_id).__name__}")


def _noop(level, event_id, message=None):
    """Does nothing: the cost of calling into this module with log()'s arguments."""
    return None


class LoggerStoppedError(RuntimeError):
    """The logger was stopped while log() or log_many() ran (waiting for room, or between chunks).

    Attributes:
        accepted: rows of the interrupted call that were logged: written to the
            buffer (so to the files, by stop()) and counted in counts() and
            metrics()["events_logged"].  They are the call's first rows at or
            above the logger's level; none of the others was logged, so a retry
            passes only the rows after them.  Always 0 for log().
    """
    __module__ = "fastevlog"

    def __init__(self, message, accepted=0):
        RuntimeError.__init__(self, message)
        self.accepted = accepted

    def __reduce__(self):  # keeps accepted across pickling (multiprocessing)
        return type(self), (str(self), self.accepted)


cdef class EventBuffer:
    """The ring of segments that log() writes JSON lines into.

    Inert until _attach() gives it a mapping; the Python layer
    (fastevlog.EventLogCounter) owns the mapping, scheduling and writing.
    """
    cdef Py_buffer _mapping          # the buffer file's Mapping, held while attached
    cdef bint _attached
    cdef FileHeader *_header
    cdef unsigned char *_data        # first byte of segment 0
    cdef Py_ssize_t _segment_size
    cdef int _segment_count
    cdef int _active                 # segment taking lines, -1 for none
    cdef unsigned char *_cursor      # next byte to write in the active segment
    cdef unsigned char *_limit       # end of the active segment
    cdef int _free[MAX_SEGMENTS]     # FIFO of free segment indices
    cdef int _free_head
    cdef int _free_count
    cdef list _sealed                # segment indices (int) and oversized lines (bytes), in seal order
    cdef uint64_t _sealed_total      # entries ever put in _sealed
    cdef uint64_t _next_seq
    cdef int _wake_fd                # written to on seal, so the scheduler wakes
    cdef int _min_level
    cdef bint _block_when_full
    cdef uint64_t _seal_after_events
    cdef bint _closed
    cdef uint64_t _level_counts[LEVEL_COUNT]
    cdef EventIdCounts _event_ids
    cdef uint64_t _logged
    cdef uint64_t _dropped
    cdef uint64_t _full_waits        # times a producer found the ring full and waited for the writers
    cdef Py_ssize_t _oversized_bytes  # lines longer than a segment, handed to the writers, not written yet
    cdef object _broken              # why a background thread ended (str), or None; then _closed is set
    cdef TimestampCache _clock
    cdef int _batches_in_flight      # log_many() calls filling segments with the GIL released
    cdef int _handback               # writer threads back from a write, waiting for the GIL (atomic)
    cdef int _wake_after             # entries sealed and not taken that wake the scheduler (see _attach)

    def __cinit__(self, *args, **kwargs):
        self._closed = True
        self._active = -1
        self._wake_fd = -1
        self._sealed = []
        self._event_ids = EventIdCounts()
        self._broken = None

    def __dealloc__(self):
        if self._attached:
            PyBuffer_Release(&self._mapping)

    def _attach(self, mapping, int segment_count, Py_ssize_t segment_size, int wake_fd,
                int min_level, bint block_when_full, uint64_t seal_after_events, int wake_after=1):
        """Start logging into ``mapping`` (a writable _core.Mapping of the buffer file).

        A segment sealed because it is full wakes the scheduler (a byte to
        wake_fd) only once wake_after sealed entries wait to be taken, so that
        each wake, and each write, carries that many: every one costs the
        producers GIL handoffs (see _step_aside).  Every other seal (flush(),
        the tick, buffer_size, one of log_many()'s own, an oversized line's)
        and a full ring wake it at once.
        """
        if self._attached:
            raise RuntimeError("buffer already attached")
        if not MIN_SEGMENTS <= segment_count <= MAX_SEGMENTS:
            raise ValueError(f"segment_count must be in [{MIN_SEGMENTS}, {MAX_SEGMENTS}]")
        if not 1 <= wake_after <= segment_count // 2:
            # Half the ring at most: the writers must hear of full segments before it fills.
            raise ValueError("wake_after must be in [1, segment_count // 2]")
        PyObject_GetBuffer(mapping, &self._mapping, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS)
        cdef Py_ssize_t data_offset = header_bytes(segment_count)
        if self._mapping.len < data_offset + segment_count * segment_size:
            PyBuffer_Release(&self._mapping)
            raise ValueError("mapping is smaller than the ring")
        self._attached = True
        self._header = <FileHeader *> self._mapping.buf
        self._data = <unsigned char *> self._mapping.buf + data_offset
        memset(self._header, 0, data_offset)
        memcpy(self._header.magic, BUFFER_MAGIC, 8)
        self._header.segment_count = segment_count
        self._header.segment_size = segment_size
        self._header.data_offset = data_offset
        self._header.pid = getpid()
        fevl_store_release_u32(&self._header.version, FORMAT_VERSION)
        self._segment_count = segment_count
        self._segment_size = segment_size
        for i in range(segment_count):
            self._free[i] = i
        self._free_head = 0
        self._free_count = segment_count
        self._wake_fd = wake_fd
        self._min_level = min_level
        self._block_when_full = block_when_full
        self._seal_after_events = seal_after_events
        self._wake_after = wake_after
        self._closed = False

    def _forget_after_fork(self):
        """In a forked child: drop the inherited ring (shared with the parent) and the counts.

        Nothing is written to the mapping: it is the parent's.  Threads that
        were inside log_many() did not survive the fork.
        """
        self._detach()
        self._sealed = []
        self._sealed_total = 0
        self._oversized_bytes = 0  # those lines were the parent's
        self._broken = None
        self._batches_in_flight = 0
        self._handback = 0  # the writer threads counted in it did not survive the fork
        self._event_ids = EventIdCounts()
        self._logged = self._dropped = self._full_waits = 0
        memset(self._level_counts, 0, sizeof(self._level_counts))

    def _detach(self):
        """Let go of the mapping so it can be closed.  log() raises from now on."""
        self._closed = True
        self._active = -1
        self._cursor = self._limit = NULL
        if self._attached:
            self._attached = False
            PyBuffer_Release(&self._mapping)

    # -- the hot path: log() and the level methods (see calls.pxi) ----------

    cdef int _log(self, int level, object event_id, object message, Fields *fields) except -1:
        """Encode one event into the ring; level is already checked against _min_level."""
        cdef object key = event_id                    # what counts() shows
        if type(key) is not str and type(key) is not int:
            # Checked here, not only in the call: whether the compiler inlines the
            # call depends on the size of the whole module, and this is the hot path.
            key = exact_event_id(key)
        cdef Py_ssize_t bound = 64 + TIMESTAMP_BYTES   # fixed keys, quotes, braces, newline: 59
        cdef IdSlot *slot = self._event_ids.slot_for(key)
        cdef uint64_t generation = self._event_ids.generation
        cdef int overflow
        cdef IdJson id_json
        id_json.json = slot.json
        id_json.length = slot.json_length
        cdef object written_key = key                  # what the line shows when not from the slot
        if id_json.json != NULL:
            bound += id_json.length
        elif type(key) is str:                          # past the distinct-id bound: encode it
            bound += STR_BOUND(PyUnicode_GET_LENGTH(key))
        else:
            PyLong_AsLongLongAndOverflow(key, &overflow)
            if overflow:
                written_key = str(key).encode()   # digits of a big int, written as they are
                bound += len(written_key)
            else:
                bound += INT_BOUND
        id_json.key = <PyObject *> written_key
        if message is not None:
            if not isinstance(message, str):
                message = str(message)
            bound += STR_BOUND(PyUnicode_GET_LENGTH(message))
        cdef list converted = None
        cdef Py_ssize_t fields_bound
        if fields.count:
            fields_bound = _fields_bound(fields, None)
            if fields_bound < 0:
                # str() may run any Python code: do it before reserving space.
                converted = _convert_fields(fields)
                fields_bound = _fields_bound(fields, converted)
            bound += fields_bound

        cdef unsigned char *p
        cdef unsigned char *line
        cdef Py_ssize_t length
        cdef bint placed
        # A bound that fits a segment and wastes little when it seals one early is reserved as is.
        cdef bint reserve_bound = bound <= SMALL_LINE and bound <= self._segment_size
        if bound <= self._limit - self._cursor:
            p = self._cursor                            # fast path: room in the active segment
        elif reserve_bound:
            p = self._reserve(bound)
        else:
            p = NULL
        if p != NULL:
            self._commit(self._encode(p, level, &id_json, message, fields, converted))
        elif reserve_bound:
            self._dropped += 1                          # the ring is full and on_full is "drop"
            return 0
        else:
            # A large line: encode it off to the side, then place its exact size.
            line = <unsigned char *> malloc(bound)
            if line == NULL:
                raise MemoryError()
            try:
                length = self._encode(line, level, &id_json, message, fields, converted) - line
                placed = self._place_large(line, length)
            finally:
                free(line)
            if not placed:
                return 0
        if self._event_ids.generation != generation:  # a wait in _reserve let other ids in
            slot = self._event_ids.slot_for(key)
        slot.count += 1
        self._logged += 1
        self._level_counts[level] += 1
        return 0

    cdef unsigned char *_encode(self, unsigned char *p, int level, const IdJson *event_id,
                                object message, const Fields *fields, list converted) except NULL:
        """Write the line; p has room for the bound _log computed."""
        p = put_raw(p, b'{"timestamp":"', 14)
        p = put_timestamp(p, &self._clock)
        p = put_raw(p, LEVEL_INFIX[level], LEVEL_INFIX_LENGTH[level])
        if event_id.json != NULL:
            p = put_raw(p, event_id.json, event_id.length)
        else:
            p = _put_value(p, <object> event_id.key)
        if message is not None:
            p = put_raw(p, MESSAGE_KEY, 11)
            p = put_str(p, message)
        if fields.count:
            p = _put_fields(p, fields, converted)
        p[0] = b'}'
        p[1] = b'\n'
        return p + 2

    cdef inline void _commit(self, unsigned char *end) noexcept:
        cdef SegmentHeader *seg = segment_header(self._header, self._active)
        self._cursor = end
        seg.events += 1
        # Publish the length after the bytes: recovery trusts everything below it.
        cdef unsigned char *start = self._data + self._active * self._segment_size
        fevl_store_release_u64(&seg.length, <uint64_t> (end - start))
        if seg.events >= self._seal_after_events:
            self._seal_active()

    cdef unsigned char *_reserve(self, Py_ssize_t size) except? NULL:
        """Room for size bytes (at most a segment) in the active segment.

        Seals the active segment and activates a free one when it lacks room.
        NULL when the ring is full and on_full is "drop"; with "block" waits,
        GIL released, until the writers hand a segment back.
        """
        while True:
            if self._active >= 0:
                if self._limit - self._cursor >= size:
                    return self._cursor
                # Full: the scheduler hears of it once wake_after entries wait (see _attach).
                self._seal_active(len(self._sealed) + 1 >= self._wake_after)
            if not self._wait_for_free_segment():
                return NULL
            if self._active < 0:  # another thread may have activated one meanwhile
                self._activate()

    cdef bint _wait_for_free_segment(self) except -1:
        """True once a segment is free; False at once when full and on_full is "drop".

        Waits with the GIL released, so the writers (and other producers) run.
        """
        if not self._free_count and self._block_when_full:
            self._full_waits += 1
        while not self._free_count:
            if not self._block_when_full:
                return False
            self._wake()
            with nogil:
                usleep(200)
            if self._closed:
                # Nothing of the call is logged yet, or log_many() says how much was.
                raise self._closed_error("this logger was stopped while log() waited for buffer space; "
                                         "the event was not logged")
        return True

    cdef object _closed_error(self, str stopped):
        """The LoggerStoppedError for a call finding the logger closed: ``stopped``, or why it broke."""
        if self._broken is not None:
            return LoggerStoppedError(f"this logger is broken and accepts no more events: {self._broken} "
                                      "(see the CRITICAL record logged then)")
        return LoggerStoppedError(stopped)

    cdef int _place_large(self, const unsigned char *line, Py_ssize_t length) except -1:
        """Put an encoded line in the ring; 0 when it was dropped (ring full), else 1."""
        cdef unsigned char *p
        if length <= self._segment_size:
            p = self._reserve(length)
            if p == NULL:
                self._dropped += 1
                return 0
            memcpy(p, line, length)
            self._commit(p + length)
            return 1
        if not self._admit_oversized(length):
            self._dropped += 1
            return 0
        self._seal_active()  # this thread's earlier lines go first
        self._push_oversized(line, length)
        return 1

    cdef bint _admit_oversized(self, Py_ssize_t length) except -1:
        """True once a line longer than a segment may be handed on; False at once to drop it
        when on_full is "drop".

        Such a line travels on its own, in order, outside the ring (and so
        outside crash recovery), and waits in memory until written.  Admitting
        one only while those bytes stay within the ring's size bounds that
        memory as the ring bounds the rest; one is always admitted when none is
        outstanding, so a line of any size can be logged.  Waits like a full ring.
        """
        cdef Py_ssize_t room = self._segment_count * self._segment_size - length
        if self._oversized_bytes == 0 or self._oversized_bytes <= room:
            return True
        if not self._block_when_full:
            return False
        self._full_waits += 1
        while self._oversized_bytes and self._oversized_bytes > room:
            self._wake()
            with nogil:
                usleep(200)
            if self._closed:
                raise self._closed_error("this logger was stopped while log() waited for buffer space")
        return True

    cdef int _push_oversized(self, const unsigned char *line, Py_ssize_t length) except -1:
        """Hand an admitted line longer than a segment to the writers."""
        self._sealed.append(PyBytes_FromStringAndSize(<const char *> line, length))
        self._sealed_total += 1
        self._oversized_bytes += length
        self._wake()
        return 0

    cdef int _take_free(self) noexcept:
        """A free segment, now ACTIVE and empty (the caller checked one is free)."""
        cdef int index = self._free[self._free_head]
        self._free_head = (self._free_head + 1) % MAX_SEGMENTS
        self._free_count -= 1
        cdef SegmentHeader *seg = segment_header(self._header, index)
        seg.seq = self._next_seq
        self._next_seq += 1
        seg.events = 0
        seg.length = 0
        seg.placements = 0
        seg.written = 0
        fevl_store_release_u32(&seg.state, SEG_ACTIVE)
        return index

    cdef void _activate(self) noexcept:
        self._resume(self._take_free())

    cdef void _resume(self, int index) noexcept:
        """Make segment index the active one, log() writing on after what it holds."""
        cdef unsigned char *start = self._data + index * self._segment_size
        self._active = index
        self._cursor = start + segment_header(self._header, index).length
        self._limit = start + self._segment_size

    cdef int _take_active(self) noexcept:
        """The active segment, or -1: no longer active, not sealed (the caller fills or seals it)."""
        cdef int index = self._active
        self._active = -1
        self._cursor = self._limit = NULL
        return index

    cdef int _seal_active(self, bint wake=True) except -1:
        cdef int index = self._take_active()
        return self._seal(index, wake) if index >= 0 else 0

    cdef int _seal(self, int index, bint wake=True) except -1:
        """Hand a filled segment to the writers (or back to the free list if empty).

        Without wake the scheduler is not told: it takes the segment with the next ones.
        """
        cdef SegmentHeader *seg = segment_header(self._header, index)
        if seg.length == 0:
            seg.state = SEG_FREE
            self._push_free(index)
            return 0
        fevl_store_release_u32(&seg.state, SEG_SEALED)
        self._sealed.append(index)
        self._sealed_total += 1
        if wake:
            self._wake()
        return 0

    cdef void _push_free(self, int index) noexcept:
        self._free[(self._free_head + self._free_count) % MAX_SEGMENTS] = index
        self._free_count += 1

    cdef void _wake(self) noexcept:
        if self._wake_fd >= 0:
            # A full pipe means a wake-up is already pending; that is enough.
            write(self._wake_fd, b"s", 1)

    # -- the scheduler's side --------------------------------------------------

    def seal(self):
        """Seal the active segment; returns how many entries were ever sealed.

        Every event logged before the call lies in one of those entries.
        """
        self._seal_active()
        return self._sealed_total

    def take_sealed(self):
        """The sealed entries not taken yet, oldest first.

        Each is a segment index (int; see segment()) or, for a line longer than
        a segment, the line itself (bytes).
        """
        taken = self._sealed
        self._sealed = []
        return taken

    def segment(self, int index):
        """(start, end, events) of a sealed segment, as offsets into the mapping."""
        if not 0 <= index < self._segment_count:
            raise IndexError(index)
        cdef SegmentHeader *seg = segment_header(self._header, index)
        start = self._header.data_offset + index * self._segment_size
        return start, start + seg.length, seg.events

    def record_placement(self, int index, str stamp, uint64_t offset, Py_ssize_t start, Py_ssize_t end):
        """Note in the buffer file that bytes [start, end) of the mapping go to file stamp at offset.

        Called before those bytes are written, so recovery can write them
        again at the same place (see layout.pxi).
        """
        if not 0 <= index < self._segment_count:
            raise IndexError(index)
        cdef SegmentHeader *seg = segment_header(self._header, index)
        cdef Py_ssize_t base = self._header.data_offset + index * self._segment_size
        cdef bytes name = stamp.encode()
        if seg.state != SEG_SEALED or not base <= start < end <= base + <Py_ssize_t> seg.length:
            raise ValueError(f"bytes [{start}, {end}) are not in sealed segment {index}")
        if seg.placements >= MAX_PLACEMENTS or len(name) > STAMP_BYTES:
            raise ValueError(f"cannot record a placement in {stamp!r} for segment {index}")
        store_placement(&seg.placement[seg.placements], name, offset, <uint32_t> (start - base),
                        <uint32_t> (end - base))
        fevl_store_release_u32(&seg.placements, seg.placements + 1)

    def recycle_placements(self, int index, Py_ssize_t written):
        """The pieces recorded for segment index are written, up to mapping offset ``written``:
        note that, then free the placement slots for the pieces that follow (see layout.pxi)."""
        if not 0 <= index < self._segment_count:
            raise IndexError(index)
        cdef SegmentHeader *seg = segment_header(self._header, index)
        cdef Py_ssize_t base = self._header.data_offset + index * self._segment_size
        if (seg.state != SEG_SEALED
                or not base + <Py_ssize_t> seg.written <= written <= base + <Py_ssize_t> seg.length):
            raise ValueError(f"offset {written} is not in sealed segment {index}")
        move_written(seg, <uint64_t> (written - base))

    def release_oversized(self, Py_ssize_t length):
        """A line longer than a segment (length bytes) has reached its file: room for the next ones."""
        if not 0 < length <= self._oversized_bytes:
            raise ValueError(f"{length} bytes of oversized lines were not outstanding")
        self._oversized_bytes -= length

    def _break(self, str reason):
        """A background thread ended (reason says how): log() and log_many() raise from now on."""
        if self._broken is None:
            self._broken = reason
        self._closed = True

    def release(self, int index):
        """A sealed segment has reached its log file: reuse it."""
        if not 0 <= index < self._segment_count:
            raise IndexError(index)
        cdef SegmentHeader *seg = segment_header(self._header, index)
        if seg.state != SEG_SEALED:
            raise RuntimeError(f"segment {index} is not sealed")
        fevl_store_release_u32(&seg.state, SEG_FREE)
        seg.length = 0
        seg.events = 0
        seg.placements = 0
        seg.written = 0
        self._push_free(index)

    cdef void _step_aside(self) noexcept:
        # A writer is back from its write and waits for the GIL.  A busy
        # producer keeps it for the switch interval (5 ms), and other producers
        # may take it before the writer does: with many of them the ring filled
        # while the writer waited, and producers and writers took turns instead
        # of overlapping.  Sleeping a moment with the GIL released lets a
        # waiting thread take it; a producer that does steps aside in turn.
        with nogil:
            usleep(20)

    def _pwritev(self, int fd, list views, off_t offset):
        """os.pwritev(fd, views, offset) for the writer threads: the same call, after which
        log() steps aside until the writer has the GIL back (see _step_aside)."""
        cdef Py_ssize_t count = len(views), i, held = 0
        cdef ssize_t n
        cdef int error = 0
        if not 0 < count <= 1024:
            raise ValueError(f"pwritev takes 1 to 1024 buffers, not {count}")
        cdef Py_buffer *buffers = <Py_buffer *> calloc(count, sizeof(Py_buffer))
        cdef iovec *iov = <iovec *> calloc(count, sizeof(iovec))
        try:
            if buffers == NULL or iov == NULL:
                raise MemoryError()
            for i in range(count):
                PyObject_GetBuffer(views[i], &buffers[i], PyBUF_SIMPLE)
                held += 1
                iov[i].iov_base = buffers[i].buf
                iov[i].iov_len = buffers[i].len
            with nogil:
                while True:
                    n = pwritev(fd, iov, <int> count, offset)
                    if n >= 0 or errno != EINTR:
                        break
                error = errno
                fevl_atomic_add_int(&self._handback, 1)
            fevl_atomic_add_int(&self._handback, -1)
            if n < 0:
                raise OSError(error, strerror(error).decode())
            return n
        finally:
            for i in range(held):
                PyBuffer_Release(&buffers[i])
            free(buffers)
            free(iov)

    def _wait_readable(self, int fd, double timeout):
        """Wait up to timeout seconds for fd to be readable, like select.select([fd], [], [], timeout),
        for the scheduler thread; log() then steps aside until it has the GIL back."""
        cdef pollfd wanted
        wanted.fd = fd
        wanted.events = POLLIN
        cdef int milliseconds = <int> min(max(timeout, 0.0) * 1000.0 + 0.999, 2147483647.0)
        with nogil:
            poll(&wanted, 1, milliseconds)  # EINTR, like a timeout, just returns: the caller loops
            fevl_atomic_add_int(&self._handback, 1)
        fevl_atomic_add_int(&self._handback, -1)

    def _close(self):
        """Refuse further log() calls and wait for running log_many() calls to let go.

        Already logged events stay in the ring.
        """
        self._closed = True
        while self._batches_in_flight:
            with nogil:
                usleep(200)

    def log_many(self, levels, event_ids, messages=None, **field_columns):
        """Log a batch of events given as columns; see fastevlog.EventLogCounter.log_many."""
        log_batch(self, levels, event_ids, messages, field_columns)

    @property
    def closed(self):
        return self._closed

    def counts(self):
        """{"levels": {name: n}, "event_ids": {id: n}} of the events accepted."""
        levels = {LEVEL_NAMES[i]: self._level_counts[i]
                  for i in range(LEVEL_COUNT) if self._level_counts[i]}
        return {"levels": levels, "event_ids": self._event_ids.as_dict()}

    def _buffer_metrics(self):
        """The counters the buffer owns, for EventLogCounter.metrics()."""
        cdef Py_ssize_t in_use = 0
        cdef int i
        if self._attached:
            for i in range(self._segment_count):
                in_use += segment_header(self._header, i).length
        return {"events_logged": self._logged, "dropped": self._dropped,
                "buffer_full_waits": self._full_waits, "buffer_bytes_in_use": in_use,
                "oversized_bytes_pending": self._oversized_bytes}


cdef inline bint _is_field(const Fields *fields, PyObject *name) noexcept:
    return not fields.has_parameters or parameter_slot(name) < 0


cdef Py_ssize_t _fields_bound(Fields *fields, list converted) except -2:
    """Bytes the fields can take, or -1 when a value needs _convert_fields() first.

    Without converted values, also plans the fields (see Fields.planned).
    """
    cdef Py_ssize_t bound = 0, i
    cdef object value
    cdef int overflow, kind
    cdef int64_t number = 0
    fields.planned = converted is None and fields.count <= PLANNED_MOST
    for i in range(fields.count):
        name = <PyObject *> PyTuple_GET_ITEM(<object> fields.names, i)
        if not _is_field(fields, name):
            if fields.planned:
                fields.kind[i] = VALUE_SKIP
            continue
        bound += STR_BOUND(PyUnicode_GET_LENGTH(<object> name)) + 2
        if converted is not None and converted[i] is not None:
            value = converted[i]
            if type(value) is bytes:
                bound += PyBytes_GET_SIZE(value)
            else:
                bound += STR_BOUND(PyUnicode_GET_LENGTH(value))
            continue
        value = <object> fields.values[i]
        if value is None:
            kind, bound = VALUE_NULL, bound + 4
        elif value is True:
            kind, bound = VALUE_TRUE, bound + 4
        elif value is False:
            kind, bound = VALUE_FALSE, bound + 5
        elif isinstance(value, str):
            kind, bound = VALUE_STR, bound + STR_BOUND(PyUnicode_GET_LENGTH(value))
        elif isinstance(value, int):
            number = PyLong_AsLongLongAndOverflow(value, &overflow)
            if overflow:
                fields.planned = False
                return -1
            kind, bound = VALUE_INT, bound + INT_BOUND
        elif isinstance(value, float):
            kind, bound = VALUE_FLOAT, bound + FLOAT_BOUND
        else:
            fields.planned = False
            return -1
        if fields.planned:
            fields.kind[i] = kind
            fields.number[i] = number
    return bound


cdef list _convert_fields(const Fields *fields):
    """Replacements for the values that are not written as themselves, by position."""
    cdef list converted = [None] * fields.count
    cdef Py_ssize_t i
    cdef object value
    cdef int overflow
    for i in range(fields.count):
        value = <object> fields.values[i]
        if value is None or isinstance(value, (str, float)):
            continue
        if isinstance(value, int):
            PyLong_AsLongLongAndOverflow(value, &overflow)
            if overflow:
                converted[i] = str(PyNumber_Index(value)).encode()  # digits, written as they are
        else:
            converted[i] = str(value)
    return converted


cdef unsigned char *_put_fields(unsigned char *p, const Fields *fields, list converted) except NULL:
    cdef Py_ssize_t i
    cdef PyObject *name
    cdef int kind = VALUE_SKIP
    for i in range(fields.count):
        name = <PyObject *> PyTuple_GET_ITEM(<object> fields.names, i)
        if fields.planned:
            kind = fields.kind[i]
            if kind == VALUE_SKIP:
                continue
        elif not _is_field(fields, name):
            continue
        p[0] = b','
        p = put_str(p + 1, <object> name)
        p[0] = b':'
        p += 1
        if not fields.planned:
            if converted is not None and converted[i] is not None:
                p = _put_value(p, converted[i])
            else:
                p = _put_value(p, <object> fields.values[i])
        elif kind == VALUE_STR:
            p = put_str(p, <object> fields.values[i])
        elif kind == VALUE_INT:
            p = put_int64(p, fields.number[i])
        elif kind == VALUE_FLOAT:
            p = put_double(p, PyFloat_AS_DOUBLE(<object> fields.values[i]))
        elif kind == VALUE_NULL:
            p = put_raw(p, b"null", 4)
        elif kind == VALUE_TRUE:
            p = put_raw(p, b"true", 4)
        else:
            p = put_raw(p, b"false", 5)
    return p


cdef inline unsigned char *_put_value(unsigned char *p, object value) except NULL:
    """A value _fields_bound accepted: written as JSON."""
    if value is None:
        return put_raw(p, b"null", 4)
    if value is True:
        return put_raw(p, b"true", 4)
    if value is False:
        return put_raw(p, b"false", 5)
    if isinstance(value, str):
        return put_str(p, value)
    if isinstance(value, int):
        return put_int64(p, PyLong_AsLongLong(value))
    if type(value) is bytes:
        return put_raw(p, PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value))
    return put_double(p, PyFloat_AS_DOUBLE(value))
