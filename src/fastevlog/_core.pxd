# Declarations of the core, each once: the C it uses, its structs, its classes.
# The code is in the .pxi files that _core.pyx includes.

cimport cython
from cpython.object cimport PyObject
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from posix.types cimport off_t

cdef extern from "Python.h" nogil:
    void ref_inc "Py_INCREF" (PyObject *o)    # on borrowed pointers
    void ref_dec "Py_DECREF" (PyObject *o)

cdef extern from "Python.h":
    int PyUnicode_IS_ASCII(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    int PyUnicode_KIND(object o)
    void *PyUnicode_DATA(object o)
    Py_hash_t PyObject_Hash(object o) except? -1
    unsigned int PyUnicode_CHECK_INTERNED(object o)
    int PyUnicode_Compare(object left, object right) except? -1
    PyObject **PySequence_Fast_ITEMS(object o)    # of a list or tuple

cdef extern from "fevl.h":
    PyObject *fevl_type_dict(type cls)    # where the vectorcall log methods are added (calls.pxi)

cdef extern from "fevl.h" nogil:
    void fevl_store_release_u64(uint64_t *p, uint64_t v)
    void fevl_store_release_u32(uint32_t *p, uint32_t v)
    void fevl_atomic_add_int(int *p, int v)
    int fevl_atomic_load_int(const int *p)
    bint fevl_ascii8_needs_escape(const unsigned char *s)
    bint fevl_ascii16_copy_clean(unsigned char *out, const unsigned char *s)
    unsigned char *fevl_put_short_ascii(unsigned char *p, const void *s, Py_ssize_t n)
    Py_hash_t fevl_cached_str_hash(PyObject *s)
    bint fevl_same_words(const void *a, const void *b, Py_ssize_t n)
    void FEVL_CHECK(bint condition, const char *what)
    bint FEVL_DEBUG_BUILD
    ctypedef struct fevl_clock:
        pass
    int64_t fevl_clock_now(fevl_clock *c)
    int fevl_use_tsc
    bint FEVL_HAVE_TSC


# -- the line format: values, as classified with the GIL and written without it --

cdef enum ValueKind:
    VALUE_ABSENT = 0         # written as nothing at all: a message of None leaves its key out
    VALUE_NULL
    VALUE_TRUE
    VALUE_FALSE
    VALUE_INT                # number
    VALUE_UINT               # number, read as uint64_t
    VALUE_FLOAT              # real
    VALUE_STR                # a PEP 393 string: text, length code points of width, ascii
    VALUE_JSON               # bytes written as they are: an encoded id, a big int's digits

cdef struct Value:
    uint8_t kind             # ValueKind
    uint8_t width            # PEP 393 kind: bytes per code point
    uint8_t ascii
    Py_ssize_t length
    const void *text
    int64_t number
    double real

cdef struct TimestampCache:
    fevl_clock clock
    int64_t second_ns        # the second `text` spells, in ns since the epoch
    char text[20]            # "YYYY-MM-DDTHH:MM:SS."


# -- the buffer file (layout.pxi) --

cdef enum:
    STAMP_BYTES = 24         # "YYYYMMDD_HHMMSS_NNNNNN", NUL-padded: the file is {log_file}_{stamp}.log
    MAX_PLACEMENTS = 4       # pieces recorded per segment at a time (see SegmentHeader.written)
    MAX_SEGMENTS = 1024
    MIN_SEGMENTS = 4

cdef struct PieceRecord:     # where a piece of a segment goes, recorded before it is written
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
    PieceRecord placement[MAX_PLACEMENTS]

cdef struct FileHeader:
    char magic[8]            # BUFFER_MAGIC
    uint32_t version         # FORMAT_VERSION
    uint32_t segment_count
    uint64_t segment_size
    uint64_t data_offset     # where segment 0 starts: the header rounded up to a page
    uint64_t pid             # the process that owns the file, for messages only
    uint64_t reserved[2]
    # followed by SegmentHeader[segment_count]


# -- counts per event id (event_ids.pxi) --

cdef struct IdSlot:
    PyObject *key            # owned reference; NULL for the overflow slot
    Py_hash_t hash
    uint64_t count           # events accepted; 0 while the first one is being written
    char *json               # the id as written in a line (quoted and escaped, or digits)
    Py_ssize_t json_length


@cython.final
cdef class EventIdCounts:
    cdef IdSlot *slots       # MAX_EVENT_IDS + 1, in the order ids arrived; the last for ids past the bound
    cdef size_t used
    cdef uint32_t *table     # open addressing: a slot's index + 1, 0 for an empty entry
    cdef size_t mask         # entries - 1; a power of two, at least twice used
    # Hot loops log the same id again and again: the last key found (the table
    # holds it, so no other object can have its address) skips the hash and probe.
    cdef PyObject *last_key
    cdef IdSlot *last_slot
    cdef uint32_t *_find(self, object key, Py_hash_t h) except NULL
    cdef IdSlot *slot_for(self, object key) except NULL
    cdef int _grow(self) except -1


# -- the ring of segments (ring.pxi) --

@cython.final
cdef class Ring:
    cdef Py_buffer mapping           # the buffer file's Mapping, held while attached
    cdef bint attached
    cdef FileHeader *header
    cdef unsigned char *data         # first byte of segment 0
    cdef Py_ssize_t segment_size
    cdef int segment_count
    cdef int active                  # segment taking lines, -1 for none
    cdef unsigned char *cursor       # next byte to write in the active segment
    cdef unsigned char *limit        # end of the active segment
    cdef int free[MAX_SEGMENTS]      # FIFO of free segment indices
    cdef int free_head
    cdef int free_count
    cdef list sealed                 # Sealed entries not taken by the scheduler yet, in seal order
    cdef uint64_t sealed_total       # entries ever sealed
    cdef uint64_t next_seq
    cdef int wake_fd                 # written to on seal, so the scheduler wakes
    cdef int wake_after              # entries sealed and not taken that wake the scheduler (see attach)
    cdef bint block_when_full
    cdef uint64_t seal_after_events
    cdef bint closed
    cdef object broken               # why a background thread ended (str), or None; then closed is set
    cdef uint64_t dropped
    cdef uint64_t full_waits         # times a producer found the ring full and waited for the writers
    cdef Py_ssize_t oversized_bytes  # lines longer than a segment, handed to the writers, not written yet
    cdef int filling_without_gil     # log_many() calls encoding into segments with the GIL released
    cdef int handback                # threads back from a blocking call, waiting for the GIL (atomic)

    cdef unsigned char *reserve(self, Py_ssize_t size) except? NULL
    cdef void commit(self, unsigned char *end) noexcept
    cdef bint wait_for_free_segment(self) except -1
    cdef object closed_error(self, str stopped)
    cdef bint place_line(self, const unsigned char *line, Py_ssize_t length) except -1
    cdef int take_free(self) noexcept
    cdef void activate(self, int index) noexcept
    cdef int take_active(self) noexcept
    cdef int seal_active(self, bint wake=*) except -1
    cdef int seal_segment(self, int index, bint wake=*) except -1
    cdef void push_free(self, int index) noexcept
    cdef void wake(self) noexcept
    cdef void step_aside(self) noexcept
    cdef SegmentHeader *sealed_segment(self, int index) except NULL


# -- the compiled half of the logger: counts and the calls (calls.pxi, batch.pxi) --

cdef enum:
    MAX_LEVELS = 32          # the stdlib's five and those add_level() declares (levels.pxi)

cdef class LoggerCore:
    cdef readonly Ring _ring
    cdef int _min_number             # the number of the lowest level written
    cdef uint64_t _level_counts[MAX_LEVELS]
    cdef EventIdCounts _event_ids
    cdef uint64_t _logged
    cdef TimestampCache _clock


@cython.final
cdef class BoundLogger:
    cdef readonly LoggerCore logger
    cdef readonly dict fields
    cdef bytes context               # ',"key":value' for each field, then JSON_PAD bytes (bound.pxi)
    cdef tuple keys                  # the fields' names, interned

    cdef bytes context_without(self, object names)


# -- the counting scanner (json_lines.pxi, timestamps.pxi, count_table.pxi, scanner.pxi) --

cdef enum IdKind:
    ID_NONE = 0              # no event_id seen yet, or one of another JSON type: a bad line
    ID_STR
    ID_INT                   # the digits as written; "-0" is grouped as "0", as json.loads reads it

cdef enum:                   # KeyPart: the parts of a group's key, in this order in CountEntry.key
    PART_LEVEL = 0
    PART_EVENT_ID
    PART_TIME
    PART_FIELD
    KEY_PARTS

cdef struct LineFields:      # where a line's counted values sit in it, as found
    const unsigned char *level    # the string's bytes between its quotes, still escaped
    Py_ssize_t level_length
    bint level_escaped       # it holds a backslash: unescape before grouping
    const unsigned char *event_id
    Py_ssize_t event_id_length
    uint8_t event_id_kind    # IdKind
    bint event_id_escaped
    const unsigned char *timestamp  # a string timestamp's bytes (still escaped), else NULL
    Py_ssize_t timestamp_length
    bint timestamp_escaped
    const unsigned char *field      # field:NAME's raw JSON value text, else NULL (no such member)
    Py_ssize_t field_length

cdef struct GroupKey:        # one line's key, its parts where they are (in the line or a scratch buffer)
    const unsigned char *part[KEY_PARTS]
    Py_ssize_t length[KEY_PARTS]  # the field's is -1 when the line has no such member
    uint8_t event_id_kind

cdef enum:
    INLINE_KEY_BYTES = 14    # a key this short lives in its entry (ERRORevent_999): one cache line to compare

cdef struct CountEntry:      # one group (64 bytes): its key, and how many lines had it
    uint64_t hash
    int64_t count            # 0: the slot is empty
    unsigned char *key       # the key's parts one after another (unescaped, UTF-8), malloc'd; NULL: inline
    Py_ssize_t key_length    # the time key's length is the scanner's; the field's is what remains
    Py_ssize_t level_length
    Py_ssize_t event_id_length
    uint8_t event_id_kind
    bint field_absent        # field:NAME was asked and the line had no such member
    unsigned char inline_key[INLINE_KEY_BYTES]

cdef struct CountTable:      # open addressing, linear probing, at most half full
    CountEntry *entries
    Py_ssize_t capacity      # a power of two
    Py_ssize_t size
    unsigned char *scratch   # where escaped levels, ids and timestamps are unescaped, grown as needed
    Py_ssize_t scratch_capacity

cdef struct Instant:         # an exact UTC instant
    int64_t seconds          # since 1970-01-01T00:00Z
    const unsigned char *fraction  # the fraction's digits, trailing zeros left off
    Py_ssize_t fraction_length

cdef struct ScanConfig:      # what a CountScanner counts by and which lines it keeps
    bint by_level
    bint by_event_id
    int time_unit            # TIME_*: 0 none
    bint needs_time          # a time key or a window: timestamps are parsed
    const unsigned char *field_name   # field:NAME's UTF-8 bytes (the scanner's own bytes), or NULL
    Py_ssize_t field_name_length
    unsigned char *key_scratch        # where an escaped key is unescaped to be compared, malloc'd
    Py_ssize_t key_scratch_length     # longer escaped keys name no member counted
    bint fast_path           # fastevlog's first three members may be read in place (not when NAME is one)
    bint fast_message        # and its message skipped without a look at its key (not for field:message)
    bint has_since
    bint has_until
    Instant since            # inclusive
    Instant until            # exclusive
    # The bounds' whole seconds as UTC text, YYYY-MM-DDTHH:MM:SS: a timestamp written in UTC
    # compares with them digit by digit, no date arithmetic.  Past years 1..9999 the text is
    # below or above every valid timestamp's.
    unsigned char since_text[19]
    unsigned char until_text[19]

cdef enum ScanStatus:
    SCAN_END = 0             # every whole line was counted (the tail too, when the block was final)
    SCAN_NUL                 # stopped at a NUL byte: a live file's range not written yet
    SCAN_NO_MEMORY

cdef struct ScanResult:
    Py_ssize_t consumed      # bytes scanned: up to the stop, else to the last whole line
    Py_ssize_t bad_lines
    int status               # ScanStatus

cdef class CountScanner:
    cdef CountTable table
    cdef ScanConfig config
    cdef bytes field_name    # keeps config.field_name alive
    cdef bytes since_fraction     # keep config.since/until.fraction alive
    cdef bytes until_fraction
    cdef int64_t _bad_lines
    cdef bint scanning       # a scan() is running: a second thread's call is an error, not a wait

    cdef bytes set_bound(self, Instant *bound, unsigned char *text, object value, str name)
