# Per-event-id counts: an open-addressing hash table of exact str/int keys.
#
# A dict of Python ints would allocate on every increment past 256; this table
# allocates only when a new id arrives.  Keys are exact str or exact int (the
# caller normalizes subclasses), so hashing and comparing never run Python code.

cdef extern from "Python.h":
    Py_hash_t PyObject_Hash(object o) except? -1

cdef enum:
    MAX_EVENT_IDS = 65536    # distinct ids counted by name; documented in the README

OVERFLOW_EVENT_ID = "__overflow__"

cdef struct IdSlot:
    PyObject *key            # owned reference; NULL for an empty slot
    Py_hash_t hash
    uint64_t count


cdef class EventIdCounts:
    """Counts per event id, for at most MAX_EVENT_IDS distinct ids."""
    cdef IdSlot *slots
    cdef size_t mask         # capacity - 1; capacity is a power of two
    cdef size_t used
    cdef uint64_t overflow   # events whose id arrived after the table was full

    def __cinit__(self):
        self.mask = 1023
        self.slots = <IdSlot *> calloc(self.mask + 1, sizeof(IdSlot))
        if self.slots == NULL:
            raise MemoryError()

    def __dealloc__(self):
        cdef size_t i
        if self.slots != NULL:
            for i in range(self.mask + 1):
                Py_XDECREF(self.slots[i].key)
            free(self.slots)

    cdef inline IdSlot *_find(self, object key, Py_hash_t h) except NULL:
        cdef size_t i = <size_t> h & self.mask
        cdef IdSlot *slot
        while True:
            slot = &self.slots[i]
            if slot.key == NULL or slot.key == <PyObject *> key:
                return slot
            if slot.hash == h and type(<object> slot.key) is type(key) and <object> slot.key == key:
                return slot
            i = (i + 1) & self.mask

    cdef int add(self, object key) except -1:
        cdef Py_hash_t h = PyObject_Hash(key)
        cdef IdSlot *slot = self._find(key, h)
        if slot.key != NULL:
            slot.count += 1
            return 0
        if self.used >= MAX_EVENT_IDS:
            self.overflow += 1
            return 0
        Py_INCREF(key)
        slot.key = <PyObject *> key
        slot.hash = h
        slot.count = 1
        self.used += 1
        if self.used * 2 > self.mask:
            self._grow()
        return 0

    cdef int _grow(self) except -1:
        cdef size_t old_capacity = self.mask + 1
        cdef IdSlot *old = self.slots
        cdef IdSlot *fresh = <IdSlot *> calloc(old_capacity * 2, sizeof(IdSlot))
        if fresh == NULL:
            raise MemoryError()
        self.slots = fresh
        self.mask = old_capacity * 2 - 1
        cdef size_t i, j
        for i in range(old_capacity):
            if old[i].key != NULL:
                j = <size_t> old[i].hash & self.mask
                while fresh[j].key != NULL:
                    j = (j + 1) & self.mask
                fresh[j] = old[i]
        free(old)
        return 0

    def as_dict(self):
        """{event_id: count}, with OVERFLOW_EVENT_ID for ids past the bound."""
        result = {}
        cdef size_t i
        for i in range(self.mask + 1):
            if self.slots[i].key != NULL:
                result[<object> self.slots[i].key] = self.slots[i].count
        if self.overflow:
            result[OVERFLOW_EVENT_ID] = result.get(OVERFLOW_EVENT_ID, 0) + self.overflow
        return result
