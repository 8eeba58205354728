# The count table: groups of a count keyed by their bytes, open addressing, one cache line an entry.

cdef inline uint64_t load_tail(const unsigned char *p, Py_ssize_t n) noexcept nogil:
    """0 to 8 bytes as a word that tells any two of the same n apart, reading only those bytes
    and calling nothing: two overlapping loads, or for n < 4 the first, middle and last byte."""
    cdef uint32_t low = 0, high = 0
    if n >= 4:
        memcpy(&low, p, 4)
        memcpy(&high, p + n - 4, 4)
        return (<uint64_t> high << 32) | low
    if n > 0:
        return (<uint64_t> p[0] << 16) | (<uint64_t> p[n >> 1] << 8) | p[n - 1]
    return 0


cdef inline uint64_t hash_bytes(const unsigned char *p, Py_ssize_t n, uint64_t h) noexcept nogil:
    cdef uint64_t w = 0
    h ^= <uint64_t> n << 56
    while n > 8:
        memcpy(&w, p, 8)
        h = (h ^ w) * 0x9E3779B97F4A7C15ULL
        h ^= h >> 32
        p += 8
        n -= 8
    h = (h ^ load_tail(p, n)) * 0x9E3779B97F4A7C15ULL
    return h ^ (h >> 29)


cdef inline bint same_bytes(const unsigned char *a, const unsigned char *b, Py_ssize_t n) noexcept nogil:
    """memcmp(a, b, n) == 0 for the short keys of a group, inline."""
    cdef uint64_t x = 0, y = 0
    while n > 8:
        memcpy(&x, a, 8)
        memcpy(&y, b, 8)
        if x != y:
            return False
        a += 8
        b += 8
        n -= 8
    return load_tail(a, n) == load_tail(b, n)


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


cdef bint count_group(CountTable *t, const GroupKey *k) noexcept nogil:
    """One more line in the group of k; False when memory ran out."""
    cdef uint64_t h = k.event_id_kind | (<uint64_t> (k.length[PART_FIELD] < 0) << 8)
    cdef Py_ssize_t i, part, total = 0, at, n
    cdef CountEntry *e
    cdef unsigned char *key
    cdef bint same
    for part in range(KEY_PARTS):
        n = k.length[part]
        if n > 0:   # parts not asked for are empty: nothing to mix in (a NULL field neither)
            h = hash_bytes(k.part[part], n, h)
            total += n
    if (t.size + 1) * 2 > t.capacity and not table_grow(t):
        return False
    i = h & (t.capacity - 1)
    while True:
        e = &t.entries[i]
        if e.count == 0:
            if total <= INLINE_KEY_BYTES:
                e.key = NULL
                key = &e.inline_key[0]
            else:
                e.key = <unsigned char *> malloc(total)
                if e.key == NULL:
                    return False
                key = e.key
            at = 0
            for part in range(KEY_PARTS):
                n = k.length[part]
                if n > 0:
                    memcpy(key + at, k.part[part], n)
                    at += n
            e.key_length = total
            e.level_length = k.length[PART_LEVEL]
            e.event_id_length = k.length[PART_EVENT_ID]
            e.field_absent = k.length[PART_FIELD] < 0
            e.hash = h
            e.event_id_kind = k.event_id_kind
            e.count = 1
            t.size += 1
            return True
        # Equal total, level and id lengths and presence of the field: equal part lengths, since
        # every time key of a scanner is as long.
        if (e.hash == h and e.key_length == total and e.level_length == k.length[PART_LEVEL]
                and e.event_id_length == k.length[PART_EVENT_ID] and e.event_id_kind == k.event_id_kind
                and e.field_absent == (k.length[PART_FIELD] < 0)):
            key = e.key if e.key != NULL else &e.inline_key[0]
            same = True
            at = 0
            for part in range(KEY_PARTS):
                n = k.length[part]
                if n > 0:
                    if not same_bytes(key + at, k.part[part], n):
                        same = False
                        break
                    at += n
            if same:
                e.count += 1
                return True
        i = (i + 1) & (t.capacity - 1)
