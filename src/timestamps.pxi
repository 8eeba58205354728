# Timestamps for counting: RFC 3339 read exactly, the time keys and the since/until window.

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


cdef bint parse_timestamp(const unsigned char *s, Py_ssize_t n, LineTime *t,
                          bint need_seconds) noexcept nogil:
    """An RFC 3339 date-time, the whole of s: YYYY-MM-DD(T|t| )HH:MM:SS[.digits](Z|z|+HH:MM|-HH:MM).
    False when it is not one, names a date that does not exist, a leap second, an offset past
    23:59, or an instant outside years 1..9999 in UTC.  t.utc.seconds is set when need_seconds
    or the offset is not zero."""
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
    if offset == 0 and not need_seconds:
        return True   # years 1..9999 as written are years 1..9999 in UTC; the key needs no more
    seconds = (days_from_civil(t.year, t.month, t.day) * 86400 + t.hour * 3600 + t.minute * 60 + second
               - offset)
    if seconds < FIRST_SECOND or seconds > LAST_SECOND:
        return False
    t.utc.seconds = seconds
    return True


cdef inline int compare_fractions(const Instant *a, const Instant *b) noexcept nogil:
    """Fractions without trailing zeros compare as text, the longer one after on a tie (it has
    a nonzero digit past the other's end)."""
    cdef Py_ssize_t common = a.fraction_length if a.fraction_length < b.fraction_length else b.fraction_length
    cdef Py_ssize_t i
    for i in range(common):   # a few digits: no memcmp call
        if a.fraction[i] != b.fraction[i]:
            return -1 if a.fraction[i] < b.fraction[i] else 1
    return (a.fraction_length > b.fraction_length) - (a.fraction_length < b.fraction_length)


cdef inline uint64_t big_endian_word(const unsigned char *p) noexcept nogil:
    """8 bytes as a number that orders as the bytes do."""
    cdef uint64_t w = 0
    memcpy(&w, p, 8)
    return __builtin_bswap64(w) if FEVL_SCAN_LITTLE_ENDIAN else w


cdef inline int compare_to_bound(const LineTime *t, const unsigned char *timestamp, const Instant *bound,
                                 const unsigned char *bound_text) noexcept nogil:
    """<0, 0, >0 as the line's instant is before, at, after the bound."""
    cdef uint64_t a, b
    if t.utc_as_written:
        # UTC as written: the digits are the instant's, in the bound text's places.  Three
        # words in order: YYYY-MM-, then HH:MM:SS, then DD (a separator other than T sits at 10).
        a = big_endian_word(timestamp)
        b = big_endian_word(bound_text)
        if a == b:
            a = (<uint64_t> timestamp[8] << 8) | timestamp[9]
            b = (<uint64_t> bound_text[8] << 8) | bound_text[9]
        if a == b:
            a = big_endian_word(timestamp + 11)
            b = big_endian_word(bound_text + 11)
        if a != b:
            return -1 if a < b else 1
    elif t.utc.seconds != bound.seconds:
        return -1 if t.utc.seconds < bound.seconds else 1
    return compare_fractions(&t.utc, bound)


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
