# Per-event-id counts: an open-addressing hash table of exact str/int keys.
#
# A dict of Python ints would allocate on every increment past 256; this table
# allocates only when a new id arrives.  Keys are exact str or exact int (the
# caller normalizes subclasses), so hashing and comparing never run Python code.
# Each slot also keeps the id as the line writes it, so a known id is one
# lookup and one memcpy per event, however it has to be escaped.  (A dict
# from id to slot took 110 more instructions an event in log_many() over
# 1,000 ids.)  The slots are allocated once and never move, pages not touched
# yet costing no memory; only the table of their indices grows, so a slot found
# before a wait for room is still the id's after it.

cdef enum:
    MAX_EVENT_IDS = 65536    # distinct ids counted by name; documented in the README

OVERFLOW_EVENT_ID = "__overflow__"


@cython.final
cdef class EventIdCounts:
    """Counts per event id, for at most MAX_EVENT_IDS distinct ids."""

    def __cinit__(self):
        self.mask = 1023
        self.table = <uint32_t *> calloc(self.mask + 1, sizeof(uint32_t))
        # One slot more than the bound: it stands for every id past it.
        self.slots = <IdSlot *> calloc(MAX_EVENT_IDS + 1, sizeof(IdSlot))
        if self.table == NULL or self.slots == NULL:
            raise MemoryError()

    def __dealloc__(self):
        cdef size_t i
        if self.slots != NULL:
            for i in range(self.used):
                Py_XDECREF(self.slots[i].key)
                free(self.slots[i].json)
        free(self.slots)
        free(self.table)

    cdef uint32_t *_find(self, object key, Py_hash_t h) except NULL:
        """key's entry in the table: its slot's index + 1, or 0 where it would go."""
        cdef size_t i = <size_t> h & self.mask
        cdef IdSlot *slot
        while self.table[i]:
            slot = &self.slots[self.table[i] - 1]
            if slot.key == <PyObject *> key or (slot.hash == h and _same_id(slot.key, key)):
                break
            i = (i + 1) & self.mask
        return &self.table[i]

    cdef IdSlot *slot_for(self, object key) except NULL:
        """The slot of key, added (with count 0) if new; the overflow slot when full.

        The overflow slot has no json: the caller encodes such ids itself.
        """
        if <PyObject *> key == self.last_key:
            return self.last_slot
        cdef Py_hash_t h = id_hash(key)
        cdef uint32_t *entry = self._find(key, h)
        cdef IdSlot *slot
        if entry[0]:
            slot = &self.slots[entry[0] - 1]
            self.last_key = slot.key
            self.last_slot = slot
            return slot
        if self.used == MAX_EVENT_IDS:
            return &self.slots[MAX_EVENT_IDS]
        slot = &self.slots[self.used]
        slot.json = _event_id_json(key, &slot.json_length)
        Py_INCREF(key)
        slot.key = <PyObject *> key
        slot.hash = h
        self.used += 1
        entry[0] = <uint32_t> self.used
        if self.used * 2 > self.mask:
            self._grow()
        return slot

    cdef int _grow(self) except -1:
        cdef uint32_t *table = <uint32_t *> calloc(2 * (self.mask + 1), sizeof(uint32_t))
        if table == NULL:
            raise MemoryError()
        free(self.table)
        self.table = table
        self.mask = 2 * self.mask + 1
        cdef size_t n, i
        for n in range(self.used):
            i = <size_t> self.slots[n].hash & self.mask
            while table[i]:
                i = (i + 1) & self.mask
            table[i] = <uint32_t> (n + 1)
        return 0

    def as_dict(self):
        """{event_id: count}, with OVERFLOW_EVENT_ID for ids past the bound."""
        result = {}
        cdef size_t i
        for i in range(self.used):
            if self.slots[i].count:
                result[<object> self.slots[i].key] = self.slots[i].count
        if self.slots[MAX_EVENT_IDS].count:
            result[OVERFLOW_EVENT_ID] = result.get(OVERFLOW_EVENT_ID, 0) + self.slots[MAX_EVENT_IDS].count
        return result


cdef inline Py_hash_t id_hash(object key) except? -1:
    """hash(key) of an exact str or int id.

    A str keeps its hash once computed: read there, it costs no call.  Loops
    over a few ids miss the last-key check every time and come here.
    """
    cdef Py_hash_t h = -1
    if type(key) is str:
        h = fevl_cached_str_hash(<PyObject *> key)
    if h == -1:
        h = PyObject_Hash(key)
    return h


cdef inline bint _same_id(PyObject *known, object key) except -1:
    """Equal exact str or exact int ids (different objects with the same hash)."""
    if type(<object> known) is not type(key):
        return False
    cdef Py_ssize_t n
    if type(key) is str:
        # What str.__eq__ does, without the call through the type; the usual id of
        # 8 to 16 bytes as two overlapping words, without a call to memcmp.
        n = PyUnicode_GET_LENGTH(key) * PyUnicode_KIND(key)
        if PyUnicode_GET_LENGTH(<object> known) != PyUnicode_GET_LENGTH(key) \
                or PyUnicode_KIND(<object> known) != PyUnicode_KIND(key):
            return False
        if 8 <= n <= 16:
            return fevl_same_words(PyUnicode_DATA(<object> known), PyUnicode_DATA(key), n)
        return memcmp(PyUnicode_DATA(<object> known), PyUnicode_DATA(key), n) == 0
    return <object> known == key


cdef char *_event_id_json(object key, Py_ssize_t *length) except NULL:
    """key (exact str or int) as a line writes it, in a malloc'd buffer."""
    cdef Value v
    cdef list digits = [classify(&v, key, "event_id")]  # a big int's digits, referenced until copied
    cdef char *json = <char *> calloc(value_bound(&v) + JSON_PAD, 1)  # a VALUE_JSON's padding
    if json == NULL:
        raise MemoryError()
    length[0] = put_value(<unsigned char *> json, &v) - <unsigned char *> json
    digits.clear()
    return json
