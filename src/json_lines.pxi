# Reading a line for counting, without the GIL: JSON validated without building it,
# and the members a count needs found.  What counts is tests/count_reference.py's
# spec (json.loads as the oracle); scanner.pxi drives this over blocks.
#
# A line counts when json.loads would read it as an object whose "level" is a
# string and whose "event_id" is a string or an int (not a bool: JSON's true is
# no number); the last of duplicate keys wins, as in json.loads.  Any other line
# is bad, except a blank one (JSON whitespace only), which is nothing.  Lines
# fastevlog wrote open with a fixed prefix, so their first three members are
# matched in place; the rest of every line is still validated, since a torn line
# can end in a "}" that closes nothing.  A good line is read once: the parser finds
# its newline on the way (memchr looks only for the end of a bad one).  Every read
# is bounded by the block's end: a line is never assumed to be terminated.

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


# -- validating JSON without building it --

cdef inline const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end) noexcept nogil:
    # Not the newline: it ends the line, so no token read on from the block can cross it.
    while p < end and (p[0] == 32 or p[0] == 9 or p[0] == 13):
        p += 1
    return p


cdef inline const unsigned char *at_newline(const unsigned char *p, const unsigned char *end) noexcept nogil:
    return p if p < end and p[0] == 10 else NULL


cdef extern from *:
    """
    #define FEVL_SCAN_LITTLE_ENDIAN (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)
    /* 16 bytes at a time where SSE2 is (every x86-64): a bit for each byte a JSON string
     * holds only after a look (a quote, a backslash, a control byte, and every byte >= 0x80,
     * which the signed compare takes for negative: UTF-8 to check). */
    #if defined(__SSE2__)
    #include <emmintrin.h>
    #define FEVL_SCAN_SSE2 1
    static inline unsigned fevl_scan_special16(const unsigned char *p) {
        __m128i v = _mm_loadu_si128((const __m128i *) p);
        __m128i quote = _mm_cmpeq_epi8(v, _mm_set1_epi8('"'));
        __m128i backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8('\\\\'));
        __m128i control_or_high = _mm_cmplt_epi8(v, _mm_set1_epi8(0x20));
        return (unsigned) _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control_or_high));
    }
    #else
    #define FEVL_SCAN_SSE2 0
    static inline unsigned fevl_scan_special16(const unsigned char *p) { (void) p; return 1; }
    #endif
    """
    bint FEVL_SCAN_LITTLE_ENDIAN
    bint FEVL_SCAN_SSE2
    unsigned fevl_scan_special16(const unsigned char *p) nogil
    int __builtin_ctz(unsigned x) nogil
    int __builtin_ctzll(unsigned long long x) nogil
    uint64_t __builtin_bswap64(uint64_t x) nogil


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


cdef inline bint plain_timestamp(const unsigned char *p) noexcept nogil:
    """Whether fastevlog's TIMESTAMP_BYTES of timestamp are ASCII a string holds as they are."""
    if FEVL_SCAN_SSE2:   # two overlapping 16-byte looks
        return (fevl_scan_special16(p) | fevl_scan_special16(p + TIMESTAMP_BYTES - 16)) == 0
    return plain_ascii(p, TIMESTAMP_BYTES)


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
    cdef unsigned special16
    cdef bint found
    while True:
        found = False
        if FEVL_SCAN_SSE2:
            while end - p >= 16:
                special16 = fevl_scan_special16(p)
                if special16 != 0:
                    p += __builtin_ctz(special16)
                    found = True
                    break
                p += 16
        while not found and end - p >= 8:
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
            # Literals, not pointers: the compiler compares them inline.
            or memcmp(line, b'{"timestamp":"', FAST_TIMESTAMP_AT) != 0
            or not plain_timestamp(line + FAST_TIMESTAMP_AT)
            or memcmp(line + FAST_LEVEL_KEY_AT, b'","level":"', 11) != 0):
        return NULL
    name = line + FAST_LEVEL_AT
    p = name
    while p < end and 65 <= p[0] <= 90:   # A-Z: other level names take the general path
        p += 1
    if p == name or end - p < FAST_ID_KEY_BYTES + 1 or memcmp(p, b'","event_id":', FAST_ID_KEY_BYTES) != 0:
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


cdef const unsigned char *parse_line(const unsigned char *line, const unsigned char *end,
                                     const ScanConfig *c, LineFields *f) noexcept nogil:
    """Where the line from line ends (its newline) when it is an object with a string level
    and a string or int event id, else NULL; f then says where its level, event id, timestamp
    and field are.  end is the block's: the line is read up to its newline, found on the way
    (one pass over a good line; no token the parser takes can hold a newline)."""
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
            return NULL
        p = skip_ws(p + 1, end)
    else:
        if c.fast_message and end - p > 12 and memcmp(p, b',"message":"', 12) == 0:
            # fastevlog writes the message next: a key that needs no look-up.
            p = skip_string(p + 12, end, &escaped)
            if p == NULL:
                return NULL
            p += 1
        p = skip_ws(p, end)
        if p >= end or (p[0] != 44 and p[0] != 125):
            return NULL
        if p[0] == 44:
            p = skip_ws(p + 1, end)
        else:
            return at_newline(skip_ws(p + 1, end), end)
    while True:
        if p >= end or p[0] != 34:   # an empty object has no level: as bad as any other
            return NULL
        key = p + 1
        escaped = False
        p = skip_string(key, end, &escaped)
        if p == NULL:
            return NULL
        member = member_of(key, p - key, escaped, c)
        p = skip_ws(p + 1, end)
        if p >= end or p[0] != 58:
            return NULL
        p = skip_ws(p + 1, end)
        if p >= end:
            return NULL
        value = p
        if p[0] == 34:
            escaped = False
            after = skip_string(p + 1, end, &escaped)
            if after == NULL:
                return NULL
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
                    return NULL
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
            return NULL
        if p[0] == 125:
            break
        if p[0] != 44:
            return NULL
        p = skip_ws(p + 1, end)
    if f.level == NULL or f.event_id_kind == ID_NONE:
        return NULL
    return at_newline(skip_ws(p + 1, end), end)
