# The counting scanner: a block of JSON lines in, counts per (level, event_id) out,
# all of it without the GIL.
#
# A line counts when json.loads would read it as an object whose "level" is a
# string and whose "event_id" is a string or an int (not a bool: JSON's true is
# no number); the last of duplicate keys wins, as in json.loads.  Any other line
# is bad.  Lines fastevlog wrote open with a fixed prefix, so their first three
# members are matched in place; the rest of every line is still validated, since
# a torn line can end in a "}" that closes nothing.  Every read is bounded by the
# line's end: a line is never assumed to be terminated.

from cpython.buffer cimport PyBUF_SIMPLE
from libc.stdlib cimport realloc

cdef enum:
    SCAN_MAX_NESTING = 1024       # deeper lines are bad (json.loads stops near its recursion limit)
    FAST_TIMESTAMP_AT = 14   # {"timestamp":"
    FAST_LEVEL_KEY_AT = FAST_TIMESTAMP_AT + TIMESTAMP_BYTES
    FAST_LEVEL_AT = FAST_LEVEL_KEY_AT + 11      # ","level":"
    FAST_ID_KEY_BYTES = 13   # ","event_id":
    MEMBER_OTHER = 0
    MEMBER_TIMESTAMP
    MEMBER_LEVEL
    MEMBER_EVENT_ID
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
    """p at a value that is no string, object or array: past it, or NULL.  json.loads
    also reads NaN, Infinity and -Infinity, so they are values here too."""
    cdef bint is_int = True
    cdef unsigned char c = p[0]
    if c == 116:
        return skip_word(p, end, b"true", 4)
    if c == 102:
        return skip_word(p, end, b"false", 5)
    if c == 110:
        return skip_word(p, end, b"null", 4)
    if c == 78:
        return skip_word(p, end, b"NaN", 3)
    if c == 73:
        return skip_word(p, end, b"Infinity", 8)
    if c == 45 and end - p > 1 and p[1] == 73:
        return skip_word(p, end, b"-Infinity", 9)
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
    cdef unsigned char open_containers[SCAN_MAX_NESTING]   # '{' or '['
    cdef Py_ssize_t depth = 0
    cdef bint escaped = False
    cdef unsigned char c
    while True:
        p = skip_ws(p, end)
        if p >= end:
            return NULL
        c = p[0]
        if c == 123 or c == 91:
            p = skip_ws(p + 1, end)
            if p >= end:
                return NULL
            if p[0] == c + 2:   # '}' and ']' are 2 past their openers
                p += 1
            else:
                if depth == SCAN_MAX_NESTING:
                    return NULL
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

cdef Py_ssize_t unescape(const unsigned char *s, Py_ssize_t n, unsigned char *out) noexcept nogil:
    """A string skip_string() accepted (between its quotes) unescaped into out (room for n
    bytes: no escape is shorter than what it stands for); returns the length.  A surrogate
    pair becomes its code point; a lone surrogate its 3 bytes, which strict UTF-8 never
    holds, so the caller decodes them with "surrogatepass" into the str json.loads makes."""
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


cdef int member_of(const unsigned char *key, Py_ssize_t n, bint escaped) noexcept nogil:
    """Which counted member a key names (MEMBER_*), its escapes undone first."""
    cdef unsigned char plain[LONGEST_ESCAPED_KEY]
    if escaped:
        if n > LONGEST_ESCAPED_KEY:
            return MEMBER_OTHER
        n = unescape(key, n, plain)
        key = plain
    if n == 5 and memcmp(key, b"level", 5) == 0:
        return MEMBER_LEVEL
    if n == 8 and memcmp(key, b"event_id", 8) == 0:
        return MEMBER_EVENT_ID
    if n == 9 and memcmp(key, b"timestamp", 9) == 0:
        return MEMBER_TIMESTAMP
    return MEMBER_OTHER


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
    f.timestamp = line + FAST_TIMESTAMP_AT
    f.timestamp_length = TIMESTAMP_BYTES
    f.level = name
    f.level_length = p - name
    f.level_escaped = False
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
    f.event_id_escaped = False
    return p


cdef bint parse_line(const unsigned char *line, const unsigned char *end, LineFields *f) noexcept nogil:
    """Whether a line (without its newline) is a counted one; f then says where its level,
    event id and timestamp are."""
    cdef const unsigned char *p
    cdef const unsigned char *key
    cdef const unsigned char *value
    cdef const unsigned char *after
    cdef bint escaped = False, is_int = True
    cdef int member
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
        member = member_of(key, p - key, escaped)
        p = skip_ws(p + 1, end)
        if p >= end or p[0] != 58:
            return False
        p = skip_ws(p + 1, end)
        if p >= end:
            return False
        if p[0] == 34:
            value = p + 1
            escaped = False
            p = skip_string(value, end, &escaped)
            if p == NULL:
                return False
            if member == MEMBER_LEVEL:
                f.level = value
                f.level_length = p - value
                f.level_escaped = escaped
            elif member == MEMBER_EVENT_ID:
                f.event_id = value
                f.event_id_length = p - value
                f.event_id_kind = ID_STR
                f.event_id_escaped = escaped
            elif member == MEMBER_TIMESTAMP:
                f.timestamp = value
                f.timestamp_length = p - value
            p += 1
        else:
            after = NULL
            if member == MEMBER_EVENT_ID and (p[0] == 45 or is_digit(p[0])):
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
                if member == MEMBER_LEVEL:
                    f.level = NULL
                elif member == MEMBER_EVENT_ID:
                    f.event_id_kind = ID_NONE
                elif member == MEMBER_TIMESTAMP:
                    f.timestamp = NULL
            p = after
        p = skip_ws(p, end)
        if p >= end:
            return False
        if p[0] == 125:
            break
        if p[0] != 44:
            return False
        p = skip_ws(p + 1, end)
    return skip_ws(p + 1, end) == end and f.level != NULL and f.event_id_kind != ID_NONE


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


cdef bint count_group(CountTable *t, const unsigned char *level, Py_ssize_t level_length,
                      const unsigned char *event_id, Py_ssize_t event_id_length,
                      uint8_t event_id_kind) noexcept nogil:
    """One more line in the group of these bytes; False when memory ran out."""
    cdef uint64_t h = hash_bytes(event_id, event_id_length,
                                 hash_bytes(level, level_length, event_id_kind))
    cdef Py_ssize_t i
    cdef CountEntry *e
    if (t.size + 1) * 2 > t.capacity and not table_grow(t):
        return False
    i = h & (t.capacity - 1)
    while True:
        e = &t.entries[i]
        if e.count == 0:
            e.key = <unsigned char *> malloc(level_length + event_id_length + 1)
            if e.key == NULL:
                return False
            memcpy(e.key, level, level_length)
            memcpy(e.key + level_length, event_id, event_id_length)
            e.hash = h
            e.level_length = level_length
            e.event_id_length = event_id_length
            e.event_id_kind = event_id_kind
            e.count = 1
            t.size += 1
            return True
        if (e.hash == h and e.level_length == level_length and e.event_id_length == event_id_length
                and e.event_id_kind == event_id_kind and memcmp(e.key, level, level_length) == 0
                and memcmp(e.key + level_length, event_id, event_id_length) == 0):
            e.count += 1
            return True
        i = (i + 1) & (t.capacity - 1)


cdef bint count_line(CountTable *t, const LineFields *f) noexcept nogil:
    """The line's group counted, its level and id unescaped first; False when memory ran out."""
    cdef const unsigned char *level = f.level
    cdef const unsigned char *event_id = f.event_id
    cdef Py_ssize_t level_length = f.level_length, event_id_length = f.event_id_length
    cdef Py_ssize_t needed = level_length + event_id_length
    cdef unsigned char *grown
    if f.level_escaped or f.event_id_escaped:
        if needed > t.scratch_capacity:
            grown = <unsigned char *> realloc(t.scratch, needed)
            if grown == NULL:
                return False
            t.scratch = grown
            t.scratch_capacity = needed
        if f.level_escaped:
            level_length = unescape(level, level_length, t.scratch)
            level = t.scratch
        if f.event_id_escaped:
            event_id_length = unescape(event_id, event_id_length, t.scratch + level_length)
            event_id = t.scratch + level_length
    elif f.event_id_kind == ID_INT and event_id_length == 2 and event_id[0] == 45 and event_id[1] == 48:
        event_id += 1   # -0 is the int 0
        event_id_length = 1
    return count_group(t, level, level_length, event_id, event_id_length, f.event_id_kind)


cdef void scan_block(CountTable *t, const unsigned char *data, Py_ssize_t length, bint final,
                     ScanResult *result) noexcept nogil:
    """Count the lines of data into t.  A block that is not final keeps its unterminated
    tail for the next block (result.consumed stops before it); a final one counts it too."""
    cdef const unsigned char *p = data
    cdef const unsigned char *end = data + length
    cdef const unsigned char *newline
    cdef const unsigned char *line_end
    cdef LineFields f
    result.lines = 0
    result.bad_lines = 0
    result.status = SCAN_END
    while p < end:
        newline = <const unsigned char *> memchr(p, 10, end - p)
        if newline == NULL:
            # A live file's unwritten range can run to the end of what was read.
            if memchr(p, 0, end - p) != NULL:
                result.status = SCAN_NUL
                break
            if not final:
                if p == data:
                    result.status = SCAN_LINE_TOO_LONG
                break
            line_end = end
        else:
            line_end = newline
        if parse_line(p, line_end, &f):
            if not count_line(t, &f):
                result.status = SCAN_NO_MEMORY
                break
            result.lines += 1
        elif memchr(p, 0, line_end - p) != NULL:
            # No JSON line holds a NUL byte: this one is where writing has not reached yet.
            result.status = SCAN_NUL
            break
        else:
            result.bad_lines += 1
        p = end if newline == NULL else newline + 1
    FEVL_CHECK(data <= p <= end, "the scanner stops inside its block")
    result.consumed = p - data


def scan_counts(data, *, bint final=True):
    """Count the JSON lines of data (bytes-like) per (level, event_id), without the GIL.

    Returns (counts, bad_lines, consumed_bytes, stopped_at_nul): counts maps
    (level, event_id) to a count, the id a str or an int as json.loads reads it.
    With final false, an unterminated last line is left for the caller's next
    block (consumed_bytes stops before it; 0 with no newline at all: a line
    longer than the block).  A NUL byte stops the scan at the start of its line.
    """
    cdef Py_buffer view
    cdef CountTable table
    cdef ScanResult result
    cdef Py_ssize_t i, bad_lines
    cdef CountEntry *e
    cdef dict counts = {}
    if not PyObject_CheckBuffer(data):
        raise TypeError(f"scan_counts: data must be bytes-like (bytes, bytearray, memoryview, mmap), "
                        f"not {type(data).__name__}")
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    if not table_init(&table):
        PyBuffer_Release(&view)
        raise MemoryError()
    try:
        with nogil:
            scan_block(&table, <const unsigned char *> view.buf, view.len, final, &result)
        if result.status == SCAN_NO_MEMORY:
            raise MemoryError()
        bad_lines = result.bad_lines
        for i in range(table.capacity):
            e = &table.entries[i]
            if e.count == 0:
                continue
            level = (<char *> e.key)[:e.level_length].decode("utf-8", "surrogatepass")
            event_id = (<char *> e.key + e.level_length)[:e.event_id_length]
            if e.event_id_kind == ID_STR:
                event_id = event_id.decode("utf-8", "surrogatepass")
            else:
                try:
                    event_id = int(event_id)
                except ValueError:
                    if not event_id.lstrip(b"-").isdigit():
                        raise   # the scanner took something else for an int: a bug to see, not hide
                    bad_lines += e.count   # past sys.get_int_max_str_digits(): json.loads refuses it too
                    continue
            # Set, not added: the table already merged every spelling of a group (-0 and 0).
            counts[(level, event_id)] = e.count
        return counts, bad_lines, result.consumed, result.status == SCAN_NUL
    finally:
        table_free(&table)
        PyBuffer_Release(&view)
