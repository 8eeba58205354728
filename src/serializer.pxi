# The line format: values classified with the GIL held, then bounded and
# written without it, by log() and log_many() alike.
#
# A line is {"timestamp":"…","level":"…","event_id":…[,"message":"…"][,key:value…]}
# and a newline.  Callers reserve line_bound() bytes first, so no writer here
# checks space (a FASTEVLOG_DEBUG build checks the bound was kept).  Writers
# read only what classify() put in a Value (a str's text among it), never a
# Python object, so they run with the GIL released while those objects stay
# referenced.

from cpython.float cimport PyFloat_AS_DOUBLE
from libc.float cimport DBL_MIN
from libc.math cimport fabs, isfinite
from libc.stdio cimport snprintf
from libc.stdlib cimport abs, strtod, strtol
from libc.string cimport strchr

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
    INT_BOUND = 20           # "-9223372036854775808"; null, true and false are shorter
    FLOAT_BOUND = 32         # repr() of a double is at most 24 bytes
    TIMESTAMP_BYTES = 27     # 2026-11-28T16:03:05.123456Z
    # '{"timestamp":"…","level":"CRITICAL","event_id":' is 73 bytes; log_many() copies 80.
    PREFIX_BYTES = 80
    LINE_FIXED_BYTES = PREFIX_BYTES + 11 + 2   # the prefix, ',"message":', '}\n'
    # A VALUE_JSON's text is followed by this many readable bytes, and its bound leaves room
    # to write them: a fixed-size copy is a few moves where one of the exact length is a call.
    JSON_PAD = 32

cdef const char *HEX_DIGITS = b"0123456789abcdef"

# 48 is ord("0") below: a char literal in arithmetic would become a Python object.

# ESCAPE[c] for c < 0x80: 0 when c goes out as itself, else the character
# after the backslash ('u' meaning \u00XX).
cdef unsigned char ESCAPE[128]
ESCAPE[:] = [ord("u") if c < 0x20 else 0 for c in range(128)]
for _c, _e in zip(b'"\\\n\r\t\b\f', b'"\\nrtbf'):
    ESCAPE[_c] = _e


# -- values --

cdef inline void str_value(Value *v, object s) noexcept:
    """A str (or subclass) as a Value; s must stay referenced while v is used."""
    v.kind = VALUE_STR
    v.width = <uint8_t> PyUnicode_KIND(s)
    v.ascii = PyUnicode_IS_ASCII(s)
    v.length = PyUnicode_GET_LENGTH(s)
    v.text = PyUnicode_DATA(s)


cdef inline void json_value(Value *v, bytes padded) noexcept:
    """JSON text and JSON_PAD bytes after it, written without them; padded must stay
    referenced while v is used."""
    v.kind = VALUE_JSON
    v.text = PyBytes_AS_STRING(padded)
    v.length = PyBytes_GET_SIZE(padded) - JSON_PAD


cdef inline bint classify_plain(Value *v, object value) noexcept:
    """value as v (GIL held) when it is written as itself: None, bool, str, an int within
    64 bits or a float; else False, and classify() converts it."""
    cdef int overflow = 0
    if isinstance(value, str):
        str_value(v, value)
    elif value is None:
        v.kind = VALUE_NULL
    elif value is True:
        v.kind = VALUE_TRUE
    elif value is False:
        v.kind = VALUE_FALSE
    elif isinstance(value, int):
        v.kind = VALUE_INT
        v.number = PyLong_AsLongLongAndOverflow(value, &overflow)
        return not overflow
    elif isinstance(value, float):
        v.kind = VALUE_FLOAT
        v.real = PyFloat_AS_DOUBLE(value)
    else:
        return False
    return True


cdef object classify(Value *v, object value, object name):
    """value as v, GIL held.  Returns None, or the object v refers to in value's place,
    which the caller keeps referenced while v is used (value itself the caller keeps).
    name (a field's) is for the errors of values JSON cannot hold.

    None, bool, str, int and float are written as JSON; other types as values.pxi's
    json_form() says, and anything else as its str().
    """
    if classify_plain(v, value):
        return None
    form = json_form(value)
    if isinstance(form, str):
        str_value(v, form)
        return form
    padded = form + bytes(JSON_PAD) if type(form) is bytes else json_text(form, name)
    json_value(v, padded)
    return padded


cdef inline Py_ssize_t value_bound(const Value *v) noexcept nogil:
    """The most bytes put_value writes for v."""
    if v.kind == VALUE_STR:
        return 6 * v.length + 2  # "\u00XX" is the most one code point takes
    if v.kind == VALUE_JSON:
        return max(v.length, JSON_PAD)
    if v.kind == VALUE_FLOAT:
        return FLOAT_BOUND
    return INT_BOUND


cdef inline unsigned char *put_value(unsigned char *p, const Value *v) noexcept nogil:
    # Strings and encoded ids, most of what lines hold, inline; the rest out of line,
    # which keeps this small enough for the compiler to inline into put_body.
    if v.kind == VALUE_STR:
        return put_string(p, v)
    if v.kind == VALUE_JSON:
        if v.length <= JSON_PAD:
            memcpy(p, v.text, JSON_PAD)
            return p + v.length
        return put_raw(p, <const char *> v.text, v.length)
    return put_scalar(p, v)


cdef unsigned char *put_scalar(unsigned char *p, const Value *v) noexcept nogil:
    if v.kind == VALUE_INT:
        return put_int64(p, v.number)
    if v.kind == VALUE_FLOAT:
        return put_double(p, v.real)
    if v.kind == VALUE_UINT:
        return put_uint64(p, <uint64_t> v.number)
    if v.kind == VALUE_NULL:
        return put_raw(p, b"null", 4)
    if v.kind == VALUE_TRUE:
        return put_raw(p, b"true", 4)
    if v.kind == VALUE_FALSE:
        return put_raw(p, b"false", 5)
    return p  # VALUE_ABSENT


# -- lines --

cdef inline Py_ssize_t line_bound(const Value *event_id, const Value *message, const Value *context,
                                  const Value *keys, const Value *values, Py_ssize_t count) noexcept nogil:
    """The most bytes a line with these values takes; context is NULL or a bound logger's fields."""
    cdef Py_ssize_t bound = LINE_FIXED_BYTES + value_bound(event_id) + value_bound(message), i
    if context != NULL:
        bound += value_bound(context)
    for i in range(count):
        bound += value_bound(&keys[i]) + 2 + value_bound(&values[i])
    return bound


cdef inline unsigned char *put_prefix(unsigned char *p, TimestampCache *clock, int level) noexcept nogil:
    """'{"timestamp":"…","level":"…","event_id":' with the time now."""
    p = put_raw(p, b'{"timestamp":"', 14)
    p = put_timestamp(p, clock)
    return put_raw(p, LEVEL_INFIX[level], LEVEL_INFIX_LENGTH[level])


cdef inline unsigned char *put_body(unsigned char *p, const Value *event_id, const Value *message,
                                    const Value *context, const Value *keys, const Value *values,
                                    Py_ssize_t count) noexcept nogil:
    """The rest of the line after the prefix: id, message, a bound logger's fields (context, a
    VALUE_JSON of ',"key":value…', or NULL), the call's fields, '}' and the newline."""
    p = put_value(p, event_id)
    if message.kind != VALUE_ABSENT:
        p = put_raw(p, b',"message":', 11)
        p = put_value(p, message)
    if context != NULL:  # a VALUE_JSON, written as put_value would: one call site fewer to inline it into
        p = put_raw(p, <const char *> context.text, context.length)
    cdef Py_ssize_t i
    for i in range(count):
        p[0] = b','
        p = put_value(p + 1, &keys[i])
        p[0] = b':'
        p = put_value(p + 1, &values[i])
    p[0] = b'}'
    p[1] = b'\n'
    return p + 2


# -- the writers of each kind --

cdef inline unsigned char *put_string(unsigned char *p, const Value *v) noexcept nogil:
    """A VALUE_STR as a quoted JSON string."""
    # Clean ASCII of up to 32 bytes, the common case, is copied inline (a C
    # function the compiler must inline); the rest goes to put_text_long.
    p[0] = b'"'
    cdef unsigned char *end = NULL
    if v.ascii:
        end = fevl_put_short_ascii(p + 1, v.text, v.length)
    if end == NULL:
        end = put_text_long(p + 1, v.width, v.text, v.length, v.ascii)
    end[0] = b'"'
    return end + 1


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


cdef unsigned char *put_text_long(unsigned char *p, int kind, const void *data,
                                  Py_ssize_t n, bint ascii) noexcept nogil:
    """The characters of a PEP 393 string, escaped, without quotes: what put_string
    does not copy inline (long or escaped ASCII, and every other kind)."""
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


cdef inline unsigned char *put_raw(unsigned char *p, const char *s, Py_ssize_t n) noexcept nogil:
    memcpy(p, s, n)
    return p + n


# "00" .. "99": two digits per table read instead of a division each.
cdef char DIGIT_PAIRS[200]
_digit_pairs = "".join([f"{i:02d}" for i in range(100)]).encode()
memcpy(DIGIT_PAIRS, PyBytes_AS_STRING(_digit_pairs), 200)


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


cdef bint reads_back(char *text, double v, int digits) noexcept nogil:
    """Put in text (40 bytes) the decimal of that many significant digits nearest to v that
    reads back as v, if one does; returns whether one does."""
    snprintf(text, 40, "%.*e", digits - 1, v)
    cdef double nearest = strtod(text, NULL)
    if nearest == v:
        return True
    # The decimal on v's other side, one unit away in the last digit, may read back where the
    # nearest does not: printf rounds a tie to even, and a power of two is nearer to the
    # double below it than to the one above.
    cdef bint up = fabs(nearest) < fabs(v)
    cdef char carried = b'9' if up else b'0'
    cdef char last = b'9' if up else b'1'  # a first digit that carries out of the string
    cdef char *exponent = strchr(text, b'e')
    cdef char *first = text + (text[0] == b'-')
    cdef char *d = exponent - 1
    while d > first and (d[0] == carried or d[0] == b'.'):
        if d[0] == carried:
            d[0] = b'0' if up else b'9'
        d -= 1
    if d == first and d[0] == last:  # 9.99e5 up is 1.00e6, 1.00e6 down 9.99e5
        d[0] = b'1' if up else b'9'
        snprintf(exponent, 8, "e%+03d", <int> strtol(exponent + 1, NULL, 10) + (1 if up else -1))
    else:
        d[0] = d[0] + 1 if up else d[0] - 1
    return strtod(text, NULL) == v


cdef unsigned char *put_double(unsigned char *p, double v) noexcept nogil:
    """repr(v) (which needs the GIL itself) for a finite v, else null.

    repr() writes the fewest significant digits that read back as v, in fixed
    notation when the decimal exponent is in [-4, 16), else as d.ddde±XX.
    """
    if not isfinite(v):
        return put_raw(p, b"null", 4)
    cdef char text[40]
    cdef int precision, low = 1, high = 17, n = 0, exponent, i
    if fabs(v) < DBL_MIN:
        # Zero or subnormal: fewer than 15 digits may read back; more digits
        # never fail once fewer do, so search for the fewest.
        while low < high:
            precision = (low + high) // 2
            if reads_back(text, v, precision):
                high = precision
            else:
                low = precision + 1
        reads_back(text, v, low)
    else:
        # Any 15 digits of a normal double read back as the same one: only
        # the first of these that reads back as v can be repr()'s.
        for precision in range(15, 18):
            if reads_back(text, v, precision):
                break
    # text is [-]d[<point>ddd]e<sign>XX: take its digits (trailing zeros off) and exponent.
    cdef char digits[20]
    cdef const char *t = text
    if t[0] == b'-':
        p[0] = b'-'
        p += 1
        t += 1
    while t[0] != b'e':
        if 48 <= t[0] <= 57:
            digits[n] = t[0]
            n += 1
        t += 1
    while n > 1 and digits[n - 1] == b'0':
        n -= 1
    exponent = <int> strtol(t + 1, NULL, 10)
    if exponent < -4 or exponent >= 16:
        p[0] = digits[0]
        p += 1
        if n > 1:
            p[0] = b'.'
            p = put_raw(p + 1, digits + 1, n - 1)
        p[0] = b'e'
        p[1] = b'-' if exponent < 0 else b'+'
        exponent = abs(exponent)
        if exponent >= 100:
            p[2] = <char> (48 + exponent // 100)
            p += 1
        p[2] = <char> (48 + exponent // 10 % 10)
        p[3] = <char> (48 + exponent % 10)
        return p + 4
    if exponent < 0:
        p = put_raw(p, b"0.", 2)
        memset(p, b'0', -exponent - 1)
        p += -exponent - 1
        return put_raw(p, digits, n)
    for i in range(exponent + 1):  # the integral digits, zeros past the significant ones
        p[0] = digits[i] if i < n else b'0'
        p += 1
    p[0] = b'.'
    if n <= exponent + 1:
        p[1] = b'0'
        return p + 2
    return put_raw(p + 1, digits + exponent + 1, n - exponent - 1)


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
