# log_many(): a batch of events given as columns, encoded with the GIL released.
#
# Everything Python is read with the GIL held: levels and ids are checked and
# odd values converted with str() for the whole batch first (so bad input
# fails before anything is written), then each chunk of rows becomes plain C
# cells (pointers into str data, ints, doubles) whose owners stay referenced.
# Rows are encoded into a segment taken off the free list, not the active one,
# with the GIL released, so other threads keep logging meanwhile; the segment is
# sealed with the GIL held again.  The active segment is sealed first, so this
# thread's earlier events stay ahead of the batch.

from libc.stdio cimport snprintf
from libc.stdlib cimport strtod

cdef enum:
    BATCH_CHUNK = 16384      # rows turned into cells per GIL hold: bounds their memory

    CELL_ABSENT = 0          # no message
    CELL_NULL = 1
    CELL_TRUE = 2
    CELL_FALSE = 3
    CELL_INT = 4
    CELL_UINT = 5
    CELL_FLOAT = 6
    CELL_STR = 7
    CELL_RAW = 8             # bytes written as they are (an encoded id, big-int digits)

    ROW_FILTERED = 0
    ROW_ACCEPTED = 1
    ROW_DROPPED = 2
    ROW_UNWRITTEN = 3        # the logger was stopped before it was written

cdef struct Cell:
    int kind                 # CELL_*
    int str_kind             # PEP 393 kind of a CELL_STR
    bint ascii
    Py_ssize_t length        # code points of a CELL_STR, bytes of a CELL_RAW
    const void *data
    int64_t i                # CELL_INT; CELL_UINT reads it as uint64_t
    double d

cdef struct Column:
    bint is_array            # values in view; else one object per row in objects
    Py_buffer view
    char format              # struct code of the array's items
    PyObject *objects        # a tuple, owned by BatchColumns.keep
    PyObject *replacements   # a list of str/bytes or None per row (odd values), or NULL
    const char *key          # ',"name":' as written
    Py_ssize_t key_length
    Cell *cells              # this chunk's cells, for object columns


cdef inline unsigned char *put_uint64(unsigned char *p, uint64_t u) noexcept nogil:
    cdef char digits[INT_BOUND]
    cdef int n = 0
    while True:
        digits[n] = <char> (48 + u % 10)
        n += 1
        u //= 10
        if u == 0:
            break
    while n:
        n -= 1
        p[0] = digits[n]
        p += 1
    return p


cdef inline unsigned char *put_double_nogil(unsigned char *p, double v) noexcept nogil:
    """The shortest of %.15g/%.16g/%.17g that reads back as v (repr() needs the GIL)."""
    if not isfinite(v):
        return put_raw(p, b"null", 4)
    cdef char text[32]
    cdef int n = 0, precision, i
    for precision in range(15, 18):
        n = snprintf(text, sizeof(text), "%.*g", precision, v)
        if strtod(text, NULL) == v:
            break
    cdef bint integral = True
    for i in range(n):
        if text[i] == b',':
            text[i] = b'.'  # a C locale other than "C"; JSON wants a point
        if text[i] == b'.' or text[i] == b'e':
            integral = False
    memcpy(p, text, n)
    p += n
    if integral:
        return put_raw(p, b".0", 2)  # so it reads back as a float, like repr()
    return p


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


cdef class BatchColumns:
    """The columns of one log_many() call, checked, with what keeps them alive."""
    cdef Column *columns
    cdef Py_ssize_t count            # columns in use
    cdef bint has_message            # column 0 holds the messages
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
            for i in range(self.count):
                if self.columns[i].is_array:
                    PyBuffer_Release(&self.columns[i].view)
                free(self.columns[i].cells)
            free(self.columns)

    cdef int add(self, object name, object values) except -1:
        """A column of values (a sequence, or a 1-D buffer of numbers); name None for the message."""
        cdef Column *column = &self.columns[self.count]
        cdef bytes key = b',"message":'
        if name is not None:
            key = b"," + _encode_str(name) + b":"
        self.keep.append(key)
        column.key = PyBytes_AS_STRING(key)
        column.key_length = PyBytes_GET_SIZE(key)
        if name is not None and PyObject_CheckBuffer(values) and not isinstance(values, (bytes, bytearray)):
            PyObject_GetBuffer(values, &column.view, PyBUF_STRIDES | PyBUF_FORMAT)
            column.is_array = True
            self.count += 1  # from here on __dealloc__ releases the view
            fmt = (<bytes> column.view.format).decode().lstrip("@=<>!")
            if column.view.ndim != 1 or fmt not in _ARRAY_FORMATS:
                raise TypeError(f"field {name!r}: a 1-D array of numbers or bools is needed, "
                                f"not format {fmt!r} with {column.view.ndim} dimensions")
            column.format = ord(fmt)
            if column.view.shape[0] != self.rows:
                raise ValueError(f"field {name!r} has {column.view.shape[0]} values for {self.rows} events")
            return 0
        if isinstance(values, str) and name is None:
            objects = (values,) * self.rows  # one message for every event
        elif isinstance(values, (str, bytes, bytearray)) or not hasattr(values, "__len__"):
            raise TypeError(f"field {name!r} must be a sequence or array with one value per event, "
                            f"not {type(values).__name__}")
        else:
            objects = tuple(values)
        if len(objects) != self.rows:
            what = "messages" if name is None else f"field {name!r}"
            raise ValueError(f"{what} has {len(objects)} values for {self.rows} events")
        replacements = None
        cdef Py_ssize_t row
        cdef object value
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
        self.count += 1
        if column.cells == NULL:
            raise MemoryError()
        return 0

    cdef int fill(self, Py_ssize_t start, Py_ssize_t end) except -1:
        """Cells of rows [start, end) for the object columns (GIL held)."""
        cdef Py_ssize_t c, row
        cdef Column *column
        cdef object value
        for c in range(self.count):
            column = &self.columns[c]
            if column.is_array:
                continue
            for row in range(start, end):
                if column.replacements != NULL and (<list> column.replacements)[row] is not None:
                    value = (<list> column.replacements)[row]
                else:
                    value = <object> PyTuple_GET_ITEM(<object> column.objects, row)
                if c == 0 and self.has_message and value is None:
                    column.cells[row - start].kind = CELL_ABSENT
                else:
                    fill_cell(&column.cells[row - start], value)
        return 0


cdef bytes _encode_str(str s):
    """s as a quoted, escaped JSON string."""
    cdef bytes out = PyBytes_FromStringAndSize(NULL, STR_BOUND(PyUnicode_GET_LENGTH(s)))
    cdef unsigned char *end = put_str(<unsigned char *> PyBytes_AS_STRING(out), s)
    return out[:end - <unsigned char *> PyBytes_AS_STRING(out)]


cdef struct BatchRows:
    # Per row of the current chunk (index row - start):
    uint8_t *levels
    uint8_t *status          # ROW_*
    Cell *ids                # the id as written (CELL_RAW from its count slot, or its value)
    Py_ssize_t *bounds       # bytes the row can take
    Py_ssize_t start
    unsigned char timestamp[TIMESTAMP_BYTES]   # the time of the log_many() call, for every row
    # The columns, for the GIL-free side:
    const Column *columns
    Py_ssize_t column_count
    bint has_message


cdef inline bint _row_has(const BatchRows *rows, Py_ssize_t c, Py_ssize_t i) noexcept nogil:
    """Whether column c is written in row i (the message is left out when None)."""
    return c != 0 or not rows.has_message or rows.columns[0].cells[i].kind != CELL_ABSENT


cdef Py_ssize_t row_bound(const BatchRows *rows, Py_ssize_t row) noexcept nogil:
    cdef Py_ssize_t i = row - rows.start, c
    cdef Py_ssize_t bound = 64 + TIMESTAMP_BYTES + cell_bound(&rows.ids[i])
    cdef const Column *column
    for c in range(rows.column_count):
        column = &rows.columns[c]
        if column.is_array:
            bound += column.key_length + FLOAT_BOUND
        elif _row_has(rows, c, i):
            bound += column.key_length + cell_bound(&column.cells[i])
    return bound


cdef unsigned char *encode_row(unsigned char *p, const BatchRows *rows, Py_ssize_t row) noexcept nogil:
    cdef Py_ssize_t i = row - rows.start, c
    cdef int level = rows.levels[i]
    cdef const Column *column
    cdef Cell cell
    p = put_raw(p, b'{"timestamp":"', 14)
    p = put_raw(p, <const char *> rows.timestamp, TIMESTAMP_BYTES)
    p = put_raw(p, LEVEL_INFIX[level], LEVEL_INFIX_LENGTH[level])
    p = put_cell(p, &rows.ids[i])
    for c in range(rows.column_count):
        column = &rows.columns[c]
        if column.is_array:
            read_array(&cell, column, row)
            p = put_raw(p, column.key, column.key_length)
            p = put_cell(p, &cell)
        elif _row_has(rows, c, i):
            p = put_raw(p, column.key, column.key_length)
            p = put_cell(p, &column.cells[i])
    p[0] = b'}'
    p[1] = b'\n'
    return p + 2


cdef Py_ssize_t fill_segment(unsigned char *base, Py_ssize_t size, SegmentHeader *seg,
                             const BatchRows *rows, Py_ssize_t row, Py_ssize_t end) noexcept nogil:
    """Encode accepted rows from row on into an empty segment; returns the first row left."""
    cdef unsigned char *p = base
    cdef Py_ssize_t i
    while row < end:
        i = row - rows.start
        if rows.status[i] == ROW_ACCEPTED:
            if rows.bounds[i] > size - (p - base):
                break
            p = encode_row(p, rows, row)
            seg.events += 1
            fevl_store_release_u64(&seg.length, <uint64_t> (p - base))
        row += 1
    return row


cdef uint8_t[::1] batch_levels(object levels, Py_ssize_t n):
    """Level index (0..4) per event, from one level or one per event."""
    cdef uint8_t[::1] out = bytearray(n)
    if isinstance(levels, (str, int)):
        out[:] = level_index(levels)
        return out
    cdef tuple values = tuple(memoryview(levels).tolist() if PyObject_CheckBuffer(levels) else levels)
    if len(values) != n:
        raise ValueError(f"levels has {len(values)} values for {n} events")
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
    return out


cdef tuple batch_ids(object event_ids):
    """The ids as exact str/int objects (an integer array gives ints)."""
    if PyObject_CheckBuffer(event_ids) and not isinstance(event_ids, (bytes, bytearray, str)):
        view = memoryview(event_ids)
        if view.ndim != 1 or view.format.lstrip("@=<>!") not in "bBhHiIlLqQ":
            raise TypeError(f"event_ids as an array must be 1-D integers, not format {view.format!r}")
        return tuple(view.tolist())
    if isinstance(event_ids, (str, int)):
        raise TypeError("event_ids must be a sequence of ids (one per event)")
    cdef tuple ids = tuple(event_ids)
    cdef list exact = None
    cdef Py_ssize_t row
    cdef object event_id
    for row in range(len(ids)):
        event_id = <object> PyTuple_GET_ITEM(ids, row)
        if type(event_id) is not str and type(event_id) is not int:
            if exact is None:
                exact = list(ids)
            exact[row] = exact_event_id(event_id)
    return ids if exact is None else tuple(exact)


cdef object log_batch(EventBuffer buffer, object levels, object event_ids, object messages,
                      dict fields):
    if buffer._closed:
        raise RuntimeError("this logger is stopped; log_many() needs a running logger")
    cdef tuple ids = batch_ids(event_ids)
    cdef Py_ssize_t n = len(ids)
    cdef uint8_t[::1] level_of = batch_levels(levels, n)
    cdef BatchColumns columns = BatchColumns(1 + len(fields), n)
    if messages is not None:
        columns.add(None, messages)
        columns.has_message = True
    for name, values in fields.items():
        if name == "timestamp":
            raise ValueError('"timestamp" is written by the logger and cannot be a field')
        columns.add(name, values)

    cdef BatchRows rows
    rows.columns = columns.columns
    rows.column_count = columns.count
    rows.has_message = columns.has_message
    rows.levels = <uint8_t *> malloc(BATCH_CHUNK)
    rows.status = <uint8_t *> malloc(BATCH_CHUNK)
    rows.ids = <Cell *> malloc(BATCH_CHUNK * sizeof(Cell))
    rows.bounds = <Py_ssize_t *> malloc(BATCH_CHUNK * sizeof(Py_ssize_t))
    cdef list id_digits = []                  # keeps big-int ids' digits alive
    cdef TimestampCache clock
    memset(&clock, 0, sizeof(clock))
    put_timestamp(rows.timestamp, &clock)
    cdef Py_ssize_t start, end, row, i
    cdef IdSlot *slot
    cdef int overflow
    cdef bint stopped = False
    buffer._batches_in_flight += 1
    try:
        if rows.levels == NULL or rows.status == NULL or rows.ids == NULL or rows.bounds == NULL:
            raise MemoryError()
        buffer._seal_active()  # this thread's earlier events go first
        for start in range(0, n, BATCH_CHUNK):
            end = min(n, start + BATCH_CHUNK)
            rows.start = start
            columns.fill(start, end)
            for row in range(start, end):
                i = row - start
                rows.levels[i] = level_of[row]
                if level_of[row] < buffer._min_level:
                    rows.status[i] = ROW_FILTERED
                    continue
                rows.status[i] = ROW_ACCEPTED
                key = <object> PyTuple_GET_ITEM(ids, row)
                slot = buffer._event_ids.slot_for(key)
                slot.count += 1  # counted now, while the slot pointer is fresh; undone if not written
                if slot.json != NULL:
                    rows.ids[i].kind = CELL_RAW
                    rows.ids[i].data = slot.json
                    rows.ids[i].length = slot.json_length
                else:  # past the distinct-id bound
                    if type(key) is int:
                        PyLong_AsLongLongAndOverflow(key, &overflow)
                        if overflow:
                            key = str(key).encode()
                            id_digits.append(key)
                    fill_cell(&rows.ids[i], key)
                rows.bounds[i] = row_bound(&rows, row)
            stopped = buffer._write_rows(&rows, start, end)
            for row in range(start, end):
                i = row - start
                if rows.status[i] == ROW_ACCEPTED:
                    buffer._level_counts[level_of[row]] += 1
                    buffer._logged += 1
                elif rows.status[i] == ROW_DROPPED or rows.status[i] == ROW_UNWRITTEN:
                    buffer._event_ids.slot_for(<object> PyTuple_GET_ITEM(ids, row)).count -= 1
            if stopped:
                raise RuntimeError(f"this logger was stopped during log_many(); the events before "
                                   f"number {end} were logged, the rest were not")
    finally:
        buffer._batches_in_flight -= 1
        free(rows.levels)
        free(rows.status)
        free(rows.ids)
        free(rows.bounds)
