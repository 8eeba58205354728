# Ring: the buffer file's segments, which lines are encoded into.  One segment
# is active (taking lines); a full one is sealed and handed to the scheduler,
# which places it in log files, has it written and releases it back to the
# free list.  A line longer than a segment travels on its own, as bytes.
#
# Concurrency.  Every method runs with the GIL held, and a producer never lets
# it go between reserving room in the active segment and committing the line:
# it calls no Python code there, and the only waits (a full ring with
# on_full="block"; stepping aside for a writer) happen before, with the GIL
# released and no native lock held, and are followed by a check that the ring
# is still open.  So reserving is a plain pointer bump and no native lock
# exists.  log_many() fills segments with the GIL released, but only segments
# it took out of the ring's hands first (see filling_without_gil).
#
# Without the GIL (free-threaded CPython) this module is not declared
# freethreading_compatible, so importing it re-enables the GIL and all of the
# above still holds.

from cpython.buffer cimport PyBUF_SIMPLE
from posix.uio cimport iovec, pwritev

cdef extern from "<unistd.h>" nogil:
    int usleep(unsigned int usec)

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

import collections

# A sealed entry for the scheduler: a segment (its index, and its bytes as
# offsets into the mapping) or a line longer than a segment (bytes; start 0).
Sealed = collections.namedtuple("Sealed", "segment line start end events")


@cython.final
cdef class Ring:
    """The segments of a buffer file that log() and log_many() write lines into."""

    def __cinit__(self):
        self.closed = True
        self.active = -1
        self.wake_fd = -1
        self.sealed = []

    def __dealloc__(self):
        if self.attached:
            PyBuffer_Release(&self.mapping)

    def attach(self, mapping, int segment_count, Py_ssize_t segment_size, int wake_fd,
               bint block_when_full, uint64_t seal_after_events, int wake_after=1):
        """Start taking lines into ``mapping`` (a writable _core.Mapping of the buffer file).

        A segment sealed because it is full wakes the scheduler (a byte to
        wake_fd) only once wake_after sealed entries wait to be taken, so that
        each wake, and each write, carries that many: every one costs the
        producers GIL handoffs (see step_aside).  Every other seal (flush(),
        the tick, buffer_size, log_many()'s, an oversized line's) and a full
        ring wake it at once.
        """
        if self.attached:
            raise RuntimeError("ring already attached")
        if not MIN_SEGMENTS <= segment_count <= MAX_SEGMENTS:
            raise ValueError(f"segment_count must be in [{MIN_SEGMENTS}, {MAX_SEGMENTS}]")
        if not 1 <= wake_after <= segment_count // 2:
            # Half the ring at most: the writers must hear of full segments before it fills.
            raise ValueError("wake_after must be in [1, segment_count // 2]")
        PyObject_GetBuffer(mapping, &self.mapping, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS)
        cdef Py_ssize_t data_offset = header_bytes(segment_count)
        if self.mapping.len < data_offset + segment_count * segment_size:
            PyBuffer_Release(&self.mapping)
            raise ValueError("mapping is smaller than the ring")
        self.attached = True
        self.header = <FileHeader *> self.mapping.buf
        self.data = <unsigned char *> self.mapping.buf + data_offset
        memset(self.header, 0, data_offset)
        memcpy(self.header.magic, BUFFER_MAGIC, 8)
        self.header.segment_count = segment_count
        self.header.segment_size = segment_size
        self.header.data_offset = data_offset
        self.header.pid = getpid()
        fevl_store_release_u32(&self.header.version, FORMAT_VERSION)
        self.segment_count = segment_count
        self.segment_size = segment_size
        for i in range(segment_count):
            self.free[i] = i
        self.free_head = 0
        self.free_count = segment_count
        self.wake_fd = wake_fd
        self.block_when_full = block_when_full
        self.seal_after_events = seal_after_events
        self.wake_after = wake_after
        self.closed = False

    def detach(self):
        """Let go of the mapping so it can be closed.  Producers get LoggerStoppedError from now on."""
        self.closed = True
        self.active = -1
        self.cursor = self.limit = NULL
        if self.attached:
            self.attached = False
            PyBuffer_Release(&self.mapping)

    def close(self):
        """Refuse further lines and wait for log_many() calls filling segments to let go.

        The lines already in the ring stay there, to be written.
        """
        self.closed = True
        while self.filling_without_gil:
            with nogil:
                usleep(200)

    def break_(self, str reason):
        """A background thread ended (reason says how): producers get LoggerStoppedError from now on."""
        if self.broken is None:
            self.broken = reason
        self.closed = True

    def metrics(self):
        """The counters the ring owns, for EventLogCounter.metrics()."""
        cdef Py_ssize_t in_use = 0
        cdef int i
        if self.attached:
            for i in range(self.segment_count):
                in_use += segment_header(self.header, i).length
        return {"dropped": self.dropped, "buffer_full_waits": self.full_waits,
                "buffer_bytes_in_use": in_use, "oversized_bytes_pending": self.oversized_bytes}

    # -- the producers' side ---------------------------------------------------

    cdef unsigned char *reserve(self, Py_ssize_t size) except? NULL:
        """Room for size bytes (at most a segment) in the active segment.

        Seals the active segment and activates a free one when it lacks room.
        NULL when the ring is full and on_full is "drop"; with "block" waits,
        GIL released, until the writers hand a segment back.
        """
        while True:
            if self.active >= 0:
                if self.limit - self.cursor >= size:
                    return self.cursor
                # Full: the scheduler hears of it once wake_after entries wait (see attach).
                self.seal_active(len(self.sealed) + 1 >= self.wake_after)
            if not self.wait_for_free_segment():
                return NULL
            if self.active < 0:  # another thread may have activated one meanwhile
                self.activate(self.take_free())

    cdef void commit(self, unsigned char *end) noexcept:
        """A line ends at end in the active segment (reserved before)."""
        cdef SegmentHeader *seg = segment_header(self.header, self.active)
        FEVL_CHECK(self.cursor < end <= self.limit, "a line stays within its segment")
        self.cursor = end
        seg.events += 1
        # Publish the length after the bytes: recovery trusts everything below it.
        fevl_store_release_u64(&seg.length, <uint64_t> (end - (self.data + self.active * self.segment_size)))
        if seg.events >= self.seal_after_events:
            self.seal_active()

    cdef bint wait_for_free_segment(self) except -1:
        """True once a segment is free; False at once when full and on_full is "drop".

        Waits with the GIL released, so the writers (and other producers) run.
        """
        if not self.free_count and self.block_when_full:
            self.full_waits += 1
        while not self.free_count:
            if not self.block_when_full:
                return False
            self.wake()
            with nogil:
                usleep(200)
            if self.closed:
                # Nothing of the call is logged yet, or log_many() says how much was.
                raise self.closed_error("this logger was stopped while log() waited for buffer space; "
                                        "the event was not logged")
        return True

    cdef object closed_error(self, str stopped):
        """The LoggerStoppedError for a producer finding the ring closed: ``stopped``, or why it broke."""
        if self.broken is not None:
            return LoggerStoppedError(f"this logger is broken and accepts no more events: {self.broken} "
                                      "(see the CRITICAL record logged then)")
        return LoggerStoppedError(stopped)

    cdef bint place_line(self, const unsigned char *line, Py_ssize_t length) except -1:
        """Put a line encoded elsewhere in the ring; False when it was dropped (ring full).

        A line longer than a segment travels on its own, in order, outside the
        ring (and so outside crash recovery), and waits in memory until
        written.  Admitting one only while those bytes stay within the ring's
        size bounds that memory as the ring bounds the rest; one is always
        admitted when none is outstanding, so a line of any size can be logged.
        """
        cdef unsigned char *p
        if length <= self.segment_size:
            p = self.reserve(length)
            if p == NULL:
                self.dropped += 1
                return False
            memcpy(p, line, length)
            self.commit(p + length)
            return True
        cdef Py_ssize_t room = self.segment_count * self.segment_size - length
        if self.oversized_bytes and self.oversized_bytes > room:
            if not self.block_when_full:
                self.dropped += 1
                return False
            self.full_waits += 1
            while self.oversized_bytes and self.oversized_bytes > room:
                self.wake()
                with nogil:
                    usleep(200)
                if self.closed:
                    raise self.closed_error("this logger was stopped while log() waited for buffer space")
        # Counted before anything that may run Python code (Sealed's __new__, a collection), where
        # another thread can take the GIL: it must then see these bytes and wait.
        self.oversized_bytes += length
        try:
            self.seal_active()  # the lines before it go first
            self.sealed.append(Sealed(None, PyBytes_FromStringAndSize(<const char *> line, length), 0, length,
                                      1))
        except BaseException:
            self.oversized_bytes -= length
            raise
        self.sealed_total += 1
        self.wake()
        return True

    cdef int take_free(self) noexcept:
        """A free segment, now ACTIVE and empty (the caller checked one is free)."""
        cdef int index = self.free[self.free_head]
        self.free_head = (self.free_head + 1) % MAX_SEGMENTS
        self.free_count -= 1
        cdef SegmentHeader *seg = segment_header(self.header, index)
        seg.seq = self.next_seq
        self.next_seq += 1
        seg.events = 0
        seg.length = 0
        seg.placements = 0
        seg.written = 0
        fevl_store_release_u32(&seg.state, SEG_ACTIVE)
        return index

    cdef void activate(self, int index) noexcept:
        """Make an ACTIVE segment the one lines go to, after what it holds."""
        cdef unsigned char *start = self.data + index * self.segment_size
        self.active = index
        self.cursor = start + segment_header(self.header, index).length
        self.limit = start + self.segment_size

    cdef int take_active(self) noexcept:
        """The active segment, or -1, taken out of use: the caller fills it, then activates or seals it."""
        cdef int index = self.active
        self.active = -1
        self.cursor = self.limit = NULL
        return index

    cdef int seal_active(self, bint wake=True) except -1:
        cdef int index = self.take_active()
        return self.seal_segment(index, wake) if index >= 0 else 0

    cdef int seal_segment(self, int index, bint wake=True) except -1:
        """Hand a filled segment to the scheduler (or back to the free list if empty).

        Without wake the scheduler is not told: it takes the segment with the next ones.
        """
        cdef SegmentHeader *seg = segment_header(self.header, index)
        if seg.length == 0:
            seg.state = SEG_FREE
            self.push_free(index)
            return 0
        fevl_store_release_u32(&seg.state, SEG_SEALED)
        cdef Py_ssize_t start = self.header.data_offset + index * self.segment_size
        self.sealed.append(Sealed(index, None, start, start + seg.length, seg.events))
        self.sealed_total += 1
        if wake:
            self.wake()
        return 0

    cdef void push_free(self, int index) noexcept:
        self.free[(self.free_head + self.free_count) % MAX_SEGMENTS] = index
        self.free_count += 1

    cdef void wake(self) noexcept:
        if self.wake_fd >= 0:
            # A full pipe means a wake-up is already pending; that is enough.
            write(self.wake_fd, b"s", 1)

    # -- the scheduler's side --------------------------------------------------

    def seal(self):
        """Seal the active segment; returns how many entries were ever sealed.

        Every line committed before the call lies in one of those entries.
        """
        self.seal_active()
        return self.sealed_total

    def take_sealed(self):
        """The Sealed entries not taken yet, oldest first."""
        taken = self.sealed
        self.sealed = []
        return taken

    cdef SegmentHeader *sealed_segment(self, int index) except NULL:
        if not 0 <= index < self.segment_count:
            raise IndexError(index)
        cdef SegmentHeader *seg = segment_header(self.header, index)
        if seg.state != SEG_SEALED:
            raise ValueError(f"segment {index} is not sealed")
        return seg

    def record_placement(self, int index, str stamp, uint64_t offset, Py_ssize_t start, Py_ssize_t end):
        """Note in the buffer file that bytes [start, end) of the mapping go to file stamp at offset.

        Called before those bytes are written, so recovery can write them
        again at the same place (see layout.pxi).
        """
        cdef SegmentHeader *seg = self.sealed_segment(index)
        cdef Py_ssize_t base = self.header.data_offset + index * self.segment_size
        cdef bytes name = stamp.encode()
        if not base <= start < end <= base + <Py_ssize_t> seg.length:
            raise ValueError(f"bytes [{start}, {end}) are not in sealed segment {index}")
        if seg.placements >= MAX_PLACEMENTS or len(name) > STAMP_BYTES:
            raise ValueError(f"cannot record a placement in {stamp!r} for segment {index}")
        store_placement(&seg.placement[seg.placements], name, offset, <uint32_t> (start - base),
                        <uint32_t> (end - base))
        fevl_store_release_u32(&seg.placements, seg.placements + 1)

    def recycle_placements(self, int index, Py_ssize_t written):
        """The pieces recorded for segment index are written, up to mapping offset ``written``:
        note that, then free the placement slots for the pieces that follow (see layout.pxi)."""
        cdef SegmentHeader *seg = self.sealed_segment(index)
        cdef Py_ssize_t base = self.header.data_offset + index * self.segment_size
        if not base + <Py_ssize_t> seg.written <= written <= base + <Py_ssize_t> seg.length:
            raise ValueError(f"offset {written} is not in sealed segment {index}")
        move_written(seg, <uint64_t> (written - base))

    def release(self, int index):
        """A sealed segment has reached its log file: reuse it."""
        cdef SegmentHeader *seg = self.sealed_segment(index)
        fevl_store_release_u32(&seg.state, SEG_FREE)
        seg.length = 0
        seg.events = 0
        seg.placements = 0
        seg.written = 0
        self.push_free(index)

    def release_line(self, Py_ssize_t length):
        """A line longer than a segment (length bytes) has reached its file: room for the next ones."""
        if not 0 < length <= self.oversized_bytes:
            raise ValueError(f"{length} bytes of oversized lines were not outstanding")
        self.oversized_bytes -= length

    # -- the handoff: threads back from a blocking call get the GIL soon -------

    cdef void step_aside(self) noexcept:
        # A writer is back from its write and waits for the GIL.  A busy
        # producer keeps it for the switch interval (5 ms), and other producers
        # may take it before the writer does: with many of them the ring filled
        # while the writer waited, and producers and writers took turns instead
        # of overlapping.  Sleeping a moment with the GIL released lets a
        # waiting thread take it; a producer that does steps aside in turn.
        with nogil:
            usleep(20)

    def pwritev(self, int fd, list views, off_t offset):
        """os.pwritev(fd, views, offset) for the writer threads: the same call, after which
        producers step aside until the writer has the GIL back (see step_aside)."""
        cdef Py_ssize_t count = len(views), i, held = 0
        cdef ssize_t n = 0
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
                fevl_atomic_add_int(&self.handback, 1)
            fevl_atomic_add_int(&self.handback, -1)
            if n < 0:
                raise OSError(error, strerror(error).decode())
            return n
        finally:
            for i in range(held):
                PyBuffer_Release(&buffers[i])
            free(buffers)
            free(iov)

    def wait_readable(self, int fd, double timeout):
        """Wait up to timeout seconds for fd to be readable, like select.select([fd], [], [], timeout),
        for the scheduler thread; producers then step aside until it has the GIL back."""
        cdef pollfd wanted
        wanted.fd = fd
        wanted.events = POLLIN
        cdef int milliseconds = <int> min(max(timeout, 0.0) * 1000.0 + 0.999, 2147483647.0)
        with nogil:
            poll(&wanted, 1, milliseconds)  # EINTR, like a timeout, just returns: the caller loops
            fevl_atomic_add_int(&self.handback, 1)
        fevl_atomic_add_int(&self.handback, -1)
