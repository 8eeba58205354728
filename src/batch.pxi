# log_many(): a batch of events given as columns, encoded with the GIL released.
#
# With the GIL held, once for the whole batch: levels, ids and columns are
# checked (so bad input fails before anything is written) and each id is
# looked up once in a table of the batch's distinct ids, so later passes
# never touch the id objects again.  A message list is the exception: it is
# taken on trust and checked chunk by chunk (see batch_columns()).  Then per
# chunk of rows, GIL held: columns that are not plain str become C cells; a
# plain str column is read straight from its items, which the caller's own
# list gets referenced per chunk (another thread may change the list
# meanwhile).  One GIL-free pass per segment then bounds, encodes and counts
# each row into a segment taken off the free list, not the active one, so
# other threads keep logging meanwhile.  The filled segments are sealed, and
# so handed to the writers, when the batch ends (or the ring runs short); the
# counts are brought in per chunk.  The active segment is sealed first, so
# this thread's earlier events stay ahead of the batch.

from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from libc.stdio cimport snprintf
from libc.float cimport DBL_MIN
from libc.math cimport fabs
from libc.stdlib cimport abs, realloc, strtod, strtol

cdef extern from "fevl.h":
    ctypedef struct fevl_id_slot:
        Py_hash_t hash
        uint32_t index
        uint32_t shape
        uint64_t head
        uint64_t tail
    uint32_t fevl_str_shape(PyObject *s, uint64_t *head, uint64_t *tail) noexcept nogil
    uint32_t fevl_find_short_str(const fevl_id_slot *slots, size_t mask, PyObject *s,
                                 Py_hash_t h) noexcept nogil
    bint fevl_exact_str(PyObject *o) noexcept nogil
    unsigned char *fevl_put_plain(unsigned char *p, const void *s, Py_ssize_t n) noexcept nogil

# The PEP 393 accessors on borrowed pointers: plain struct reads, so usable
# without the GIL on a str that stays referenced.
cdef extern from "Python.h" nogil:
    int str_is_ascii "PyUnicode_IS_ASCII" (PyObject *s)
    Py_ssize_t str_length "PyUnicode_GET_LENGTH" (PyObject *s)
    int str_kind "PyUnicode_KIND" (PyObject *s)
    void *str_data "PyUnicode_DATA" (PyObject *s)
    void ref_inc "Py_INCREF" (PyObject *o)
    void ref_dec "Py_DECREF" (PyObject *o)

cdef extern from "Python.h":
    PyObject **PySequence_Fast_ITEMS(object o)    # of a list or tuple

cdef enum:
    BATCH_CHUNK = 16384      # rows per GIL hold: bounds the cells and references held
    SMALL_BATCH = 4096       # rows a batch encodes with the GIL held, into the active segment

    CELL_ABSENT = 0          # no message
    CELL_NULL = 1
    CELL_TRUE = 2
    CELL_FALSE = 3
    CELL_INT = 4
    CELL_UINT = 5
    CELL_FLOAT = 6
    CELL_STR = 7
    CELL_RAW = 8             # bytes written as they are (an encoded id, big-int digits)

    COLUMN_ARRAY = 0         # a buffer of numbers, read per row
    COLUMN_STR = 1           # every value an exact str (or None, for the message)
    COLUMN_CELLS = 2         # anything else: C cells per chunk

    PREFIX_BYTES = 80        # '{"timestamp":"…","level":"CRITICAL","event_id":' is 73
    SHORT_BYTES = 32         # ids and keys this long are copied as a fixed 32 bytes
    OVERCOPY = 32            # bytes a row may write past its end (fixed-size copies)

cdef struct Cell:
    int kind                 # CELL_*
    int str_kind             # PEP 393 kind of a CELL_STR
    bint ascii
    Py_ssize_t length        # code points of a CELL_STR, bytes of a CELL_RAW
    const void *data
    int64_t i                # CELL_INT; CELL_UINT reads it as uint64_t
    double d

cdef struct Column:
    int mode                 # COLUMN_*
    Py_buffer view           # COLUMN_ARRAY
    char format              # struct code of the array's items
    PyObject *objects        # a list or tuple, owned by BatchColumns.keep
    bint shared              # objects is the caller's list: its items are referenced per chunk
    bint is_message          # the message column: None leaves the key out
    bint unchecked           # COLUMN_STR taken on trust: take() checks each chunk (see batch_columns)
    PyObject **items         # COLUMN_STR: this chunk's values, by row - start (None: no message)
    PyObject **taken         # references held for a shared list's chunk, taken_count of them
    Py_ssize_t taken_count
    PyObject *replacements   # COLUMN_CELLS: a list of str/bytes or None per row, or NULL
    Cell *cells              # COLUMN_CELLS: this chunk's cells
    const char *key          # ',"name":' as written
    Py_ssize_t key_length
    char short_key[SHORT_BYTES]  # the key again, padded, when it fits


cdef unsigned char *put_double_nogil(unsigned char *p, double v) noexcept nogil:
    """repr(v), which needs the GIL itself; null when v is not finite.

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
            snprintf(text, sizeof(text), "%.*e", precision - 1, v)
            if strtod(text, NULL) == v:
                high = precision
            else:
                low = precision + 1
        precision = low
        snprintf(text, sizeof(text), "%.*e", precision - 1, v)
    else:
        # Any 15 digits of a normal double read back as the same one: only
        # the first of these that reads back as v can be repr()'s.
        for precision in range(15, 18):
            snprintf(text, sizeof(text), "%.*e", precision - 1, v)
            if strtod(text, NULL) == v:
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
        for i in range(-exponent - 1):
            p[0] = b'0'
            p += 1
        return put_raw(p, digits, n)
    for i in range(exponent + 1):  # the integral digits, zeros past the significant ones
        p[0] = digits[i] if i < n else b'0'
        p += 1
    p[0] = b'.'
    if n <= exponent + 1:
        p[1] = b'0'
        return p + 2
    return put_raw(p + 1, digits + exponent + 1, n - exponent - 1)


cdef inline unsigned char *put_cell(unsigned char *p, const Cell *cell) noexcept nogil:
    if cell.kind == CELL_STR:
        p[0] = b'"'
        p = put_text(p + 1, cell.str_kind, cell.data, cell.length, cell.ascii)
        p[0] = b'"'
        return p + 1
    if cell.kind == CELL_RAW:
        return put_raw(p, <const char *> cell.data, cell.length)
    if cell.kind == CELL_INT:
        return put_int64(p, cell.i)
    if cell.kind == CELL_UINT:
        return put_uint64(p, <uint64_t> cell.i)
    if cell.kind == CELL_FLOAT:
        return put_double_nogil(p, cell.d)
    if cell.kind == CELL_TRUE:
        return put_raw(p, b"true", 4)
    if cell.kind == CELL_FALSE:
        return put_raw(p, b"false", 5)
    return put_raw(p, b"null", 4)


cdef inline Py_ssize_t cell_bound(const Cell *cell) noexcept nogil:
    if cell.kind == CELL_STR:
        return STR_BOUND(cell.length)
    if cell.kind == CELL_RAW:
        return cell.length
    if cell.kind == CELL_FLOAT:
        return FLOAT_BOUND
    return INT_BOUND


cdef inline void read_array(Cell *cell, const Column *column, Py_ssize_t row) noexcept nogil:
    """Item row of an array column as a cell."""
    cdef const char *item = <const char *> column.view.buf + row * column.view.strides[0]
    cdef char f = column.format
    cell.kind = CELL_INT
    if f == b'q' or (f == b'l' and column.view.itemsize == 8):
        cell.i = (<const int64_t *> item)[0]
    elif f == b'i' or (f == b'l' and column.view.itemsize == 4):
        cell.i = (<const int32_t *> item)[0]
    elif f == b'h':
        cell.i = (<const int16_t *> item)[0]
    elif f == b'b':
        cell.i = (<const int8_t *> item)[0]
    elif f == b'B':
        cell.i = (<const uint8_t *> item)[0]
    elif f == b'H':
        cell.i = (<const uint16_t *> item)[0]
    elif f == b'I' or (f == b'L' and column.view.itemsize == 4):
        cell.i = (<const uint32_t *> item)[0]
    elif f == b'Q' or f == b'L':
        cell.kind = CELL_UINT
        cell.i = <int64_t> (<const uint64_t *> item)[0]
    elif f == b'd':
        cell.kind = CELL_FLOAT
        cell.d = (<const double *> item)[0]
    elif f == b'f':
        cell.kind = CELL_FLOAT
        cell.d = (<const float *> item)[0]
    else:  # '?', checked when the column was opened
        cell.kind = CELL_TRUE if (<const uint8_t *> item)[0] else CELL_FALSE


cdef int fill_cell(Cell *cell, object value) except -1:
    """value (None, bool, str, int in 64 bits, float, or bytes to copy) as a cell."""
    if value is None:
        cell.kind = CELL_NULL
    elif value is True:
        cell.kind = CELL_TRUE
    elif value is False:
        cell.kind = CELL_FALSE
    elif isinstance(value, str):
        cell.kind = CELL_STR
        cell.str_kind = PyUnicode_KIND(value)
        cell.ascii = PyUnicode_IS_ASCII(value)
        cell.length = PyUnicode_GET_LENGTH(value)
        cell.data = PyUnicode_DATA(value)
    elif isinstance(value, int):
        cell.kind = CELL_INT
        cell.i = PyLong_AsLongLong(value)
    elif isinstance(value, float):
        cell.kind = CELL_FLOAT
        cell.d = PyFloat_AS_DOUBLE(value)
    else:
        cell.kind = CELL_RAW
        cell.data = PyBytes_AS_STRING(value)
        cell.length = PyBytes_GET_SIZE(value)
    return 0


cdef object writable_value(object value):
    """None when value is written as it is, else its replacement (str, or digits)."""
    cdef int overflow
    if value is None or isinstance(value, (str, float)):
        return None
    if isinstance(value, int):
        PyLong_AsLongLongAndOverflow(value, &overflow)
        return str(PyNumber_Index(value)).encode() if overflow else None
    return str(value)


_ARRAY_FORMATS = frozenset("bBhHiIlLqQfd?")
cdef PyObject *NONE = <PyObject *> None


cdef class BatchColumns:
    """The columns of one log_many() call, checked, with what keeps them alive."""
    cdef Column *columns
    cdef Py_ssize_t count            # columns in use
    cdef Py_ssize_t rows
    cdef list keep

    def __cinit__(self, Py_ssize_t capacity, Py_ssize_t rows):
        self.columns = <Column *> calloc(capacity, sizeof(Column))
        if self.columns == NULL:
            raise MemoryError()
        self.rows = rows
        self.keep = []

    def __dealloc__(self):
        cdef Py_ssize_t i
        if self.columns != NULL:
            self.let_go()
            for i in range(self.count):
                if self.columns[i].mode == COLUMN_ARRAY:
                    PyBuffer_Release(&self.columns[i].view)
                free(self.columns[i].cells)
                free(self.columns[i].taken)
            free(self.columns)

    cdef int add(self, object name, object values, bint trust=False) except -1:
        """A column of values (a sequence, or a 1-D buffer of numbers); name None for the message."""
        cdef Column *column = &self.columns[self.count]
        cdef Py_ssize_t row
        cdef object value
        cdef bytes key = b',"message":'
        if name is not None:
            key = b"," + _encode_str(name) + b":"
        self.keep.append(key)
        column.key = PyBytes_AS_STRING(key)
        column.key_length = PyBytes_GET_SIZE(key)
        if column.key_length <= SHORT_BYTES:
            memcpy(column.short_key, column.key, column.key_length)
        if name is not None and PyObject_CheckBuffer(values) and not isinstance(values, (bytes, bytearray)):
            PyObject_GetBuffer(values, &column.view, PyBUF_STRIDES | PyBUF_FORMAT)
            column.mode = COLUMN_ARRAY
            self.count += 1  # from here on __dealloc__ releases the view
            fmt = (<bytes> column.view.format).decode().lstrip("@=<>!")
            if column.view.ndim != 1 or fmt not in _ARRAY_FORMATS:
                raise TypeError(f"field {name!r}: a 1-D array of numbers or bools is needed, "
                                f"not format {fmt!r} with {column.view.ndim} dimensions")
            column.format = ord(fmt)
            if column.view.shape[0] != self.rows:
                raise ValueError(f"field {name!r} has {column.view.shape[0]} values for {self.rows} events")
            return 0
        column.mode = COLUMN_CELLS
        column.is_message = name is None
        self.count += 1  # from here on __dealloc__ frees the column's arrays
        if isinstance(values, str) and name is None:
            # One message for every event: a chunk of items all pointing at it.
            self.keep.append(values)
            column.mode = COLUMN_STR
            column.items = column.taken = <PyObject **> malloc(BATCH_CHUNK * sizeof(PyObject *))
            if column.items == NULL:
                raise MemoryError()
            for row in range(BATCH_CHUNK):
                column.items[row] = <PyObject *> values
            return 0
        if isinstance(values, (str, bytes, bytearray)) or not hasattr(values, "__len__"):
            raise TypeError(f"field {name!r} must be a sequence or array with one value per event, "
                            f"not {type(values).__name__}")
        # A list or tuple is read in place, not copied.
        objects = values if type(values) is list or type(values) is tuple else tuple(values)
        if len(objects) != self.rows:
            what = "messages" if name is None else f"field {name!r}"
            raise ValueError(f"{what} has {len(objects)} values for {self.rows} events")
        if trust or _all_str(objects, name is None):
            column.mode = COLUMN_STR
            column.unchecked = trust
            column.shared = type(objects) is list
            if column.shared:
                column.taken = <PyObject **> malloc(BATCH_CHUNK * sizeof(PyObject *))
                if column.taken == NULL:
                    raise MemoryError()
            self.keep.append(objects)
            column.objects = <PyObject *> objects
            return 0
        objects = tuple(objects)  # values of all kinds: rare, so a private copy keeps this simple
        replacements = None
        for row in range(self.rows):
            value = <object> PyTuple_GET_ITEM(objects, row)
            if type(value) is str or (name is None and value is None):
                continue
            replacement = str(value) if name is None and not isinstance(value, str) else writable_value(value)
            if replacement is not None:
                if replacements is None:
                    replacements = [None] * self.rows
                replacements[row] = replacement
        self.keep.append(objects)
        self.keep.append(replacements)
        column.objects = <PyObject *> objects
        column.replacements = NULL if replacements is None else <PyObject *> replacements
        column.cells = <Cell *> calloc(BATCH_CHUNK, sizeof(Cell))
        if column.cells == NULL:
            raise MemoryError()
        return 0

    cdef Py_ssize_t take(self, Py_ssize_t start, Py_ssize_t end) except -1:
        """Make rows [start, end) readable without the GIL (GIL held; let_go() undoes it).

        Returns the most bytes the columns take in any of these rows, or -2
        when an unchecked column holds a value other than str (or None).
        """
        cdef Py_ssize_t c, row, longest, bound = 0
        cdef Column *column
        cdef object value
        cdef PyObject *item
        for c in range(self.count):
            column = &self.columns[c]
            longest = 0
            if column.mode == COLUMN_ARRAY:
                longest = FLOAT_BOUND
            elif column.mode == COLUMN_STR and column.objects == NULL:
                longest = STR_BOUND(str_length(column.items[0]))
            elif column.mode == COLUMN_STR and not column.shared:
                column.items = PySequence_Fast_ITEMS(<object> column.objects) + start
                for row in range(end - start):
                    item = column.items[row]
                    if item != NONE:
                        if column.unchecked and not fevl_exact_str(item):
                            return -2
                        longest = max(longest, STR_BOUND(str_length(item)))
            elif column.mode == COLUMN_STR:
                # The caller's list: another thread may replace its items (freeing
                # them) or move its array while the GIL is released, so the chunk
                # is read through references of our own.
                if PyList_GET_SIZE(<object> column.objects) < end:
                    raise RuntimeError("a column list got shorter during log_many()")
                for row in range(start, end):
                    item = PyList_GET_ITEM(<object> column.objects, row)
                    if type(<object> item) is not str and not (column.is_message and item == NONE):
                        if column.unchecked:
                            return -2
                        raise RuntimeError("a column list was changed during log_many(): "
                                           f"row {row} is not a str any more")
                    ref_inc(item)
                    column.taken[column.taken_count] = item
                    column.taken_count += 1
                    if item != NONE:
                        longest = max(longest, STR_BOUND(str_length(item)))
                column.items = column.taken
            elif column.mode == COLUMN_CELLS:
                for row in range(start, end):
                    if column.replacements != NULL and (<list> column.replacements)[row] is not None:
                        value = (<list> column.replacements)[row]
                    else:
                        value = <object> PyTuple_GET_ITEM(<object> column.objects, row)
                    if value is None and column.is_message:
                        column.cells[row - start].kind = CELL_ABSENT
                    else:
                        fill_cell(&column.cells[row - start], value)
                        longest = max(longest, cell_bound(&column.cells[row - start]))
            bound += column.key_length + longest
        return bound

    cdef bint check_rest(self, Py_ssize_t start) except -1:
        """Whether the unchecked columns hold only str (or None) from row start on."""
        cdef Py_ssize_t c
        cdef Column *column
        for c in range(self.count):
            column = &self.columns[c]
            if column.unchecked:
                if not _all_str((<object> column.objects)[start:], column.is_message):
                    return False
                column.unchecked = False
        return True

    cdef bint all_checked(self) noexcept:
        cdef Py_ssize_t c
        for c in range(self.count):
            if self.columns[c].unchecked:
                return False
        return True

    cdef void let_go(self) noexcept:
        """Drop the references take() held (GIL held)."""
        cdef Py_ssize_t c, i
        cdef Column *column
        for c in range(self.count):
            column = &self.columns[c]
            if column.shared:
                for i in range(column.taken_count):
                    ref_dec(column.taken[i])
                column.taken_count = 0


cdef bint _all_str(object objects, bint none_too) except -1:
    """Whether every item of a list or tuple is an exact str (or None, when none_too)."""
    cdef Py_ssize_t row, n = len(objects)
    cdef PyObject **items = PySequence_Fast_ITEMS(objects)
    cdef PyObject *item
    for row in range(n):  # runs no Python code, so a list cannot change meanwhile
        item = items[row]
        if type(<object> item) is not str and not (none_too and item == NONE):
            return False
    return True


cdef bytes _encode_str(str s):
    """s as a quoted, escaped JSON string."""
    cdef bytes out = PyBytes_FromStringAndSize(NULL, STR_BOUND(PyUnicode_GET_LENGTH(s)))
    cdef unsigned char *end = put_str(<unsigned char *> PyBytes_AS_STRING(out), s)
    return out[:end - <unsigned char *> PyBytes_AS_STRING(out)]


cdef struct IdEntry:
    PyObject *key            # owned: the first object of the batch with this id
    Py_hash_t hash
    const char *json         # the id as written: its count slot's, or BatchIds.keep's
    Py_ssize_t json_length
    char short_json[SHORT_BYTES]  # the same, padded, when it fits
    IdSlot *slot             # its count slot, valid while the table's generation is still
    uint64_t generation
    uint64_t pending         # rows written and not counted in the slot yet
    bint accepted            # some row with this id passes the level filter


cdef class BatchIds:
    """The distinct ids of a batch, and which one each row has.

    Looking each row's id up here once, up front, is what lets the later passes
    leave the id objects alone; the shared count table is then looked up once
    per distinct id, not per row.
    """
    cdef IdEntry *entries
    cdef Py_ssize_t count            # entries
    cdef Py_ssize_t capacity         # entries allocated
    cdef Py_ssize_t distinct         # entries in the table
    cdef fevl_id_slot *table         # open addressing, by hash
    cdef size_t mask
    cdef uint32_t *of_row            # index in entries, per row
    cdef Py_ssize_t rows
    cdef list keep                   # ids encoded here (past the distinct-id bound)
    cdef Py_ssize_t longest_json

    def __cinit__(self):
        self.keep = []

    def __dealloc__(self):
        cdef Py_ssize_t i
        for i in range(self.count):
            Py_XDECREF(self.entries[i].key)
        free(self.entries)
        free(self.table)
        free(self.of_row)

    cdef int read(self, object event_ids) except -1:
        """Check the ids and give each row its entry."""
        if PyObject_CheckBuffer(event_ids) and not isinstance(event_ids, (bytes, bytearray, str)):
            view = memoryview(event_ids)
            if view.ndim != 1 or view.format.lstrip("@=<>!") not in "bBhHiIlLqQ":
                raise TypeError(f"event_ids as an array must be 1-D integers, not format {view.format!r}")
            ids = view.tolist()
        elif isinstance(event_ids, (str, int)):
            raise TypeError("event_ids must be a sequence of ids (one per event)")
        elif type(event_ids) is list or type(event_ids) is tuple:
            ids = event_ids
        else:
            ids = tuple(event_ids)
        self.rows = len(ids)
        # Sized for the batch: zeroing a table for 512 ids cost a ten-row call more
        # than its rows.  Both grow as ids come.
        self.capacity = max(1, min(self.rows, 512))
        self.mask = 15
        while self.mask < 2 * <size_t> self.capacity:
            self.mask = self.mask * 2 + 1
        self.table = <fevl_id_slot *> calloc(self.mask + 1, sizeof(fevl_id_slot))
        self.entries = <IdEntry *> malloc(self.capacity * sizeof(IdEntry))
        self.of_row = <uint32_t *> malloc(max(self.rows, 1) * sizeof(uint32_t))
        if self.table == NULL or self.entries == NULL or self.of_row == NULL:
            raise MemoryError()
        cdef PyObject **items = PySequence_Fast_ITEMS(ids)
        cdef PyObject *item
        cdef Py_ssize_t row
        cdef Py_hash_t h
        cdef uint32_t t
        for row in range(self.rows):
            # The list cannot change here: only exact_event_id() of an odd id
            # runs code, and that is C code with no callbacks.
            item = items[row]
            if fevl_exact_str(item):  # the common case, without a call
                h = fevl_cached_str_hash(item)
                if h != -1:
                    t = fevl_find_short_str(self.table, self.mask, item, h)
                    if t != 0:
                        self.of_row[row] = t - 1
                        continue
            if type(<object> item) is str or type(<object> item) is int:
                self.of_row[row] = self._entry(<object> item)
            else:
                self.of_row[row] = self._entry(exact_event_id(<object> item))
        return 0

    cdef uint32_t _entry(self, object key) except? 0xFFFFFFFF:
        """The index of key's entry, added if new."""
        cdef Py_hash_t h = id_hash(key)
        cdef size_t i = <size_t> h & self.mask
        cdef uint32_t t
        cdef IdEntry *entry
        while True:
            t = self.table[i].index
            if t == 0:
                break
            entry = &self.entries[t - 1]
            if entry.key == <PyObject *> key or (entry.hash == h and _same_id(entry.key, key)):
                return t - 1
            i = (i + 1) & self.mask
        if self.count == self.capacity:
            entry = <IdEntry *> realloc(self.entries, 2 * self.capacity * sizeof(IdEntry))
            if entry == NULL:
                raise MemoryError()
            self.entries = entry
            self.capacity *= 2
        entry = &self.entries[self.count]
        memset(entry, 0, sizeof(IdEntry))
        Py_INCREF(key)
        entry.key = <PyObject *> key
        entry.hash = h
        self.count += 1
        if self.distinct >= MAX_EVENT_IDS:
            # Past as many distinct ids as are counted by name, the rest are
            # mostly counted as the overflow id: each row gets an entry of its
            # own and the table stays small enough for the cache.
            return <uint32_t> (self.count - 1)
        self.table[i].hash = h
        self.table[i].index = <uint32_t> self.count
        if type(key) is str:
            self.table[i].shape = fevl_str_shape(<PyObject *> key, &self.table[i].head, &self.table[i].tail)
        self.distinct += 1
        if <size_t> self.distinct * 2 > self.mask:
            self._grow()
        return <uint32_t> (self.count - 1)

    cdef int _grow(self) except -1:
        cdef size_t mask = self.mask * 2 + 1, i, j
        cdef fevl_id_slot *table = <fevl_id_slot *> calloc(mask + 1, sizeof(fevl_id_slot))
        if table == NULL:
            raise MemoryError()
        for i in range(self.mask + 1):
            if self.table[i].index:
                j = <size_t> self.table[i].hash & mask
                while table[j].index:
                    j = (j + 1) & mask
                table[j] = self.table[i]
        free(self.table)
        self.table = table
        self.mask = mask
        return 0

    cdef int resolve(self, EventIdCounts counts) except -1:
        """Count slots and encoded ids of the accepted entries (after every check passed)."""
        cdef Py_ssize_t i
        cdef IdEntry *entry
        cdef object key
        cdef bytes json
        for i in range(self.count):
            entry = &self.entries[i]
            if not entry.accepted:
                continue
            key = <object> entry.key
            entry.slot = counts.slot_for(key)
            entry.generation = counts.generation
            if entry.slot.json != NULL:
                entry.json = entry.slot.json
                entry.json_length = entry.slot.json_length
            elif type(key) is str:
                # Past the distinct-id bound: counted as the overflow id, written
                # from its own text (json stays NULL; json_length is its bound).
                entry.json_length = STR_BOUND(PyUnicode_GET_LENGTH(key))
            else:
                json = str(key).encode()
                self.keep.append(json)
                entry.json = PyBytes_AS_STRING(json)
                entry.json_length = PyBytes_GET_SIZE(json)
            if entry.json != NULL and entry.json_length <= SHORT_BYTES:
                memcpy(entry.short_json, entry.json, entry.json_length)
            self.longest_json = max(self.longest_json, entry.json_length)
        return 0


cdef struct Batch:
    # What the GIL-free pass reads:
    unsigned char prefix[LEVEL_COUNT][PREFIX_BYTES]   # '{"timestamp":"…","level":"…","event_id":'
    Py_ssize_t prefix_length[LEVEL_COUNT]
    uint8_t *levels          # per row, or NULL when every row has level
    int level
    int min_level
    const uint32_t *id_of_row
    IdEntry *ids
    const Column *columns
    Py_ssize_t column_count
    Py_ssize_t start         # first row of the chunk the columns hold
    Py_ssize_t chunk_bound   # no row of the chunk takes more: rows need no bound of their own
    # What it writes, brought into the logger's counts with the GIL held:
    uint32_t *touched        # entries whose pending went from 0 to 1
    Py_ssize_t touched_count
    uint64_t written[LEVEL_COUNT]
    uint64_t accepted        # rows brought into the counts so far: LoggerStoppedError.accepted
    # Segments filled and not sealed yet, in order.  Sealing wakes the writers,
    # and while the batch runs they would only take turns with it on the CPU.
    int filled[MAX_SEGMENTS]
    int filled_count
    # The active segment the batch took over, with what it held then: a roll back
    # leaves the lines logged before the batch in it.
    int taken
    uint64_t taken_length
    uint64_t taken_events


cdef inline int row_level(const Batch *b, Py_ssize_t row) noexcept nogil:
    return b.level if b.levels == NULL else b.levels[row]


cdef Py_ssize_t row_bound(const Batch *b, Py_ssize_t row) noexcept nogil:
    cdef Py_ssize_t i = row - b.start, c
    cdef Py_ssize_t bound = 64 + TIMESTAMP_BYTES + OVERCOPY + b.ids[b.id_of_row[row]].json_length
    cdef const Column *column
    cdef PyObject *value
    for c in range(b.column_count):
        column = &b.columns[c]
        if column.mode == COLUMN_STR:
            value = column.items[i]
            if value != NONE:
                bound += column.key_length + STR_BOUND(str_length(value))
        elif column.mode == COLUMN_ARRAY:
            bound += column.key_length + FLOAT_BOUND
        elif column.cells[i].kind != CELL_ABSENT:
            bound += column.key_length + cell_bound(&column.cells[i])
    return bound


cdef inline unsigned char *put_short(unsigned char *p, const char *padded, const char *text,
                                     Py_ssize_t n) noexcept nogil:
    """text (n bytes), from its padded copy when n <= SHORT_BYTES."""
    if n <= SHORT_BYTES:
        memcpy(p, padded, SHORT_BYTES)
        return p + n
    return put_raw(p, text, n)


cdef unsigned char *put_other(unsigned char *p, const Column *column, Py_ssize_t row,
                              Py_ssize_t i) noexcept nogil:
    """The key and value of an array or cells column in row, unless left out."""
    cdef Cell cell
    cell.i = 0  # read_array sets the field its kind uses; the compiler cannot tell which
    cell.d = 0
    if column.mode == COLUMN_ARRAY:
        read_array(&cell, column, row)
        p = put_short(p, column.short_key, column.key, column.key_length)
        return put_cell(p, &cell)
    if column.cells[i].kind == CELL_ABSENT:
        return p
    p = put_short(p, column.short_key, column.key, column.key_length)
    return put_cell(p, &column.cells[i])


cdef unsigned char *put_key(unsigned char *p, PyObject *key) noexcept nogil:
    """A str id as a JSON string (held by its entry, so readable without the GIL)."""
    p[0] = b'"'
    p = put_text(p + 1, str_kind(key), str_data(key), str_length(key), str_is_ascii(key))
    p[0] = b'"'
    return p + 1


cdef unsigned char *put_any_text(unsigned char *p, PyObject *value) noexcept nogil:
    return put_text(p, str_kind(value), str_data(value), str_length(value), str_is_ascii(value))


# The rare paths, called through pointers so the compiler keeps them out of
# encode_row(): inlined, they made it too big to be inlined into its loop.
cdef unsigned char *(*put_other_out_of_line)(unsigned char *, const Column *, Py_ssize_t,
                                             Py_ssize_t) noexcept nogil
cdef unsigned char *(*put_any_text_out_of_line)(unsigned char *, PyObject *) noexcept nogil
cdef unsigned char *(*put_key_out_of_line)(unsigned char *, PyObject *) noexcept nogil
put_other_out_of_line = put_other
put_key_out_of_line = put_key
put_any_text_out_of_line = put_any_text


cdef inline unsigned char *encode_row(unsigned char *p, const Batch *b, Py_ssize_t row, int level,
                                      uint32_t id) noexcept nogil:
    cdef Py_ssize_t i = row - b.start, c, n
    cdef const IdEntry *entry = &b.ids[id]
    cdef const Column *column
    cdef PyObject *value
    cdef unsigned char *q
    # Fixed-size copies (the row's bound has room for them) are a few moves
    # where a memcpy of the exact length is a call.
    memcpy(p, b.prefix[level], PREFIX_BYTES)
    p += b.prefix_length[level]
    if entry.json != NULL:
        p = put_short(p, entry.short_json, entry.json, entry.json_length)
    else:
        p = put_key_out_of_line(p, entry.key)
    for c in range(b.column_count):
        column = &b.columns[c]
        if column.mode != COLUMN_STR:
            p = put_other_out_of_line(p, column, row, i)
            continue
        value = column.items[i]
        if value == NONE:
            continue
        p = put_short(p, column.short_key, column.key, column.key_length)
        p[0] = b'"'
        q = NULL
        n = str_length(value)
        if n >= 8 and str_is_ascii(value):
            q = fevl_put_plain(p + 1, str_data(value), n)
        if q == NULL:
            q = put_any_text_out_of_line(p + 1, value)
        q[0] = b'"'
        p = q + 1
    p[0] = b'}'
    p[1] = b'\n'
    return p + 2


cdef inline void count_row(Batch *b, int level, uint32_t id) noexcept nogil:
    if b.ids[id].pending == 0:
        b.touched[b.touched_count] = id
        b.touched_count += 1
    b.ids[id].pending += 1
    b.written[level] += 1


cdef bint log_small_batch(EventBuffer buffer, Batch *b, BatchColumns columns, BatchIds ids,
                          Py_ssize_t n) except -1:
    """Encode a batch of at most SMALL_BATCH rows into the active segment, after this
    thread's earlier lines, like log() does; False if a message needs converting first.

    The GIL stays held (about 0.1 ms for 4096 short rows).  A GIL handoff and
    segments of their own, sealed on return, cost small batches more than their
    rows: calls of ten events each were 7x slower per event than a loop of log().
    """
    cdef Py_ssize_t row = 0
    cdef int index
    cdef SegmentHeader *seg
    try:
        if not take_chunk(b, columns, ids, 0, n):
            return False  # the general path converts such messages
        while row < n:
            # Room for the largest row; sealing a segment early wastes at most that.
            if buffer._reserve(min(b.chunk_bound, buffer._segment_size)) == NULL:
                while row < n:  # the ring is full and on_full is "drop"
                    buffer._dropped += row_level(b, row) >= b.min_level
                    row += 1
                break
            index = buffer._active
            seg = segment_header(buffer._header, index)
            row = fill_rows(b, row, n, buffer._data + index * buffer._segment_size, buffer._segment_size, seg)
            buffer._resume(index)  # log() goes on after these rows
            if row < n or seg.events >= buffer._seal_after_events:
                buffer._seal_active()
            if row < n and row_bound(b, row) > buffer._segment_size:
                write_large_row(buffer, b, row, row_bound(b, row))
                row += 1
        return True
    finally:
        bring_counts(buffer, b, ids)  # the rows written, even if a wait for room raised
        columns.let_go()


cdef bint take_chunk(Batch *b, BatchColumns columns, BatchIds ids, Py_ssize_t start,
                     Py_ssize_t end) except -1:
    """Make rows [start, end) readable without the GIL (columns.let_go() undoes it) and
    bound their size; False when a column holds a value to convert first."""
    cdef Py_ssize_t bound = columns.take(start, end)
    b.start = start
    b.chunk_bound = 64 + TIMESTAMP_BYTES + OVERCOPY + ids.longest_json + bound
    return bound != -2


cdef Py_ssize_t fill_rows(Batch *b, Py_ssize_t row, Py_ssize_t end, unsigned char *base,
                          Py_ssize_t size, SegmentHeader *seg) noexcept nogil:
    """Encode accepted rows from row on after what seg holds; returns the first row left.

    Stops early at a row that does not fit what is left of the segment.
    """
    cdef unsigned char *p = base + seg.length
    cdef unsigned char *limit = base + size
    cdef uint64_t events = seg.events
    cdef uint32_t id
    cdef int level
    while row < end:
        level = row_level(b, row)
        if level >= b.min_level:
            if limit - p < b.chunk_bound and row_bound(b, row) > limit - p:
                break
            id = b.id_of_row[row]
            p = encode_row(p, b, row, level, id)
            count_row(b, level, id)
            events += 1
            seg.events = events
            # Recovery trusts every byte below the length: publish it after them.
            fevl_store_release_u64(&seg.length, <uint64_t> (p - base))
        row += 1
    return row


cdef int bring_counts(EventBuffer buffer, Batch *b, BatchIds ids) except -1:
    """Add the rows written since last time to the logger's counts (GIL held)."""
    cdef Py_ssize_t k
    cdef IdEntry *entry
    cdef EventIdCounts counts = buffer._event_ids
    for k in range(b.touched_count):
        entry = &b.ids[b.touched[k]]
        if entry.generation != counts.generation:  # the table grew: the slot moved
            entry.slot = counts.slot_for(<object> entry.key)
            entry.generation = counts.generation
        entry.slot.count += entry.pending
        entry.pending = 0
    b.touched_count = 0
    for k in range(LEVEL_COUNT):
        buffer._level_counts[k] += b.written[k]
        buffer._logged += b.written[k]
        b.accepted += b.written[k]
        b.written[k] = 0
    return 0


cdef int seal_filled(EventBuffer buffer, Batch *b) except -1:
    cdef int k
    for k in range(b.filled_count):
        buffer._seal(b.filled[k])
    b.filled_count = 0
    return 0


cdef bint free_segment(EventBuffer buffer, Batch *b) except -1:
    """_wait_for_free_segment(), after sealing the filled segments when none is free."""
    if buffer._free_count == 0:
        seal_filled(buffer, b)
    return buffer._wait_for_free_segment()


cdef bint write_large_row(EventBuffer buffer, Batch *b, Py_ssize_t row, Py_ssize_t bound) except -1:
    """A row that may not fit a segment: encoded aside, then placed; False if dropped."""
    cdef unsigned char *line = <unsigned char *> malloc(bound)
    if line == NULL:
        raise MemoryError()
    cdef Py_ssize_t length
    cdef int index
    try:
        length = encode_row(line, b, row, row_level(b, row), b.id_of_row[row]) - line
        seal_filled(buffer, b)  # they go first
        if length > buffer._segment_size:
            if not buffer._admit_oversized(length):
                buffer._dropped += 1
                return False
            buffer._push_oversized(line, length)
        else:
            if not free_segment(buffer, b):
                buffer._dropped += 1
                return False
            index = buffer._take_free()
            memcpy(buffer._data + index * buffer._segment_size, line, length)
            segment_header(buffer._header, index).events = 1
            fevl_store_release_u64(&segment_header(buffer._header, index).length, length)
            buffer._seal(index)
        count_row(b, row_level(b, row), b.id_of_row[row])
        return True
    finally:
        free(line)


cdef int batch_levels(object levels, Py_ssize_t n, Batch *b) except -1:
    """b.level for one level, else b.levels: the level index (0..4) per event."""
    if isinstance(levels, (str, int)):
        b.level = level_index(levels)
        return 0
    cdef tuple values = tuple(memoryview(levels).tolist() if PyObject_CheckBuffer(levels) else levels)
    if len(values) != n:
        raise ValueError(f"levels has {len(values)} values for {n} events")
    cdef uint8_t *out = <uint8_t *> malloc(max(n, 1))
    if out == NULL:
        raise MemoryError()
    b.levels = out
    cdef Py_ssize_t row
    cdef PyObject *level
    cdef PyObject *last = NULL
    cdef int index = 0
    for row in range(n):
        level = PyTuple_GET_ITEM(values, row)
        if level != last:  # runs of the same level object are the common case
            index = level_index(<object> level)
            last = level
        out[row] = index
    return 0


cdef object log_batch(EventBuffer buffer, object levels, object event_ids, object messages,
                      dict fields):
    if buffer._closed:
        raise buffer._closed_error("this logger is stopped; log_many() needs a running logger")
    cdef Batch b
    memset(&b, 0, sizeof(Batch))
    cdef BatchIds ids = BatchIds()
    cdef BatchColumns columns
    cdef Py_ssize_t n, row, end, bound, chunk_end
    cdef int level, index = -1
    cdef bint any_accepted = False, stopped = False, again, finished
    cdef SegmentHeader *seg = NULL
    cdef unsigned char *base = NULL
    try:
        ids.read(event_ids)
        n = ids.rows
        batch_levels(levels, n, &b)
        columns = batch_columns(messages, fields, n, True)
        # Every check passed: from here on rows get written.
        b.min_level = buffer._min_level
        if b.levels == NULL:
            any_accepted = b.level >= b.min_level
            for row in range(ids.count if any_accepted else 0):
                ids.entries[row].accepted = True
        else:
            for row in range(n):
                if b.levels[row] >= b.min_level:
                    ids.entries[ids.of_row[row]].accepted = True
                    any_accepted = True
        if not any_accepted:
            if not columns.check_rest(0):
                batch_columns(messages, fields, n, False)  # converts odd messages; may raise
            return None
        ids.resolve(buffer._event_ids)
        b.id_of_row = ids.of_row
        b.ids = ids.entries
        b.columns = columns.columns
        b.column_count = columns.count
        b.touched = <uint32_t *> malloc(max(ids.count, 1) * sizeof(uint32_t))
        if b.touched == NULL:
            raise MemoryError()
        # Every row has the time of the call; with the level, a fixed prefix.
        clock_prefix(&b, &buffer._clock)
        if n <= SMALL_BATCH and log_small_batch(buffer, &b, columns, ids, n):
            return None
        buffer._batches_in_flight += 1
        b.taken = -1
        finished = False
        try:
            # The batch fills the active segment on from this thread's earlier lines
            # (other threads activate another meanwhile), and leaves its last segment
            # active: sealed segments of their own wasted most of a segment per call.
            index = b.taken = buffer._take_active()
            if index >= 0:
                seg = segment_header(buffer._header, index)
                base = buffer._data + index * buffer._segment_size
                b.taken_length = seg.length
                b.taken_events = seg.events
            chunk = 0
            while chunk < n:
                chunk_end = min(n, chunk + BATCH_CHUNK)
                again = not take_chunk(&b, columns, ids, chunk, chunk_end)
                row = chunk
                while row < chunk_end and not again:
                    if buffer._closed:
                        stopped = True
                        break
                    if index < 0:
                        while row < chunk_end and row_level(&b, row) < b.min_level:
                            row += 1
                        if row == chunk_end:
                            break
                        if buffer._free_count == 0 and not columns.check_rest(chunk_end):
                            again = True  # the filled segments are about to be sealed
                            break
                        if not free_segment(buffer, &b):
                            buffer._dropped += 1  # the ring is full and on_full is "drop"
                            row += 1
                            continue
                        index = buffer._take_free()
                        seg = segment_header(buffer._header, index)
                        base = buffer._data + index * buffer._segment_size
                    with nogil:
                        row = fill_rows(&b, row, chunk_end, base, buffer._segment_size, seg)
                    if row < chunk_end:  # row does not fit what is left of the segment
                        b.filled[b.filled_count] = index
                        b.filled_count += 1
                        index = -1
                        bound = row_bound(&b, row)
                        if bound > buffer._segment_size:
                            if not columns.check_rest(chunk_end):  # it seals what came before
                                again = True
                                break
                            write_large_row(buffer, &b, row, bound)
                            row += 1
                columns.let_go()
                if again:
                    # A message is not a str: nothing is published yet, so the
                    # batch starts over the way that converts such values first.
                    roll_back(buffer, &b, index)
                    index = -1
                    columns = batch_columns(messages, fields, n, False)
                    b.columns = columns.columns
                    chunk = 0
                    continue
                if columns.all_checked():  # counts are published only once nothing can be undone
                    bring_counts(buffer, &b, ids)
                chunk = chunk_end
                if stopped:
                    raise LoggerStoppedError("stopped between chunks")  # completed below
            finished = True
        finally:
            if (index >= 0 and finished and buffer._active < 0 and not buffer._closed
                    and seg.events < buffer._seal_after_events):
                buffer._resume(index)
            elif index >= 0:
                b.filled[b.filled_count] = index
                b.filled_count += 1
            seal_filled(buffer, &b)
            buffer._batches_in_flight -= 1
            if b.touched != NULL:
                bring_counts(buffer, &b, ids)
    except LoggerStoppedError:
        # Every row written is counted by now (the finally blocks above), and
        # stop() writes them out: a caller retrying the batch must skip them.
        what = "stopped" if buffer._broken is None else f"broken ({buffer._broken})"
        raise LoggerStoppedError(
            f"this logger was {what} during log_many(): the first {b.accepted} of its rows at or above "
            f"the logger's level were logged (and counted), the rest were not", b.accepted) from None
    finally:
        free(b.levels)
        free(b.touched)


cdef BatchColumns batch_columns(object messages, dict fields, Py_ssize_t n, bint trust_messages):
    """The checked columns; a message list or tuple is taken on trust if trust_messages.

    Checking the messages' types up front was a pass over objects that the
    chunks read again anyway: taken on trust, take() checks each chunk, and
    log_batch() publishes nothing until every message was checked.
    """
    cdef BatchColumns columns = BatchColumns(1 + len(fields), n)
    if messages is not None:
        columns.add(None, messages, trust_messages and (type(messages) is list or type(messages) is tuple))
    for name, values in fields.items():
        if name == "timestamp":
            raise ValueError('"timestamp" is written by the logger and cannot be a field')
        columns.add(name, values)
    return columns


cdef int roll_back(EventBuffer buffer, Batch *b, int index) except -1:
    """Undo what the batch wrote, none of it published: its segments go back to the free list
    (the one it took over is sealed with what it held before)."""
    cdef int k
    cdef SegmentHeader *seg
    if index >= 0:
        b.filled[b.filled_count] = index
        b.filled_count += 1
    for k in range(b.filled_count):
        seg = segment_header(buffer._header, b.filled[k])
        if b.filled[k] == b.taken:
            seg.events = b.taken_events
            fevl_store_release_u64(&seg.length, b.taken_length)
        else:
            seg.events = 0
            fevl_store_release_u64(&seg.length, 0)
        buffer._seal(b.filled[k])  # back to the free list if empty
    b.filled_count = 0
    b.taken = -1
    for k in range(b.touched_count):
        b.ids[b.touched[k]].pending = 0
    b.touched_count = 0
    memset(b.written, 0, sizeof(b.written))
    return 0


cdef void clock_prefix(Batch *b, TimestampCache *clock) noexcept:
    """The prefix of each level's lines, with the time of the call (clock is log()'s: GIL held)."""
    cdef unsigned char timestamp[TIMESTAMP_BYTES]
    put_timestamp(timestamp, clock)
    cdef int level
    cdef unsigned char *p
    for level in range(LEVEL_COUNT):
        p = put_raw(b.prefix[level], b'{"timestamp":"', 14)
        p = put_raw(p, <const char *> timestamp, TIMESTAMP_BYTES)
        p = put_raw(p, LEVEL_INFIX[level], LEVEL_INFIX_LENGTH[level])
        b.prefix_length[level] = p - b.prefix[level]
