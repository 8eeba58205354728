# The counting scanner: a block of lines through json_lines.pxi's parser into count_table.pxi's
# groups, without the GIL; CountScanner is the Python layer's handle (fastevlog/_count.py).

from cpython.buffer cimport PyBUF_SIMPLE
from libc.stdlib cimport realloc

cdef enum LineOutcome:
    LINE_COUNTED = 0
    LINE_BAD                 # not a counted line, or blank (the caller tells them apart)
    LINE_OUTSIDE             # a good line outside since/until: neither counted nor bad
    LINE_NO_MEMORY


cdef inline unsigned char *reserve_scratch(CountTable *t, Py_ssize_t needed) noexcept nogil:
    cdef unsigned char *grown
    if needed > t.scratch_capacity:
        grown = <unsigned char *> realloc(t.scratch, needed)
        if grown == NULL:
            return NULL
        t.scratch = grown
        t.scratch_capacity = needed
    return t.scratch


cdef int count_line(CountTable *t, const ScanConfig *c, const unsigned char *line,
                    const unsigned char *end, const unsigned char **newline) noexcept nogil:
    """Parse the line from line (end is the block's) and count it in its group, its strings
    unescaped first (LineOutcome); newline[0] is where it ends unless it is LINE_BAD."""
    cdef LineFields f
    cdef GroupKey k
    cdef LineTime time
    cdef unsigned char time_key[LONGEST_TIME_KEY]
    cdef bint unescape_level, unescape_event_id, unescape_timestamp
    cdef unsigned char *out
    cdef const unsigned char *timestamp
    cdef Py_ssize_t timestamp_length
    newline[0] = parse_line(line, end, c, &f)
    if newline[0] == NULL:
        return LINE_BAD
    k.event_id_kind = f.event_id_kind if c.by_event_id else ID_NONE
    k.part[PART_LEVEL] = f.level
    k.length[PART_LEVEL] = f.level_length if c.by_level else 0
    k.part[PART_EVENT_ID] = f.event_id
    k.length[PART_EVENT_ID] = f.event_id_length if c.by_event_id else 0
    k.part[PART_TIME] = time_key
    k.length[PART_TIME] = 0
    k.part[PART_FIELD] = f.field
    k.length[PART_FIELD] = 0
    if c.field_name != NULL:
        k.length[PART_FIELD] = f.field_length if f.field != NULL else -1
    if c.needs_time and f.timestamp == NULL:
        return LINE_BAD
    unescape_level = f.level_escaped and c.by_level
    unescape_event_id = f.event_id_escaped and c.by_event_id
    unescape_timestamp = c.needs_time and f.timestamp_escaped
    timestamp = f.timestamp
    timestamp_length = f.timestamp_length
    if unescape_level or unescape_event_id or unescape_timestamp:
        # Each unescaped text is at most as long as its escaped one, so one reservation holds all.
        out = reserve_scratch(t, k.length[PART_LEVEL] + k.length[PART_EVENT_ID]
                              + (timestamp_length if unescape_timestamp else 0))
        if out == NULL:
            return LINE_NO_MEMORY
        if unescape_level:
            k.length[PART_LEVEL] = unescape(f.level, f.level_length, out, True)
            k.part[PART_LEVEL] = out
            out += k.length[PART_LEVEL]
        if unescape_event_id:
            k.length[PART_EVENT_ID] = unescape(f.event_id, f.event_id_length, out, True)
            k.part[PART_EVENT_ID] = out
            out += k.length[PART_EVENT_ID]
        if unescape_timestamp:
            timestamp_length = unescape(f.timestamp, f.timestamp_length, out, True)
            timestamp = out
    if (k.event_id_kind == ID_INT and f.event_id_length == 2 and f.event_id[0] == 45
            and f.event_id[1] == 48):
        k.part[PART_EVENT_ID] = f.event_id + 1   # -0 is the int 0
        k.length[PART_EVENT_ID] = 1
    if c.needs_time:
        if not parse_timestamp(timestamp, timestamp_length, &time, False):
            return LINE_BAD
        if c.has_since and compare_to_bound(&time, timestamp, &c.since, c.since_text) < 0:
            return LINE_OUTSIDE
        if c.has_until and compare_to_bound(&time, timestamp, &c.until, c.until_text) >= 0:
            return LINE_OUTSIDE
        if c.time_unit:
            k.length[PART_TIME] = put_time_key(time_key, &time, timestamp, c.time_unit)
    if not count_group(t, &k):
        return LINE_NO_MEMORY
    return LINE_COUNTED


cdef inline bint is_blank(const unsigned char *p, const unsigned char *end) noexcept nogil:
    """Whether a line (or a torn piece) holds only JSON whitespace: nothing to count, nothing bad."""
    while p < end:
        if p[0] != 32 and p[0] != 9 and p[0] != 13:
            return False
        p += 1
    return True


cdef void scan_block(CountTable *t, const ScanConfig *c, const unsigned char *data, Py_ssize_t length,
                     bint final, ScanResult *result) noexcept nogil:
    """Count the lines of data into t.  A block that is not final keeps its unterminated
    tail for the next block (result.consumed stops before it); a final one's tail is a
    torn line.  The first NUL byte stops the scan, its line's piece before it a torn line."""
    cdef const unsigned char *p = data
    cdef const unsigned char *end = data + length
    cdef const unsigned char *newline = NULL
    cdef const unsigned char *nul = NULL
    cdef int outcome
    result.bad_lines = 0
    result.status = SCAN_END
    while p < end:
        outcome = count_line(t, c, p, end, &newline)
        if outcome == LINE_NO_MEMORY:
            result.status = SCAN_NO_MEMORY
            break
        if outcome != LINE_BAD:
            p = newline + 1
            continue
        # A bad line, blank, torn, or where writing stopped: only now look for its end.
        newline = <const unsigned char *> memchr(p, 10, end - p)
        if newline == NULL:
            # A live file's unwritten range can run to the end of what was read.
            nul = <const unsigned char *> memchr(p, 0, end - p)
            if nul == NULL:
                if final:
                    # A crashed or live writer's last line: bad even when it parses whole.
                    result.bad_lines += not is_blank(p, end)
                    p = end
                break
        else:
            # No JSON line holds a NUL byte: only a line that failed can be where writing stopped.
            nul = <const unsigned char *> memchr(p, 0, newline - p)
            if nul == NULL:
                result.bad_lines += not is_blank(p, newline)
                p = newline + 1
                continue
        result.bad_lines += not is_blank(p, nul)
        p = nul
        result.status = SCAN_NUL
        break
    FEVL_CHECK(data <= p <= end, "the scanner stops inside its block")
    result.consumed = p - data


TIME_KEY_LENGTHS = (0, 17, 14, 10)   # by unit: 2026-11-28T16:03Z, 2026-11-28T16Z, 2026-11-28
TIME_MINUTE = UNIT_MINUTE
TIME_HOUR = UNIT_HOUR
TIME_DAY = UNIT_DAY


cdef object int_of_digits(bytes digits):
    """A JSON int's digits as an int of any length: int() refuses more than 4,300 digits on
    3.11+ (and patched 3.9/3.10), so long ones are read in halves (as fast as int() is)."""
    cdef Py_ssize_t n = len(digits)
    cdef object low_digits   # a Python int: 10 ** it must be exact, not C's pow()
    if n <= 4000:
        return int(digits)
    if digits[0] == 45:
        return -int_of_digits(digits[1:])
    low_digits = n // 2
    return (int_of_digits(digits[:n - low_digits]) * 10 ** low_digits
            + int_of_digits(digits[n - low_digits:]))


cdef object as_bool(object value, str name):
    if not isinstance(value, bool):
        raise TypeError(f"CountScanner: {name} must be True or False, not {value!r}")
    return value


cdef class CountScanner:
    """Counts one source's JSON lines per group, block by block, without the GIL.

    The group table lives in C across scan() calls; groups() reads it out.  The API is
    in fastevlog/_core.pyi; what counts is tests/count_reference.py's spec.
    """

    def __cinit__(self):
        if not table_init(&self.table):
            raise MemoryError()
        self.config.key_scratch = NULL

    def __dealloc__(self):
        table_free(&self.table)
        free(self.config.key_scratch)

    def __init__(self, *, by_level, by_event_id, time_unit=0, field=None, since=None, until=None):
        if self.table.size or self._bad_lines or self.scanning:
            raise RuntimeError("CountScanner: __init__ called on a scanner in use; make a new one")
        self.config.by_level = as_bool(by_level, "by_level")
        self.config.by_event_id = as_bool(by_event_id, "by_event_id")
        if not isinstance(time_unit, int) or isinstance(time_unit, bool):
            raise TypeError(f"CountScanner: time_unit must be an int (0, TIME_MINUTE, TIME_HOUR, "
                            f"TIME_DAY), not {time_unit!r}")
        if not 0 <= time_unit <= UNIT_DAY:
            raise ValueError(f"CountScanner: time_unit={time_unit!r}; give 0 (none), TIME_MINUTE, "
                             f"TIME_HOUR or TIME_DAY")
        self.config.time_unit = time_unit
        if field is not None and not isinstance(field, bytes):
            raise TypeError(f"CountScanner: field must be the UTF-8 bytes of the field's name or None, "
                            f"not {type(field).__name__}")
        self.field_name = field
        self.config.field_name = NULL if field is None else <const unsigned char *> PyBytes_AS_STRING(field)
        self.config.field_name_length = 0 if field is None else PyBytes_GET_SIZE(field)
        # An escaped key unescapes to at least a sixth of its length: longer ones cannot be NAME.
        self.config.key_scratch_length = max(<Py_ssize_t> LONGEST_ESCAPED_KEY,
                                             6 * self.config.field_name_length)
        free(self.config.key_scratch)
        self.config.key_scratch = <unsigned char *> malloc(self.config.key_scratch_length)
        if self.config.key_scratch == NULL:
            raise MemoryError()
        # fast_members() reads the first three members without asking member_of() about them.
        self.config.fast_path = field not in (b"timestamp", b"level", b"event_id")
        self.config.fast_message = field != b"message"
        self.since_fraction = self.set_bound(&self.config.since, self.config.since_text, since, "since")
        self.config.has_since = since is not None
        self.until_fraction = self.set_bound(&self.config.until, self.config.until_text, until, "until")
        self.config.has_until = until is not None
        self.config.needs_time = time_unit != 0 or since is not None or until is not None

    cdef bytes set_bound(self, Instant *bound, unsigned char *text, object value, str name):
        """since/until as (seconds since the epoch, fraction digits) into bound and its UTC text;
        returns the bytes that hold its fraction (the scanner keeps them)."""
        cdef bytes fraction, utc_text
        cdef int year = 0, month = 0, day = 0
        cdef int64_t seconds_of_day
        if value is None:
            bound.seconds = 0
            bound.fraction = NULL
            bound.fraction_length = 0
            return None
        if (not isinstance(value, tuple) or len(value) != 2 or not isinstance(value[0], int)
                or isinstance(value[0], bool) or not isinstance(value[1], str)):
            raise TypeError(f"CountScanner: {name} must be (seconds since the epoch: int, fraction "
                            f"digits: str) or None, not {value!r}")
        seconds, digits = value
        if digits and not (digits.isascii() and digits.isdigit()):
            raise ValueError(f"CountScanner: {name}={value!r}: the fraction must be ASCII digits 0-9 "
                             f"(or \"\")")
        fraction = digits.rstrip("0").encode("ascii")
        # Far outside years 1..9999 every bound compares alike with every line: clamp to int64_t.
        bound.seconds = min(max(seconds, FIRST_SECOND - 86400), LAST_SECOND + 86400)
        if bound.seconds < FIRST_SECOND:
            memcpy(text, b"0000-00-00T00:00:00", 19)   # before every valid timestamp
        elif bound.seconds > LAST_SECOND:
            memcpy(text, b"9999-99-99T99:99:99", 19)   # after every valid timestamp
        else:
            civil_from_days((bound.seconds - FIRST_SECOND) // 86400 + FIRST_SECOND // 86400,
                            &year, &month, &day)
            seconds_of_day = (bound.seconds - FIRST_SECOND) % 86400
            utc_text = (f"{year:04d}-{month:02d}-{day:02d}T{seconds_of_day // 3600:02d}:"
                        f"{seconds_of_day // 60 % 60:02d}:{seconds_of_day % 60:02d}").encode("ascii")
            memcpy(text, PyBytes_AS_STRING(utc_text), 19)
        bound.fraction = <const unsigned char *> PyBytes_AS_STRING(fraction)
        bound.fraction_length = PyBytes_GET_SIZE(fraction)
        return fraction

    @property
    def bad_lines(self):
        """Bad lines so far, over every scan() of this scanner."""
        return self._bad_lines

    def scan(self, data, final):
        """Count the whole lines of data (a C-contiguous bytes-like); see fastevlog/_core.pyi."""
        cdef Py_buffer view
        cdef ScanResult result
        cdef bint is_final = as_bool(final, "final")
        if self.config.key_scratch == NULL:
            raise RuntimeError("CountScanner: __init__ was not called")
        if not PyObject_CheckBuffer(data):
            raise TypeError(f"CountScanner.scan: data must be bytes-like (bytes, bytearray, memoryview, "
                            f"mmap), not {type(data).__name__}")
        try:
            PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        except BufferError as error:
            raise TypeError(f"CountScanner.scan: data must be C-contiguous ({error}); "
                            f"pass bytes(data) or a contiguous slice") from None
        if self.scanning:
            PyBuffer_Release(&view)
            raise RuntimeError("CountScanner.scan: this scanner is scanning in another thread; "
                               "use one scanner per thread")
        self.scanning = True
        try:
            with nogil:
                scan_block(&self.table, &self.config, <const unsigned char *> view.buf, view.len,
                           is_final, &result)
        finally:
            self.scanning = False
            PyBuffer_Release(&view)
        self._bad_lines += result.bad_lines
        if result.status == SCAN_NO_MEMORY:
            raise MemoryError("CountScanner.scan: the group table could not grow")
        return result.consumed, result.status == SCAN_NUL

    def groups(self):
        """A new dict {key tuple: count}; see fastevlog/_core.pyi for the tuple's parts."""
        cdef Py_ssize_t i, at
        cdef CountEntry *e
        cdef dict groups = {}
        cdef list key
        cdef bytes text, digits_or_text
        cdef unsigned char *stored
        if self.scanning:
            raise RuntimeError("CountScanner.groups: this scanner is scanning in another thread")
        for i in range(self.table.capacity):
            e = &self.table.entries[i]
            if e.count == 0:
                continue
            key = []
            stored = e.key if e.key != NULL else &e.inline_key[0]
            text = (<char *> stored)[:e.key_length]
            at = 0
            if self.config.by_level:
                key.append(text[:e.level_length].decode("utf-8"))
                at += e.level_length
            if self.config.by_event_id:
                digits_or_text = text[at:at + e.event_id_length]
                at += e.event_id_length
                if e.event_id_kind == ID_STR:
                    key.append(digits_or_text.decode("utf-8"))
                else:
                    key.append(int_of_digits(digits_or_text))
            if self.config.time_unit:
                key.append(text[at:at + TIME_KEY_LENGTHS[self.config.time_unit]].decode("ascii"))
                at += TIME_KEY_LENGTHS[self.config.time_unit]
            if self.config.field_name != NULL:
                key.append(None if e.field_absent else text[at:])
            # Set, not added: the table already merged every spelling of a group (-0 and 0).
            groups[tuple(key)] = e.count
        return groups
