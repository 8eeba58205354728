# JSON encoding primitives: each writes at p and returns the byte after.
#
# Callers reserve room first; the bound for a string of n code points is
# STR_BOUND(n) bytes (6 bytes, "\u00XX", is the most one code point can take),
# so no primitive ever checks space.  None of them touches Python objects
# beyond reading immutable str data, so they need no GIL of their own.

cdef extern from "Python.h":
    int PyUnicode_IS_ASCII(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    int PyUnicode_KIND(object o)
    void *PyUnicode_DATA(object o)
    char *PyOS_double_to_string(double val, char format_code, int precision,
                                int flags, int *ptype) except NULL
    int Py_DTSF_ADD_DOT_0
    void PyMem_Free(void *p)

cdef extern from "fevl.h" nogil:
    bint fevl_ascii8_needs_escape(const unsigned char *s)
    bint fevl_ascii16_copy_clean(unsigned char *out, const unsigned char *s)
    bint fevl_ascii_short_copy_clean(unsigned char *out, const unsigned char *s, size_t n)
    unsigned char *fevl_put_short_ascii(unsigned char *p, const unsigned char *s, Py_ssize_t n)
    ctypedef struct fevl_clock:
        pass
    int64_t fevl_clock_now(fevl_clock *c)
    int fevl_use_tsc
    bint FEVL_HAVE_TSC

cdef extern from "<time.h>" nogil:
    struct tm:
        int tm_sec
        int tm_min
        int tm_hour
        int tm_mday
        int tm_mon
        int tm_year
    tm *gmtime_r(const time_t *timep, tm *result)

cdef enum:
    INT_BOUND = 20           # "-9223372036854775808"
    FLOAT_BOUND = 32         # repr() of a double is at most 24 bytes
    TIMESTAMP_BYTES = 27     # 2026-11-28T16:03:05.123456Z

cdef inline Py_ssize_t STR_BOUND(Py_ssize_t n) noexcept nogil:
    return 6 * n + 2

cdef const char *HEX_DIGITS = b"0123456789abcdef"

# 48 is ord("0") below: a char literal in arithmetic would become a Python object.

# ESCAPE[c] for c < 0x80: 0 when c goes out as itself, else the character
# after the backslash ('u' meaning \u00XX).
cdef unsigned char ESCAPE[128]

cdef void _init_escape_table() noexcept:
    cdef int c
    for c in range(128):
        ESCAPE[c] = b'u' if c < 0x20 else 0
    ESCAPE[b'"'] = b'"'
    ESCAPE[b'\\'] = b'\\'
    ESCAPE[b'\n'] = b'n'
    ESCAPE[b'\r'] = b'r'
    ESCAPE[b'\t'] = b't'
    ESCAPE[0x08] = b'b'
    ESCAPE[0x0c] = b'f'

_init_escape_table()


cdef inline unsigned char *put_ascii_escape(unsigned char *p, uint32_t c) noexcept nogil:
    p[0] = b'\\'
    cdef unsigned char e = ESCAPE[c]
    if e != b'u':
        p[1] = e
        return p + 2
    p[1] = b'u'
    p[2] = b'0'
    p[3] = b'0'
    p[4] = HEX_DIGITS[c >> 4]
    p[5] = HEX_DIGITS[c & 15]
    return p + 6


cdef inline unsigned char *put_code_point(unsigned char *p, uint32_t c) noexcept nogil:
    """Any code point: escaped per RFC 8259 (plus U+2028/9), else UTF-8."""
    if c < 0x80:
        if ESCAPE[c]:
            return put_ascii_escape(p, c)
        p[0] = <unsigned char> c
        return p + 1
    if c < 0x800:
        p[0] = <unsigned char> (0xC0 | (c >> 6))
        p[1] = <unsigned char> (0x80 | (c & 0x3F))
        return p + 2
    if c < 0x10000:
        if c == 0x2028 or c == 0x2029:
            # Valid JSON, but JavaScript parsers before ES2019 end a line there.
            memcpy(p, b"\\u202", 5)
            p[5] = b'8' if c == 0x2028 else b'9'
            return p + 6
        if 0xD800 <= c <= 0xDFFF:
            c = 0xFFFD  # a lone surrogate has no UTF-8 form
        p[0] = <unsigned char> (0xE0 | (c >> 12))
        p[1] = <unsigned char> (0x80 | ((c >> 6) & 0x3F))
        p[2] = <unsigned char> (0x80 | (c & 0x3F))
        return p + 3
    p[0] = <unsigned char> (0xF0 | (c >> 18))
    p[1] = <unsigned char> (0x80 | ((c >> 12) & 0x3F))
    p[2] = <unsigned char> (0x80 | ((c >> 6) & 0x3F))
    p[3] = <unsigned char> (0x80 | (c & 0x3F))
    return p + 4


cdef inline unsigned char *put_text(unsigned char *p, int kind, const void *data,
                                    Py_ssize_t n, bint ascii) noexcept nogil:
    """The characters of a PEP 393 string, escaped, without quotes."""
    # Clean ASCII of up to 32 bytes, the common case, is copied inline (a C
    # function the compiler must inline); the rest goes to put_text_long.
    cdef unsigned char *end
    if ascii:
        end = fevl_put_short_ascii(p, <const unsigned char *> data, n)
        if end != NULL:
            return end
    return put_text_long(p, kind, data, n, ascii)


cdef unsigned char *put_text_long(unsigned char *p, int kind, const void *data,
                                  Py_ssize_t n, bint ascii) noexcept nogil:
    """put_text for the rest: long or escaped ASCII, and every other kind."""
    cdef Py_ssize_t i
    cdef const unsigned char *b
    cdef unsigned char c
    if ascii:
        # 16, then 8 bytes at a time while none needs escaping.
        b = <const unsigned char *> data
        i = 0
        while i + 16 <= n and fevl_ascii16_copy_clean(p, b + i):
            p += 16
            i += 16
        if 0 < n - i < 16 and i >= 16 and fevl_ascii16_copy_clean(p - (i - (n - 16)), b + n - 16):
            # Nothing escaped so far, so output and input line up: the last 16
            # bytes, overlapping some already copied, finish the string.
            return p + (n - i)
        while i + 8 <= n and not fevl_ascii8_needs_escape(b + i):
            memcpy(p, b + i, 8)
            p += 8
            i += 8
        if 0 < n - i < 8 and i >= 8 and not fevl_ascii8_needs_escape(b + n - 8):
            # Nothing escaped so far, so output and input line up: the last 8
            # bytes, overlapping some already copied, finish the string.
            memcpy(p - (i - (n - 8)), b + n - 8, 8)
            return p + (n - i)
        while i < n:
            c = b[i]
            if ESCAPE[c]:
                p = put_ascii_escape(p, c)
            else:
                p[0] = c
                p += 1
            i += 1
            if i + 8 <= n and not (i & 7) and not fevl_ascii8_needs_escape(b + i):
                memcpy(p, b + i, 8)  # back to whole words after an escape
                p += 8
                i += 8
    elif kind == 1:
        for i in range(n):
            p = put_code_point(p, (<const uint8_t *> data)[i])
    elif kind == 2:
        for i in range(n):
            p = put_code_point(p, (<const uint16_t *> data)[i])
    else:
        for i in range(n):
            p = put_code_point(p, (<const uint32_t *> data)[i])
    return p


cdef inline unsigned char *put_str(unsigned char *p, object s) noexcept:
    """A str (or subclass: callers check) as a quoted JSON string."""
    p[0] = b'"'
    cdef unsigned char *end = NULL
    if PyUnicode_IS_ASCII(s):  # the fast case inline here, whether or not put_text is
        end = fevl_put_short_ascii(p + 1, <const unsigned char *> PyUnicode_DATA(s), PyUnicode_GET_LENGTH(s))
    if end == NULL:
        end = put_text_long(p + 1, PyUnicode_KIND(s), PyUnicode_DATA(s),
                            PyUnicode_GET_LENGTH(s), PyUnicode_IS_ASCII(s))
    end[0] = b'"'
    return end + 1


cdef inline unsigned char *put_raw(unsigned char *p, const char *s, Py_ssize_t n) noexcept nogil:
    memcpy(p, s, n)
    return p + n


# "00" .. "99": two digits per table read instead of a division each.
cdef char DIGIT_PAIRS[200]

cdef void _init_digit_pairs() noexcept:
    cdef int i
    for i in range(100):
        DIGIT_PAIRS[2 * i] = <char> (48 + i // 10)
        DIGIT_PAIRS[2 * i + 1] = <char> (48 + i % 10)

_init_digit_pairs()


cdef unsigned char *put_uint64(unsigned char *p, uint64_t u) noexcept nogil:
    # Not inline: inlined into its callers it cost log() 16 more instructions a call
    # (callgrind), though log("INFO", "event_7", ...) writes no integer.
    # Digits are made from the right, two per table read, then copied out.
    cdef char digits[INT_BOUND]
    cdef char *d = digits + INT_BOUND
    while u >= 100:
        d -= 2
        memcpy(d, &DIGIT_PAIRS[2 * (u % 100)], 2)
        u //= 100
    if u >= 10:
        d -= 2
        memcpy(d, &DIGIT_PAIRS[2 * u], 2)
    else:
        d -= 1
        d[0] = <char> (48 + u)
    cdef Py_ssize_t n = digits + INT_BOUND - d
    memcpy(p, d, n)
    return p + n


cdef inline unsigned char *put_int64(unsigned char *p, int64_t v) noexcept nogil:
    # Work on the magnitude as unsigned so INT64_MIN does not overflow.
    cdef uint64_t u = <uint64_t> v
    if v < 0:
        p[0] = b'-'
        p += 1
        u = (~u) + 1
    return put_uint64(p, u)


cdef inline unsigned char *put_double(unsigned char *p, double v) except NULL:
    """repr() of a finite double, which is valid JSON; null otherwise."""
    if not isfinite(v):
        return put_raw(p, b"null", 4)
    cdef char *text = PyOS_double_to_string(v, b'r', 0, Py_DTSF_ADD_DOT_0, NULL)
    cdef size_t n = strlen(text)
    memcpy(p, text, n)
    PyMem_Free(text)
    return p + n


cdef struct TimestampCache:
    fevl_clock clock
    int64_t second_ns        # the second `text` spells, in ns since the epoch
    char text[20]            # "YYYY-MM-DDTHH:MM:SS."


cdef inline void put_two(char *p, int v) noexcept nogil:
    p[0] = <char> (48 + v // 10)
    p[1] = <char> (48 + v % 10)


cdef inline unsigned char *put_timestamp(unsigned char *p, TimestampCache *cache) noexcept nogil:
    """The current UTC time, RFC 3339 with microseconds, quoted digits only."""
    cdef int64_t now = fevl_clock_now(&cache.clock)
    cdef time_t second
    cdef tm t
    if <uint64_t> (now - cache.second_ns) >= 1000000000:
        # Formatting a date costs far more than a line; do it once a second.
        second = now // 1000000000
        gmtime_r(&second, &t)
        put_two(cache.text, (t.tm_year + 1900) // 100)
        put_two(cache.text + 2, (t.tm_year + 1900) % 100)
        cache.text[4] = b'-'
        put_two(cache.text + 5, t.tm_mon + 1)
        cache.text[7] = b'-'
        put_two(cache.text + 8, t.tm_mday)
        cache.text[10] = b'T'
        put_two(cache.text + 11, t.tm_hour)
        cache.text[13] = b':'
        put_two(cache.text + 14, t.tm_min)
        cache.text[16] = b':'
        put_two(cache.text + 17, t.tm_sec)
        cache.text[19] = b'.'
        cache.second_ns = <int64_t> second * 1000000000
    memcpy(p, cache.text, 20)
    # Unsigned 32-bit: each division by a constant is one multiply and a shift.
    cdef uint32_t us = <uint32_t> (<uint64_t> (now - cache.second_ns) // 1000)
    memcpy(p + 20, &DIGIT_PAIRS[2 * (us // 10000)], 2)
    memcpy(p + 22, &DIGIT_PAIRS[2 * (us // 100 % 100)], 2)
    memcpy(p + 24, &DIGIT_PAIRS[2 * (us % 100)], 2)
    p[26] = b'Z'
    return p + TIMESTAMP_BYTES


def _clock_source(name=None):
    """The clock of timestamps, "tsc" or "clock_gettime"; given a name, switch to it (tests, benchmarks)."""
    global fevl_use_tsc
    if name is not None:
        if name not in ("tsc", "clock_gettime") or (name == "tsc" and not FEVL_HAVE_TSC):
            raise ValueError(f"no clock source {name!r} here")
        fevl_use_tsc = name == "tsc"
    return "tsc" if fevl_use_tsc else "clock_gettime"


def _kernel_clock_source():
    try:
        with open("/sys/devices/system/clocksource/clocksource0/current_clocksource") as f:
            return f.read().strip()
    except OSError:
        return None


# The TSC only where the kernel keeps time with it: it then knows the TSC is synchronised between CPUs.
if FEVL_HAVE_TSC and _kernel_clock_source() == "tsc":
    _clock_source("tsc")
