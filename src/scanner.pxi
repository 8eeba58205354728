# The counting scanner: blocks of JSON lines in, counts per group out, all of it
# without the GIL.  What counts is tests/count_reference.py's spec (json.loads as
# the oracle); CountScanner is the Python layer's handle (fastevlog/_count.py).
#
# A line counts when json.loads would read it as an object whose "level" is a
# string and whose "event_id" is a string or an int (not a bool: JSON's true is
# no number); the last of duplicate keys wins, as in json.loads.  Any other line
# is bad, except a blank one (JSON whitespace only), which is nothing.  Lines
# fastevlog wrote open with a fixed prefix, so their first three members are
# matched in place; the rest of every line is still validated, since a torn line
# can end in a "}" that closes nothing.  Every read is bounded by the line's end:
# a line is never assumed to be terminated.

from cpython.buffer cimport PyBUF_SIMPLE
from libc.stdlib cimport realloc

cdef enum:
    # Containers a member's value may nest: the spec's 512 less the line's own object.  The
    # limit keeps skip_value's stack fixed; json.loads reads deeper, the reference does not.
    VALUE_MAX_NESTING = 511
    FAST_TIMESTAMP_AT = 14   # {"timestamp":"
    FAST_LEVEL_KEY_AT = FAST_TIMESTAMP_AT + TIMESTAMP_BYTES
    FAST_LEVEL_AT = FAST_LEVEL_KEY_AT + 11      # ","level":"
    FAST_ID_KEY_BYTES = 13   # ","event_id":
    MEMBER_OTHER = 0         # bits: a key can be both a counted member and field:NAME
    MEMBER_TIMESTAMP = 1
    MEMBER_LEVEL = 2
    MEMBER_EVENT_ID = 4
    MEMBER_FIELD = 8
    UNIT_MINUTE = 1          # CountScanner's time_unit, exported as TIME_*
    UNIT_HOUR = 2
    UNIT_DAY = 3
    LONGEST_ESCAPED_KEY = 6 * 9   # "timestamp" with every letter written as \u00XX
    FIRST_TABLE_CAPACITY = 64

cdef const char *FAST_OPEN = b'{"timestamp":"'
cdef const char *FAST_LEVEL_KEY = b'","level":"'
cdef const char *FAST_ID_KEY = b'","event_id":'


# -- validating JSON without building it --

cdef inline const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end) noexcept nogil:
    while p < end and (p[0] == 32 or p[0] == 9 or p[0] == 10 or p[0] == 13):
        p += 1
    return p


cdef extern from *:
    """
    #define FEVL_SCAN_LITTLE_ENDIAN (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)
    """
    bint FEVL_SCAN_LITTLE_ENDIAN
    int __builtin_ctzll(unsigned long long x) nogil


cdef inline uint64_t special_bytes(uint64_t w) noexcept nogil:
    """The high bit of each byte of w a JSON string cannot hold as it is (a quote, a backslash,
    a control character) or that starts UTF-8 to check.  The lowest one set is exact (a borrow
    only runs upwards from a true hit), which is all skip_string() uses."""
    cdef uint64_t ones = 0x0101010101010101ULL
    cdef uint64_t control = (w - ones * 0x20) & ~w
    cdef uint64_t quote = w ^ (ones * 0x22)
    cdef uint64_t backslash = w ^ (ones * 0x5C)
    quote = (quote - ones) & ~quote
    backslash = (backslash - ones) & ~backslash
    return (control | quote | backslash | w) & 0x8080808080808080ULL


cdef inline bint plain_ascii8(const unsigned char *p) noexcept nogil:
    """Whether 8 bytes are ASCII a JSON string holds as they are (no quote, backslash, control)."""
    cdef uint64_t w = 0
    memcpy(&w, p, 8)
    return (w & 0x8080808080808080ULL) == 0 and not fevl_ascii8_needs_escape(p)


cdef inline bint plain_ascii(const unsigned char *p, Py_ssize_t n) noexcept nogil:
    """The same for n >= 8 bytes: overlapping words, the last one ending at p + n."""
    cdef Py_ssize_t i = 0
    FEVL_CHECK(n >= 8, "plain_ascii reads whole words inside its n bytes")
    while i + 8 < n:
        if not plain_ascii8(p + i):
            return False
        i += 8
    return plain_ascii8(p + n - 8)


cdef inline int hex_digit(unsigned char c) noexcept nogil:
    if 48 <= c <= 57:
        return c - 48
    c |= 0x20
    if 97 <= c <= 102:
        return c - 87
    return -1


cdef const unsigned char *skip_utf8(const unsigned char *p, const unsigned char *end) noexcept nogil:
    """p at a byte >= 0x80: past its UTF-8 sequence, or NULL when the sequence is not
    strict UTF-8 (overlong, a surrogate, past U+10FFFF, cut short), as bytes.decode() says."""
    cdef unsigned char c = p[0], low = 0x80, high = 0xBF
    cdef Py_ssize_t n, i
    if 0xC2 <= c <= 0xDF:
        n = 1
    elif 0xE0 <= c <= 0xEF:
        n = 2
        if c == 0xE0:
            low = 0xA0
        elif c == 0xED:
            high = 0x9F
    elif 0xF0 <= c <= 0xF4:
        n = 3
        if c == 0xF0:
            low = 0x90
        elif c == 0xF4:
            high = 0x8F
    else:
        return NULL
    if end - p <= n or not (low <= p[1] <= high):
        return NULL
    for i in range(2, n + 1):
        if p[i] & 0xC0 != 0x80:
            return NULL
    return p + n + 1


cdef const unsigned char *skip_string(const unsigned char *p, const unsigned char *end,
                                      bint *escaped) noexcept nogil:
    """p just past a string's opening quote: its closing quote, or NULL when the string is
    not valid JSON; escaped[0] is set when it holds an escape."""
    cdef unsigned char c
    cdef uint64_t w = 0, special
    while True:
        while end - p >= 8:
            memcpy(&w, p, 8)
            special = special_bytes(w)
            if special == 0:
                p += 8
                continue
            if FEVL_SCAN_LITTLE_ENDIAN:   # straight to the first byte to look at
                p += __builtin_ctzll(special) >> 3
            break
        if p >= end:
            return NULL
        c = p[0]
        if c == 34:
            return p
        if c == 92:
            escaped[0] = True
            if end - p < 2:
                return NULL
            c = p[1]
            if c == 117:  # \uXXXX
                if (end - p < 6 or hex_digit(p[2]) < 0 or hex_digit(p[3]) < 0
                        or hex_digit(p[4]) < 0 or hex_digit(p[5]) < 0):
                    return NULL
                p += 6
            elif (c == 34 or c == 92 or c == 47 or c == 98 or c == 102 or c == 110
                    or c == 114 or c == 116):
                p += 2
            else:
                return NULL
        elif c < 0x20:
            return NULL
        elif c >= 0x80:
            p = skip_utf8(p, end)
            if p == NULL:
                return NULL
        else:
            p += 1


cdef inline bint is_digit(unsigned char c) noexcept nogil:
    return 48 <= c <= 57


cdef const unsigned char *skip_number(const unsigned char *p, const unsigned char *end,
                                      bint *is_int) noexcept nogil:
    """p at a number: past it, or NULL; is_int[0] says whether json.loads reads an int."""
    is_int[0] = True
    if p < end and p[0] == 45:
        p += 1
    if p >= end:
        return NULL
    if p[0] == 48:
        p += 1
    elif is_digit(p[0]):
        while p < end and is_digit(p[0]):
            p += 1
    else:
        return NULL
    if p < end and p[0] == 46:
        is_int[0] = False
        p += 1
        if p >= end or not is_digit(p[0]):
            return NULL
        while p < end and is_digit(p[0]):
            p += 1
    if p < end and (p[0] | 0x20) == 101:
        is_int[0] = False
        p += 1
        if p < end and (p[0] == 43 or p[0] == 45):
            p += 1
        if p >= end or not is_digit(p[0]):
            return NULL
        while p < end and is_digit(p[0]):
            p += 1
    return p


cdef inline const unsigned char *skip_word(const unsigned char *p, const unsigned char *end,
                                           const char *word, Py_ssize_t n) noexcept nogil:
    if end - p >= n and memcmp(p, word, n) == 0:
        return p + n
    return NULL


cdef const unsigned char *skip_scalar(const unsigned char *p, const unsigned char *end) noexcept nogil:
    """p at a value that is no string, object or array: past it, or NULL.  json.loads' NaN,
    Infinity and -Infinity are not JSON (RFC 8259), so they are NULL here."""
    cdef bint is_int = True
    cdef unsigned char c = p[0]
    if c == 116:
        return skip_word(p, end, b"true", 4)
    if c == 102:
        return skip_word(p, end, b"false", 5)
    if c == 110:
        return skip_word(p, end, b"null", 4)
    return skip_number(p, end, &is_int)


cdef const unsigned char *skip_key(const unsigned char *p, const unsigned char *end) noexcept nogil:
    """p at an object member's key: at its value, or NULL."""
    cdef bint escaped = False
    if p >= end or p[0] != 34:
        return NULL
    p = skip_string(p + 1, end, &escaped)
    if p == NULL:
        return NULL
    p = skip_ws(p + 1, end)
    if p >= end or p[0] != 58:
        return NULL
    return p + 1


cdef const unsigned char *skip_value(const unsigned char *p, const unsigned char *end) noexcept nogil:
    """p at a JSON value (after any whitespace): past it, or NULL when it is not valid.
    Iterative, with the open containers on a stack: a line cannot overflow the C stack."""
    cdef unsigned char open_containers[VALUE_MAX_NESTING]   # '{' or '['
    cdef Py_ssize_t depth = 0
    cdef bint escaped = False
    cdef unsigned char c
    while True:
        p = skip_ws(p, end)
        if p >= end:
            return NULL
        c = p[0]
        if c == 123 or c == 91:
            if depth == VALUE_MAX_NESTING:   # an empty container is a level too
                return NULL
            p = skip_ws(p + 1, end)
            if p >= end:
                return NULL
            if p[0] == c + 2:   # '}' and ']' are 2 past their openers
                p += 1
            else:
                open_containers[depth] = c
                depth += 1
                if c == 123:
                    p = skip_key(p, end)
                    if p == NULL:
                        return NULL
                continue
        elif c == 34:
            p = skip_string(p + 1, end, &escaped)
            if p == NULL:
                return NULL
            p += 1
        else:
            p = skip_scalar(p, end)
            if p == NULL:
                return NULL
        # A value ended: close what it ends, or move to the next member or item.
        while True:
            if depth == 0:
                return p
            p = skip_ws(p, end)
            if p >= end:
                return NULL
            c = open_containers[depth - 1]
            if p[0] == 44:
                p = skip_ws(p + 1, end)
                if c == 123:
                    p = skip_key(p, end)
                    if p == NULL:
                        return NULL
                break
            if p[0] != c + 2:
                return NULL
            p += 1
            depth -= 1


# -- the counted members of a line --

cdef Py_ssize_t unescape(const unsigned char *s, Py_ssize_t n, unsigned char *out,
                         bint lone_to_fffd) noexcept nogil:
    """A string skip_string() accepted (between its quotes) unescaped into out (room for n
    bytes: no escape is shorter than what it stands for); returns the length.  A surrogate
    pair becomes its code point; a lone surrogate U+FFFD when lone_to_fffd (as the logger
    writes one: the result is strict UTF-8 and equal text is equal bytes), else its own 3
    bytes, which no UTF-8 name holds (json.loads keeps a key's lone surrogate)."""
    cdef Py_ssize_t i = 0
    cdef unsigned char *o = out
    cdef unsigned char c
    cdef uint32_t code, low
    while i < n:
        c = s[i]
        if c != 92:
            o[0] = c
            o += 1
            i += 1
            continue
        FEVL_CHECK(i + 1 < n, "an escape is whole inside its string")
        c = s[i + 1]
        if c != 117:
            o[0] = (8 if c == 98 else 12 if c == 102 else 10 if c == 110 else 13 if c == 114
                    else 9 if c == 116 else c)
            o += 1
            i += 2
            continue
        FEVL_CHECK(i + 6 <= n, "a \\u escape has its 4 digits inside its string")
        code = hex4(s + i + 2)
        i += 6
        if 0xD800 <= code <= 0xDBFF and i + 6 <= n and s[i] == 92 and s[i + 1] == 117:
            low = hex4(s + i + 2)
            if 0xDC00 <= low <= 0xDFFF:
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                i += 6
        if lone_to_fffd and 0xD800 <= code <= 0xDFFF:
            code = 0xFFFD
        o = put_utf8(o, code)
    return o - out


cdef inline uint32_t hex4(const unsigned char *s) noexcept nogil:
    return ((<uint32_t> hex_digit(s[0]) << 12) | (<uint32_t> hex_digit(s[1]) << 8)
            | (<uint32_t> hex_digit(s[2]) << 4) | <uint32_t> hex_digit(s[3]))


cdef inline unsigned char *put_utf8(unsigned char *o, uint32_t code) noexcept nogil:
    if code < 0x80:
        o[0] = <unsigned char> code
        return o + 1
    if code < 0x800:
        o[0] = <unsigned char> (0xC0 | (code >> 6))
        o[1] = <unsigned char> (0x80 | (code & 0x3F))
        return o + 2
    if code < 0x10000:
        o[0] = <unsigned char> (0xE0 | (code >> 12))
        o[1] = <unsigned char> (0x80 | ((code >> 6) & 0x3F))
        o[2] = <unsigned char> (0x80 | (code & 0x3F))
        return o + 3
    o[0] = <unsigned char> (0xF0 | (code >> 18))
    o[1] = <unsigned char> (0x80 | ((code >> 12) & 0x3F))
    o[2] = <unsigned char> (0x80 | ((code >> 6) & 0x3F))
    o[3] = <unsigned char> (0x80 | (code & 0x3F))
    return o + 4


cdef int member_of(const unsigned char *key, Py_ssize_t n, bint escaped, const ScanConfig *c) noexcept nogil:
    """Which members a key names (MEMBER_* bits), its escapes undone first."""
    cdef int member = MEMBER_OTHER
    if escaped:
        if n > c.key_scratch_length:   # unescaped, still longer than any name asked for
            return MEMBER_OTHER
        n = unescape(key, n, c.key_scratch, False)
        key = c.key_scratch
    if c.field_name != NULL and n == c.field_name_length and memcmp(key, c.field_name, n) == 0:
        member = MEMBER_FIELD
    if n == 5 and memcmp(key, b"level", 5) == 0:
        return member | MEMBER_LEVEL
    if n == 8 and memcmp(key, b"event_id", 8) == 0:
        return member | MEMBER_EVENT_ID
    if n == 9 and memcmp(key, b"timestamp", 9) == 0:
        return member | MEMBER_TIMESTAMP
    return member


cdef inline void clear_fields(LineFields *f) noexcept nogil:
    f.level = NULL
    f.level_length = 0
    f.level_escaped = False
    f.event_id = NULL
    f.event_id_length = 0
    f.event_id_kind = ID_NONE
    f.event_id_escaped = False
    f.timestamp = NULL
    f.timestamp_length = 0
    f.timestamp_escaped = False
    f.field = NULL
    f.field_length = 0


cdef const unsigned char *fast_members(const unsigned char *line, const unsigned char *end,
                                       LineFields *f) noexcept nogil:
    """A line as fastevlog writes it: its first three members read in place, returning
    where the event id ends; NULL when the line does not open that way."""
    cdef const unsigned char *p
    cdef const unsigned char *name
    cdef const unsigned char *value
    cdef bint escaped = False, is_int = True
    if (end - line < FAST_LEVEL_AT + FAST_ID_KEY_BYTES + 2
            or memcmp(line, FAST_OPEN, FAST_TIMESTAMP_AT) != 0
            or not plain_ascii(line + FAST_TIMESTAMP_AT, TIMESTAMP_BYTES)
            or memcmp(line + FAST_LEVEL_KEY_AT, FAST_LEVEL_KEY, 11) != 0):
        return NULL
    name = line + FAST_LEVEL_AT
    p = name
    while p < end and 65 <= p[0] <= 90:   # A-Z: other level names take the general path
        p += 1
    if p == name or end - p < FAST_ID_KEY_BYTES + 1 or memcmp(p, FAST_ID_KEY, FAST_ID_KEY_BYTES) != 0:
        return NULL
    clear_fields(f)
    f.timestamp = line + FAST_TIMESTAMP_AT
    f.timestamp_length = TIMESTAMP_BYTES
    f.level = name
    f.level_length = p - name
    p += FAST_ID_KEY_BYTES
    if p[0] == 34:
        value = p + 1
        p = skip_string(value, end, &escaped)
        if p == NULL:
            return NULL
        f.event_id = value
        f.event_id_length = p - value
        f.event_id_kind = ID_STR
        f.event_id_escaped = escaped
        return p + 1
    value = p
    p = skip_number(p, end, &is_int)
    if p == NULL or not is_int:
        return NULL
    f.event_id = value
    f.event_id_length = p - value
    f.event_id_kind = ID_INT
    return p


cdef bint parse_line(const unsigned char *line, const unsigned char *end, const ScanConfig *c,
                     LineFields *f) noexcept nogil:
    """Whether a line (without its newline) is an object with a string level and a string
    or int event id; f then says where its level, event id, timestamp and field are."""
    cdef const unsigned char *p = NULL
    cdef const unsigned char *key
    cdef const unsigned char *value
    cdef const unsigned char *after
    cdef bint escaped = False, is_int = True
    cdef int member
    if c.fast_path:
        p = fast_members(line, end, f)
    if p == NULL:
        clear_fields(f)
        p = skip_ws(line, end)
        if p >= end or p[0] != 123:
            return False
        p = skip_ws(p + 1, end)
    else:
        p = skip_ws(p, end)
        if p >= end or (p[0] != 44 and p[0] != 125):
            return False
        if p[0] == 44:
            p = skip_ws(p + 1, end)
        else:
            return skip_ws(p + 1, end) == end
    while True:
        if p >= end or p[0] != 34:   # an empty object has no level: as bad as any other
            return False
        key = p + 1
        escaped = False
        p = skip_string(key, end, &escaped)
        if p == NULL:
            return False
        member = member_of(key, p - key, escaped, c)
        p = skip_ws(p + 1, end)
        if p >= end or p[0] != 58:
            return False
        p = skip_ws(p + 1, end)
        if p >= end:
            return False
        value = p
        if p[0] == 34:
            escaped = False
            after = skip_string(p + 1, end, &escaped)
            if after == NULL:
                return False
            if member & MEMBER_LEVEL:
                f.level = p + 1
                f.level_length = after - (p + 1)
                f.level_escaped = escaped
            if member & MEMBER_EVENT_ID:
                f.event_id = p + 1
                f.event_id_length = after - (p + 1)
                f.event_id_kind = ID_STR
                f.event_id_escaped = escaped
            if member & MEMBER_TIMESTAMP:
                f.timestamp = p + 1
                f.timestamp_length = after - (p + 1)
                f.timestamp_escaped = escaped
            after += 1
        else:
            after = NULL
            if member & MEMBER_EVENT_ID and (p[0] == 45 or is_digit(p[0])):
                after = skip_number(p, end, &is_int)
                if after != NULL and is_int:
                    f.event_id = p
                    f.event_id_length = after - p
                    f.event_id_kind = ID_INT
                    f.event_id_escaped = False
                else:
                    after = NULL
            if after == NULL:
                after = skip_value(p, end)
                if after == NULL:
                    return False
                # The last of duplicate keys wins: a later non-string level unsets an earlier one.
                if member & MEMBER_LEVEL:
                    f.level = NULL
                if member & MEMBER_EVENT_ID:
                    f.event_id_kind = ID_NONE
                if member & MEMBER_TIMESTAMP:
                    f.timestamp = NULL
        if member & MEMBER_FIELD:
            f.field = value
            f.field_length = after - value
        p = skip_ws(after, end)
        if p >= end:
            return False
        if p[0] == 125:
            break
        if p[0] != 44:
            return False
        p = skip_ws(p + 1, end)
    return skip_ws(p + 1, end) == end and f.level != NULL and f.event_id_kind != ID_NONE


cdef inline bint is_blank(const unsigned char *p, const unsigned char *end) noexcept nogil:
    """Whether a line (or a torn piece) holds only JSON whitespace: nothing to count, nothing bad."""
    while p < end:
        if p[0] != 32 and p[0] != 9 and p[0] != 13:
            return False
        p += 1
    return True


# -- timestamps: RFC 3339 read exactly, as count_reference.parse_line_time does --

cdef enum:
    LONGEST_TIME_KEY = 17    # 2026-11-28T16:03Z

# Years 1..9999 in UTC, as datetime has them (an enum is an int: too narrow).
cdef int64_t FIRST_SECOND = -62135596800    # 0001-01-01T00:00:00Z, a midnight
cdef int64_t LAST_SECOND = 253402300799     # 9999-12-31T23:59:59Z


cdef struct LineTime:        # a parsed timestamp
    Instant utc
    int year, month, day, hour, minute   # local, as written
    bint utc_as_written      # the offset is zero: the local fields are UTC's


cdef inline int two_digits(const unsigned char *s) noexcept nogil:
    """s[0..1] as a number, or -1 when they are not ASCII digits."""
    if not (is_digit(s[0]) and is_digit(s[1])):
        return -1
    return (s[0] - 48) * 10 + (s[1] - 48)


cdef inline bint is_leap_year(int64_t year) noexcept nogil:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


cdef inline int days_in_month(int64_t year, int month) noexcept nogil:
    if month == 2:
        return 29 if is_leap_year(year) else 28
    return 30 if month == 4 or month == 6 or month == 9 or month == 11 else 31


cdef inline int64_t days_from_civil(int64_t year, int64_t month, int64_t day) noexcept nogil:
    """Days since 1970-01-01 of a proleptic Gregorian date (year >= 1), by eras of 400 years."""
    cdef int64_t era, year_of_era, day_of_year, day_of_era
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month - 3 if month > 2 else month + 9) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


cdef inline void civil_from_days(int64_t days, int *year, int *month, int *day) noexcept nogil:
    """days_from_civil's inverse, for days of years 1..9999."""
    cdef int64_t era, day_of_era, year_of_era, day_of_year, shifted_month
    days += 719468
    era = days // 146097   # days >= 0 here: year 1 is day 306 of the era before year 0's
    day_of_era = days - era * 146097
    year_of_era = (day_of_era - day_of_era // 1460 + day_of_era // 36524 - day_of_era // 146096) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    shifted_month = (5 * day_of_year + 2) // 153
    day[0] = <int> (day_of_year - (153 * shifted_month + 2) // 5 + 1)
    month[0] = <int> (shifted_month + 3 if shifted_month < 10 else shifted_month - 9)
    year[0] = <int> (year_of_era + era * 400 + (month[0] <= 2))


cdef bint parse_timestamp(const unsigned char *s, Py_ssize_t n, LineTime *t) noexcept nogil:
    """An RFC 3339 date-time, the whole of s: YYYY-MM-DD(T|t| )HH:MM:SS[.digits](Z|z|+HH:MM|-HH:MM).
    False when it is not one, names a date that does not exist, a leap second, an offset past
    23:59, or an instant outside years 1..9999 in UTC."""
    cdef const unsigned char *p
    cdef const unsigned char *end = s + n
    cdef const unsigned char *fraction_end
    cdef int century, second, offset_hours, offset_minutes
    cdef int64_t offset = 0, seconds
    if n < 20 or s[4] != 45 or s[7] != 45 or not (s[10] == 84 or s[10] == 116 or s[10] == 32):
        return False
    if s[13] != 58 or s[16] != 58:
        return False
    century = two_digits(s)
    t.year = two_digits(s + 2)
    t.month = two_digits(s + 5)
    t.day = two_digits(s + 8)
    t.hour = two_digits(s + 11)
    t.minute = two_digits(s + 14)
    second = two_digits(s + 17)
    if (century < 0 or t.year < 0 or t.month < 1 or t.month > 12 or t.day < 1 or t.hour < 0
            or t.hour > 23 or t.minute < 0 or t.minute > 59 or second < 0 or second > 59):
        return False
    t.year += century * 100
    if t.year == 0 or t.day > days_in_month(t.year, t.month):
        return False
    p = s + 19
    t.utc.fraction = p
    t.utc.fraction_length = 0
    if p[0] == 46:
        p += 1
        t.utc.fraction = p
        while p < end and is_digit(p[0]):
            p += 1
        if p == t.utc.fraction:
            return False
        fraction_end = p
        while fraction_end > t.utc.fraction and fraction_end[-1] == 48:
            fraction_end -= 1   # trailing zeros say nothing: .5 == .500
        t.utc.fraction_length = fraction_end - t.utc.fraction
    if p >= end:
        return False
    if p[0] == 90 or p[0] == 122:
        if end - p != 1:
            return False
    elif p[0] == 43 or p[0] == 45:
        if end - p != 6 or p[3] != 58:
            return False
        offset_hours = two_digits(p + 1)
        offset_minutes = two_digits(p + 4)
        if offset_hours < 0 or offset_hours > 23 or offset_minutes < 0 or offset_minutes > 59:
            return False
        offset = offset_hours * 3600 + offset_minutes * 60
        if p[0] == 45:
            offset = -offset
    else:
        return False
    t.utc_as_written = offset == 0
    seconds = (days_from_civil(t.year, t.month, t.day) * 86400 + t.hour * 3600 + t.minute * 60 + second
               - offset)
    if seconds < FIRST_SECOND or seconds > LAST_SECOND:
        return False
    t.utc.seconds = seconds
    return True


cdef inline int compare_instants(const Instant *a, const Instant *b) noexcept nogil:
    """<0, 0, >0 as a is before, at, after b; fractions without trailing zeros compare as text."""
    cdef Py_ssize_t common
    cdef int order
    if a.seconds != b.seconds:
        return -1 if a.seconds < b.seconds else 1
    common = a.fraction_length if a.fraction_length < b.fraction_length else b.fraction_length
    order = memcmp(a.fraction, b.fraction, common)
    if order != 0:
        return order
    # The longer one has a nonzero digit past the other's end.
    return (a.fraction_length > b.fraction_length) - (a.fraction_length < b.fraction_length)


cdef inline unsigned char *put_two_digits(unsigned char *o, int value) noexcept nogil:
    o[0] = <unsigned char> (48 + value // 10)
    o[1] = <unsigned char> (48 + value % 10)
    return o + 2


cdef Py_ssize_t put_time_key(unsigned char *key, const LineTime *t, const unsigned char *timestamp,
                             int unit) noexcept nogil:
    """The line's minute, hour or day in UTC as the key's text; returns its length."""
    cdef int year = t.year, month = t.month, day = t.day, hour = t.hour, minute = t.minute
    cdef int64_t seconds_of_day
    cdef unsigned char *o = key
    if t.utc_as_written and timestamp[10] == 84:
        # UTC as written with a "T": the key is the timestamp's own first bytes.
        if unit == UNIT_DAY:
            memcpy(key, timestamp, 10)
            return 10
        if unit == UNIT_HOUR:
            memcpy(key, timestamp, 13)
            key[13] = 90
            return 14
        memcpy(key, timestamp, 16)
        key[16] = 90
        return 17
    if not t.utc_as_written:
        civil_from_days((t.utc.seconds - FIRST_SECOND) // 86400 + FIRST_SECOND // 86400, &year, &month, &day)
        seconds_of_day = (t.utc.seconds - FIRST_SECOND) % 86400   # FIRST_SECOND is a midnight
        hour = <int> (seconds_of_day // 3600)
        minute = <int> (seconds_of_day // 60 % 60)
    o = put_two_digits(o, year // 100)
    o = put_two_digits(o, year % 100)
    o[0] = 45
    o = put_two_digits(o + 1, month)
    o[0] = 45
    o = put_two_digits(o + 1, day)
    if unit == UNIT_DAY:
        return o - key
    o[0] = 84
    o = put_two_digits(o + 1, hour)
    if unit == UNIT_MINUTE:
        o[0] = 58
        o = put_two_digits(o + 1, minute)
    o[0] = 90
    return o + 1 - key


# -- the groups --

cdef inline uint64_t hash_bytes(const unsigned char *p, Py_ssize_t n, uint64_t h) noexcept nogil:
    cdef uint64_t w = 0
    while n >= 8:
        memcpy(&w, p, 8)
        h = (h ^ w) * 0x9E3779B97F4A7C15ULL
        h ^= h >> 32
        p += 8
        n -= 8
    w = 0
    memcpy(&w, p, n)
    h = (h ^ w ^ (<uint64_t> n << 56)) * 0x9E3779B97F4A7C15ULL
    return h ^ (h >> 29)


cdef bint table_init(CountTable *t) noexcept nogil:
    t.entries = <CountEntry *> calloc(FIRST_TABLE_CAPACITY, sizeof(CountEntry))
    t.capacity = FIRST_TABLE_CAPACITY
    t.size = 0
    t.scratch = NULL
    t.scratch_capacity = 0
    return t.entries != NULL


cdef void table_free(CountTable *t) noexcept nogil:
    cdef Py_ssize_t i
    if t.entries != NULL:
        for i in range(t.capacity):
            free(t.entries[i].key)
        free(t.entries)
        t.entries = NULL
    free(t.scratch)
    t.scratch = NULL
    t.scratch_capacity = 0


cdef bint table_grow(CountTable *t) noexcept nogil:
    cdef Py_ssize_t capacity = t.capacity * 2, i, j
    cdef CountEntry *entries = <CountEntry *> calloc(capacity, sizeof(CountEntry))
    if entries == NULL:
        return False
    for i in range(t.capacity):
        if t.entries[i].count:
            j = t.entries[i].hash & (capacity - 1)
            while entries[j].count:
                j = (j + 1) & (capacity - 1)
            entries[j] = t.entries[i]
    free(t.entries)
    t.entries = entries
    t.capacity = capacity
    return True


cdef inline Py_ssize_t part_bytes(Py_ssize_t length) noexcept nogil:
    return length if length > 0 else 0   # an absent field (-1) has no bytes


cdef bint count_group(CountTable *t, const GroupKey *k) noexcept nogil:
    """One more line in the group of k; False when memory ran out."""
    cdef uint64_t h = k.event_id_kind | (<uint64_t> (k.length[PART_FIELD] < 0) << 8)
    cdef Py_ssize_t i, part, total = 0, at
    cdef CountEntry *e
    cdef bint same
    for part in range(KEY_PARTS):
        h = hash_bytes(k.part[part], part_bytes(k.length[part]), h)
        total += part_bytes(k.length[part])
    if (t.size + 1) * 2 > t.capacity and not table_grow(t):
        return False
    i = h & (t.capacity - 1)
    while True:
        e = &t.entries[i]
        if e.count == 0:
            e.key = <unsigned char *> malloc(total + 1)
            if e.key == NULL:
                return False
            at = 0
            for part in range(KEY_PARTS):
                memcpy(e.key + at, k.part[part], part_bytes(k.length[part]))
                at += part_bytes(k.length[part])
                e.length[part] = k.length[part]
            e.hash = h
            e.event_id_kind = k.event_id_kind
            e.count = 1
            t.size += 1
            return True
        if e.hash == h and e.event_id_kind == k.event_id_kind:
            same = True
            at = 0
            for part in range(KEY_PARTS):
                if (e.length[part] != k.length[part]
                        or memcmp(e.key + at, k.part[part], part_bytes(k.length[part])) != 0):
                    same = False
                    break
                at += part_bytes(k.length[part])
            if same:
                e.count += 1
                return True
        i = (i + 1) & (t.capacity - 1)


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
                    const unsigned char *end) noexcept nogil:
    """Parse a line and count it in its group, its strings unescaped first (LineOutcome)."""
    cdef LineFields f
    cdef GroupKey k
    cdef LineTime time
    cdef unsigned char time_key[LONGEST_TIME_KEY]
    cdef bint unescape_level, unescape_event_id, unescape_timestamp
    cdef unsigned char *out
    cdef const unsigned char *timestamp
    cdef Py_ssize_t timestamp_length
    if not parse_line(line, end, c, &f):
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
        if not parse_timestamp(timestamp, timestamp_length, &time):
            return LINE_BAD
        if c.has_since and compare_instants(&time.utc, &c.since) < 0:
            return LINE_OUTSIDE
        if c.has_until and compare_instants(&time.utc, &c.until) >= 0:
            return LINE_OUTSIDE
        if c.time_unit:
            k.length[PART_TIME] = put_time_key(time_key, &time, timestamp, c.time_unit)
    if not count_group(t, &k):
        return LINE_NO_MEMORY
    return LINE_COUNTED


cdef void scan_block(CountTable *t, const ScanConfig *c, const unsigned char *data, Py_ssize_t length,
                     bint final, ScanResult *result) noexcept nogil:
    """Count the lines of data into t.  A block that is not final keeps its unterminated
    tail for the next block (result.consumed stops before it); a final one's tail is a
    torn line.  The first NUL byte stops the scan, its line's piece before it a torn line."""
    cdef const unsigned char *p = data
    cdef const unsigned char *end = data + length
    cdef const unsigned char *newline
    cdef const unsigned char *nul = NULL
    cdef int outcome
    result.bad_lines = 0
    result.status = SCAN_END
    while p < end:
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
            outcome = count_line(t, c, p, newline)
            if outcome == LINE_NO_MEMORY:
                result.status = SCAN_NO_MEMORY
                break
            if outcome != LINE_BAD:
                p = newline + 1
                continue
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

    The group table lives in C across scan() calls; groups() reads it out.  See
    notes in fastevlog/_count.py and tests/count_reference.py for what counts.
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
        self.since_fraction = self.set_bound(&self.config.since, since, "since")
        self.config.has_since = since is not None
        self.until_fraction = self.set_bound(&self.config.until, until, "until")
        self.config.has_until = until is not None
        self.config.needs_time = time_unit != 0 or since is not None or until is not None

    cdef bytes set_bound(self, Instant *bound, object value, str name):
        """since/until as (seconds since the epoch, fraction digits) into bound; returns the bytes
        that hold its fraction (the scanner keeps them)."""
        cdef bytes fraction
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
        cdef bytes text
        if self.scanning:
            raise RuntimeError("CountScanner.groups: this scanner is scanning in another thread")
        for i in range(self.table.capacity):
            e = &self.table.entries[i]
            if e.count == 0:
                continue
            key = []
            at = 0
            if self.config.by_level:
                key.append((<char *> e.key)[:e.length[PART_LEVEL]].decode("utf-8"))
                at += e.length[PART_LEVEL]
            if self.config.by_event_id:
                text = (<char *> e.key + at)[:e.length[PART_EVENT_ID]]
                at += e.length[PART_EVENT_ID]
                if e.event_id_kind == ID_STR:
                    key.append(text.decode("utf-8"))
                else:
                    key.append(int_of_digits(text))
            if self.config.time_unit:
                key.append((<char *> e.key + at)[:e.length[PART_TIME]].decode("ascii"))
                at += e.length[PART_TIME]
            if self.config.field_name != NULL:
                key.append(None if e.length[PART_FIELD] < 0
                           else (<char *> e.key + at)[:e.length[PART_FIELD]])
            # Set, not added: the table already merged every spelling of a group (-0 and 0).
            groups[tuple(key)] = e.count
        return groups
