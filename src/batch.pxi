# log_many(): a batch of events given as columns, written a chunk of rows at a time.
#
# With the GIL held, once for the whole batch: levels, ids and columns are
# checked and every value not written as itself is converted (str() may run any
# code and may fail: before anything is written).  Then per chunk, GIL held,
# the accepted rows are classified into Values (a copy of the chunk's items of
# each column list referenced until the chunk is written: another thread may
# change the list meanwhile) and each row's id is looked up in the counts,
# whose table then keeps it.  The rows are encoded into segments by the
# serializer's code, the same as log()'s line,
# and counted as each segment is done.  A batch of one chunk is encoded with
# the GIL held into the active segment, like log()'s lines; a larger one takes
# each segment out of the ring and encodes it with the GIL released, so other
# threads log meanwhile.  Either way the batch's lines follow this thread's
# earlier lines.

from cpython.object cimport Py_SIZE

import sys

cdef enum:
    CHUNK_ROWS = 4096        # rows classified per GIL hold: bounds the Values and references held

    COLUMN_ARRAY = 0         # a 1-D buffer of numbers, read per row
    COLUMN_OBJECTS = 1       # a list or tuple, one value per row
    COLUMN_ONE = 2           # one str for every row (messages only)

cdef struct Column:
    int form                 # COLUMN_*
    Py_buffer view           # COLUMN_ARRAY: the buffer; format its struct code
    char format
    PyObject *objects        # COLUMN_OBJECTS: the list or tuple; COLUMN_ONE: the str
    PyObject **items         # COLUMN_OBJECTS: the chunk's, from its first row on
    PyObject **replacements  # per row None, or what to write instead (str, or a big int's digits)

cdef struct Rows:
    # The accepted rows of one chunk, as the encoder reads them.
    Py_ssize_t count
    Py_ssize_t fields
    Py_ssize_t stride        # Values per row: the message (VALUE_ABSENT if none), then each field
    const Value *keys        # the fields' names
    const Value *context     # a bound logger's fields, or NULL
    uint8_t *level
    Value *id
    Value *values
    Py_ssize_t bound         # no row takes more
    # Per level, PREFIX_BYTES of '{"timestamp":"…","level":"…","event_id":' and its length: on
    # log_batch's stack, as a Batch is zeroed when made and this is most of a small batch's bytes.
    const unsigned char *prefix
    const Py_ssize_t *prefix_length


_ARRAY_FORMATS = frozenset("bBhHiIlLqQfd?")
_FOREIGN_BYTE_ORDER = (">", "!") if sys.byteorder == "little" else ("<",)
_INTEGER_FORMATS = frozenset("bBhHiIlLqQ")
# Names a column cannot have, and why: the keys every line has (a field would write the key twice),
# and log()'s parameters that log_many() does not take.
LINE_KEYS = {"timestamp": "the logger writes it",
             "level": "the logger writes it (levels= gives each event's)",
             "event_id": "the logger writes it (event_ids= gives each event's)",
             "message": "the logger writes it (messages= gives each event's)",
             "exc_info": "log_many() logs no exception (exception() logs one event with it)",
             "stack_info": "log_many() logs no stack (stack_info=True on one event does)"}
cdef PyObject *NONE = <PyObject *> None


@cython.final
cdef class Batch:
    """One log_many() call: its checked columns, and the chunk of rows being written."""
    cdef Py_ssize_t n                # rows of the call
    cdef uint8_t *levels             # per row, or NULL when every row has `level`
    cdef int level
    cdef object ids                  # a list or tuple of exact str or int ids
    cdef Column *columns             # the message (columns[0]), then the fields
    cdef Value *keys                 # the fields' names
    cdef Py_ssize_t column_count     # columns opened (the message's always)
    cdef bint has_message
    cdef list keep                   # what the columns refer to
    cdef Rows rows
    cdef Value context               # rows.context's, when a bound logger logs
    cdef IdSlot **slot               # per chunk row
    cdef PyObject **held             # the chunk's references: items of each list, ids past the bound
    cdef Py_ssize_t held_count
    cdef uint64_t accepted           # rows written and counted: LoggerStoppedError.accepted

    def __cinit__(self, levels, event_ids, messages, dict fields, bytes context):
        self.keep = [fields, context]
        if context is not None:
            json_value(&self.context, context)
            self.rows.context = &self.context
        self.ids = batch_ids(event_ids)
        self.n = len(self.ids)
        self.level = batch_levels(levels, self.n, &self.levels)
        self.columns = <Column *> calloc(1 + len(fields), sizeof(Column))
        self.keys = <Value *> calloc(max(1, len(fields)), sizeof(Value))
        if self.columns == NULL or self.keys == NULL:
            raise MemoryError()
        self.column_count = 1
        self.has_message = messages is not None
        if self.has_message:
            self.open(&self.columns[0], None, messages)
        for name, values in fields.items():
            if name in LINE_KEYS:
                raise ValueError(f'"{name}" cannot be a field of log_many(): {LINE_KEYS[name]}')
            str_value(&self.keys[self.column_count - 1], name)
            self.column_count += 1  # from here on __dealloc__ releases what the column holds
            self.open(&self.columns[self.column_count - 1], name, values)
        cdef Py_ssize_t rows = max(1, min(self.n, CHUNK_ROWS))
        self.rows.fields = self.column_count - 1
        self.rows.stride = self.column_count
        self.rows.keys = self.keys
        self.rows.level = <uint8_t *> malloc(rows)
        self.rows.id = <Value *> malloc(rows * sizeof(Value))
        self.rows.values = <Value *> malloc(rows * self.column_count * sizeof(Value))
        self.slot = <IdSlot **> malloc(rows * sizeof(IdSlot *))
        self.held = <PyObject **> malloc(rows * (self.column_count + 2) * sizeof(PyObject *))
        if (self.rows.level == NULL or self.rows.id == NULL or self.rows.values == NULL
                or self.slot == NULL or self.held == NULL):
            raise MemoryError()

    def __dealloc__(self):
        self.let_go()
        cdef Py_ssize_t c
        for c in range(self.column_count):
            if self.columns[c].form == COLUMN_ARRAY and self.columns[c].view.buf != NULL:
                PyBuffer_Release(&self.columns[c].view)
        free(self.columns)
        free(self.keys)
        free(self.levels)
        free(self.rows.level)
        free(self.rows.id)
        free(self.rows.values)
        free(self.slot)
        free(self.held)

    cdef int open(self, Column *column, object name, object values) except -1:
        """Check a column (name None: the messages) and convert its values that are not written as
        themselves."""
        what = "messages" if name is None else f"field {name!r}"
        if name is not None and PyObject_CheckBuffer(values) and not isinstance(values, (bytes, bytearray)):
            PyObject_GetBuffer(values, &column.view, PyBUF_STRIDES | PyBUF_FORMAT)
            column.form = COLUMN_ARRAY
            fmt = (<bytes> column.view.format).decode()
            if fmt[:1] in _FOREIGN_BYTE_ORDER:
                raise TypeError(f"{what}: an array in the machine's byte order is needed, not format "
                                f"{fmt!r} (numpy: values.astype(values.dtype.newbyteorder('=')))")
            fmt = fmt.lstrip("@=<>!")
            if column.view.ndim != 1 or fmt not in _ARRAY_FORMATS:
                raise TypeError(f"{what}: a 1-D array of numbers or bools is needed, "
                                f"not format {fmt!r} with {column.view.ndim} dimensions")
            column.format = ord(fmt)
            if column.view.shape[0] != self.n:
                raise ValueError(f"{what} has {column.view.shape[0]} values for {self.n} events")
            return 0
        column.form = COLUMN_OBJECTS
        if isinstance(values, str) and name is None:
            column.form = COLUMN_ONE  # one message for every event
        elif isinstance(values, (str, bytes, bytearray)) or not hasattr(values, "__len__"):
            raise TypeError(f"{what} must be a sequence or array with one value per event, "
                            f"not {type(values).__name__}")
        elif type(values) is not list and type(values) is not tuple:
            values = tuple(values)
        self.keep.append(values)
        column.objects = <PyObject *> values
        if column.form == COLUMN_ONE:
            return 0
        if len(values) != self.n:
            raise ValueError(f"{what} has {len(values)} values for {self.n} events")
        cdef Value scratch
        cdef list replacements = None
        cdef Py_ssize_t row
        cdef PyObject **items = PySequence_Fast_ITEMS(values)
        for row in range(self.n):
            if type(<object> items[row]) is str or (name is None and items[row] == NONE):
                continue
            value = <object> items[row]
            if name is None and not isinstance(value, str):
                converted = str(value)
            else:
                converted = classify(&scratch, value, name)
            if converted is not None:
                if replacements is None:
                    replacements = [None] * self.n
                    self.keep.append(replacements)
                    column.replacements = PySequence_Fast_ITEMS(replacements)
                replacements[row] = converted
            if len(values) != self.n:  # Python code ran: a list may have changed, and moved its items
                raise RuntimeError(f"{what}: the list changed size during log_many()")
            items = PySequence_Fast_ITEMS(values)
        return 0

    cdef int take_chunk(self, LoggerCore logger, Py_ssize_t start, Py_ssize_t end) except -1:
        """Classify the accepted rows of [start, end) into self.rows (GIL held; let_go() ends it)."""
        cdef EventIdCounts counts = logger._event_ids
        cdef Rows *rows = &self.rows
        cdef Value *values = rows.values
        cdef Py_ssize_t row, k = 0, c, bound = 0, first = 0 if self.has_message else 1
        cdef int level = self.level
        cdef IdSlot *slot
        cdef PyObject *item
        for c in range(first, self.column_count):
            if self.columns[c].form == COLUMN_OBJECTS:
                self.columns[c].items = self.chunk_items(<object> self.columns[c].objects, start, end)
        for row in range(start, end):
            if self.levels != NULL:
                level = self.levels[row]
            if LEVEL_NUMBER[level] < logger._min_number:
                continue
            # Read in place, not referenced: once looked up, an id is its slot's (the table keeps it).
            if row >= Py_SIZE(self.ids):  # only a list's size changes
                raise RuntimeError(f"a list passed in got shorter during log_many() (row {row})")
            item = PySequence_Fast_ITEMS(self.ids)[row]
            if type(<object> item) is not str and type(<object> item) is not int:
                raise RuntimeError(f"event_ids: the list was changed during log_many(): row {row} "
                                   "is not an exact str or int any more")
            slot = counts.slot_for(<object> item)
            self.slot[k] = slot
            rows.level[k] = level
            if slot.json != NULL:
                rows.id[k].kind = VALUE_JSON
                rows.id[k].text = slot.json
                rows.id[k].length = slot.json_length
            else:  # past the distinct-id bound: written from the id itself (or what classify() made)
                self.hold(item)
                made = classify(&rows.id[k], <object> item, "event_id")
                self.hold(<PyObject *> made)
            values[0].kind = VALUE_ABSENT
            for c in range(first, self.column_count):
                self.value(c, row, row - start, &values[c])
            bound = max(bound, line_bound(&rows.id[k], values, rows.context, rows.keys, values + 1,
                                          rows.fields))
            values += rows.stride
            k += 1
        rows.count = k
        rows.bound = bound
        return 0

    cdef PyObject **chunk_items(self, object objects, Py_ssize_t start, Py_ssize_t end) except? NULL:
        """The items of a list or tuple from start on; a list's [start, end) are copied and referenced
        until let_go(), as another thread may change the list while the chunk is encoded."""
        cdef PyObject **items = PySequence_Fast_ITEMS(objects) + start
        if type(objects) is tuple:
            return items
        if len(objects) < end:
            raise RuntimeError(f"a list passed in got shorter during log_many() (rows up to {end})")
        cdef PyObject **copy = self.held + self.held_count
        cdef Py_ssize_t i
        for i in range(end - start):
            ref_inc(items[i])
            copy[i] = items[i]
        self.held_count += end - start
        return copy

    cdef inline void hold(self, PyObject *o) noexcept:
        """Reference o until let_go()."""
        ref_inc(o)
        self.held[self.held_count] = o
        self.held_count += 1

    cdef inline int value(self, Py_ssize_t c, Py_ssize_t row, Py_ssize_t i, Value *v) except -1:
        """The value of column c in row, the chunk's row i."""
        cdef Column *column = &self.columns[c]
        if column.form == COLUMN_OBJECTS and type(<object> column.items[i]) is str:
            str_value(v, <object> column.items[i])  # the common case, inline
            return 0
        return self.other_value(column, c == 0, row, i, v)

    cdef int other_value(self, Column *column, bint message, Py_ssize_t row, Py_ssize_t i,
                         Value *v) except -1:
        if column.form == COLUMN_ARRAY:
            return read_array(v, column, row)
        if column.form == COLUMN_ONE:
            str_value(v, <object> column.objects)
            return 0
        cdef PyObject *item = column.items[i]
        if column.replacements != NULL and column.replacements[row] != NONE:  # converted by open()
            if type(<object> column.replacements[row]) is bytes:
                json_value(v, <bytes> column.replacements[row])
            else:
                str_value(v, <object> column.replacements[row])
        elif message and item == NONE:
            v.kind = VALUE_ABSENT
        elif not classify_plain(v, <object> item) or (message and v.kind != VALUE_STR):
            raise RuntimeError(f"a column list was changed during log_many(): row {row} holds a "
                               f"{type(<object> item).__name__} it did not hold when the call began")
        return 0

    cdef void let_go(self) noexcept:
        """Drop the chunk's references (GIL held)."""
        cdef Py_ssize_t i
        for i in range(self.held_count):
            ref_dec(self.held[i])
        self.held_count = 0
        self.rows.count = 0

    cdef int count_rows(self, LoggerCore logger, Py_ssize_t first, Py_ssize_t end) except -1:
        """Rows [first, end) of the chunk are in the ring: count them."""
        cdef Py_ssize_t k
        for k in range(first, end):
            self.slot[k].count += 1
            logger._level_counts[self.rows.level[k]] += 1
        logger._logged += end - first
        self.accepted += end - first
        return 0


cdef inline Py_ssize_t row_bound(const Rows *rows, Py_ssize_t k) noexcept nogil:
    cdef const Value *values = &rows.values[k * rows.stride]
    return line_bound(&rows.id[k], values, rows.context, rows.keys, values + 1, rows.fields)


cdef inline unsigned char *put_row(unsigned char *p, const Rows *rows, Py_ssize_t k) noexcept nogil:
    # A fixed-size copy (the bound has room) is a few moves where one of the exact length is a call.
    memcpy(p, rows.prefix + rows.level[k] * PREFIX_BYTES, PREFIX_BYTES)
    cdef const Value *values = &rows.values[k * rows.stride]
    return put_body(p + rows.prefix_length[rows.level[k]], &rows.id[k], values, rows.context, rows.keys,
                    values + 1, rows.fields)


cdef Py_ssize_t fill_rows(const Rows *rows, Py_ssize_t k, unsigned char *base, Py_ssize_t size,
                          SegmentHeader *seg) noexcept nogil:
    """Encode rows from k on after what seg holds; returns the first row left: the end,
    or one that does not fit what is left of the segment."""
    cdef unsigned char *p = base + seg.length
    cdef unsigned char *limit = base + size
    cdef unsigned char *end
    cdef uint64_t events = seg.events
    while k < rows.count:
        if limit - p < rows.bound and row_bound(rows, k) > limit - p:
            break
        end = put_row(p, rows, k)
        FEVL_CHECK(end - p <= row_bound(rows, k), "a batch row stays within its bound")
        p = end
        events += 1
        seg.events = events
        # Recovery trusts every byte below the length: publish it after them.
        fevl_store_release_u64(&seg.length, <uint64_t> (p - base))
        k += 1
    return k


cdef int read_array(Value *v, const Column *column, Py_ssize_t row) except -1:
    """Item row of an array column as a Value."""
    cdef const char *item = <const char *> column.view.buf + row * column.view.strides[0]
    cdef char f = column.format
    v.kind = VALUE_INT
    if f == b'q' or (f == b'l' and column.view.itemsize == 8):
        v.number = (<const int64_t *> item)[0]
    elif f == b'i' or (f == b'l' and column.view.itemsize == 4):
        v.number = (<const int32_t *> item)[0]
    elif f == b'h':
        v.number = (<const int16_t *> item)[0]
    elif f == b'b':
        v.number = (<const int8_t *> item)[0]
    elif f == b'B':
        v.number = (<const uint8_t *> item)[0]
    elif f == b'H':
        v.number = (<const uint16_t *> item)[0]
    elif f == b'I' or (f == b'L' and column.view.itemsize == 4):
        v.number = (<const uint32_t *> item)[0]
    elif f == b'Q' or f == b'L':
        v.kind = VALUE_UINT
        v.number = <int64_t> (<const uint64_t *> item)[0]
    elif f == b'd':
        v.kind = VALUE_FLOAT
        v.real = (<const double *> item)[0]
    elif f == b'f':
        v.kind = VALUE_FLOAT
        v.real = (<const float *> item)[0]
    else:  # '?', checked when the column was opened
        v.kind = VALUE_TRUE if (<const uint8_t *> item)[0] else VALUE_FALSE
    return 0


cdef object batch_ids(object event_ids):
    """The ids as a list or tuple, each an exact str or int (checked)."""
    if PyObject_CheckBuffer(event_ids) and not isinstance(event_ids, (bytes, bytearray, str)):
        return tuple(integer_array(event_ids, "event_ids"))
    if isinstance(event_ids, (str, int)):
        raise TypeError("event_ids must be a sequence of ids (one per event)")
    ids = event_ids if type(event_ids) is list or type(event_ids) is tuple else tuple(event_ids)
    cdef PyObject **items = PySequence_Fast_ITEMS(ids)
    cdef Py_ssize_t row, n = len(ids)
    for row in range(n):  # runs no Python code until an odd id: a list cannot change meanwhile
        if type(<object> items[row]) is not str and type(<object> items[row]) is not int:
            return tuple([exact_event_id(event_id) for event_id in ids])
    return ids


cdef list integer_array(object array, str what):
    """The items of a 1-D array of integers (event_ids, levels), checked."""
    view = memoryview(array)
    code = view.format.lstrip("@=<>!")
    if view.format[:1] in _FOREIGN_BYTE_ORDER:
        raise TypeError(f"{what}: an array in the machine's byte order is needed, not format "
                        f"{view.format!r} (numpy: values.astype(values.dtype.newbyteorder('=')))")
    if view.ndim != 1 or code not in _INTEGER_FORMATS:
        raise TypeError(f"{what} as an array must be 1-D integers, not format {view.format!r}")
    if code != view.format:  # tolist() reads no format with a byte order, even the native one
        view = memoryview(view.tobytes()).cast(code)
    return view.tolist()


cdef int batch_levels(object levels, Py_ssize_t n, uint8_t **per_row) except -1:
    """The level of every row; or, for a sequence, the level of each row in per_row[0]."""
    if isinstance(levels, (str, int)):
        return level_index(levels)
    cdef tuple values = tuple(integer_array(levels, "levels") if PyObject_CheckBuffer(levels) else levels)
    if len(values) != n:
        raise ValueError(f"levels has {len(values)} values for {n} events")
    cdef uint8_t *out = <uint8_t *> malloc(max(n, 1))
    if out == NULL:
        raise MemoryError()
    per_row[0] = out
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


cdef object log_batch(LoggerCore logger, object levels, object event_ids, object messages, dict fields,
                      BoundLogger bound=None):
    cdef Ring ring = logger._ring
    if ring.closed:
        raise ring.closed_error("this logger is stopped; log_many() needs a running logger")
    cdef bytes context = None if bound is None else bound.context_without(fields)
    cdef Batch batch = Batch(levels, event_ids, messages, fields, context)  # every check and conversion
    cdef unsigned char timestamp[TIMESTAMP_BYTES]
    cdef unsigned char prefix[MAX_LEVELS * PREFIX_BYTES]
    cdef Py_ssize_t prefix_length[MAX_LEVELS]
    cdef unsigned char *p
    cdef int level
    put_timestamp(timestamp, &logger._clock)  # every row has the time of the call
    for level in range(level_count):
        p = put_raw(prefix + level * PREFIX_BYTES, b'{"timestamp":"', 14)
        p = put_raw(p, <const char *> timestamp, TIMESTAMP_BYTES)
        p = put_raw(p, LEVEL_INFIX[level], LEVEL_INFIX_LENGTH[level])
        prefix_length[level] = p - (prefix + level * PREFIX_BYTES)
    batch.rows.prefix = prefix
    batch.rows.prefix_length = prefix_length
    cdef Py_ssize_t start
    try:
        for start in range(0, batch.n, CHUNK_ROWS):
            if ring.closed:
                raise ring.closed_error("stopped between chunks")  # completed below
            batch.take_chunk(logger, start, min(batch.n, start + CHUNK_ROWS))
            try:
                write_chunk(logger, batch, batch.n > CHUNK_ROWS)
            finally:
                batch.let_go()
    except LoggerStoppedError:
        # Every row written is counted by now, and stop() writes them out: a
        # caller retrying the batch must skip them.
        what = "stopped" if ring.broken is None else f"broken ({ring.broken})"
        raise LoggerStoppedError(
            f"this logger was {what} during log_many(): the first {batch.accepted} of its rows at or above "
            f"the logger's level were logged (and counted), the rest were not", batch.accepted) from None
    finally:
        if ring.sealed:
            ring.wake()  # for the segments the batch sealed (see give_back)


cdef int write_chunk(LoggerCore logger, Batch batch, bint without_gil) except -1:
    """Write the chunk's rows into the ring and count them."""
    cdef Ring ring = logger._ring
    cdef Rows *rows = &batch.rows
    cdef Py_ssize_t k = 0, first, length
    cdef int index
    cdef SegmentHeader *seg
    cdef unsigned char *base
    cdef unsigned char *line
    while k < rows.count:
        if ring.closed:
            raise ring.closed_error("stopped between chunks")
        length = row_bound(rows, k)
        if length > ring.segment_size:  # encoded aside, then placed at its exact size
            line = <unsigned char *> malloc(length)
            if line == NULL:
                raise MemoryError()
            try:
                length = put_row(line, rows, k) - line
                if ring.place_line(line, length):
                    batch.count_rows(logger, k, k + 1)
            finally:
                free(line)
            k += 1
            continue
        # Room for the chunk's largest row; sealing a segment early wastes at most that.
        if ring.reserve(min(rows.bound, ring.segment_size)) == NULL:
            ring.dropped += 1  # the ring is full and on_full is "drop"
            k += 1
            continue
        index = ring.take_active()
        seg = segment_header(ring.header, index)
        base = ring.data + index * ring.segment_size
        first = k
        if without_gil:
            ring.filling_without_gil += 1  # stop() waits for it, then seals what is active
            try:
                with nogil:
                    k = fill_rows(rows, k, base, ring.segment_size, seg)
                give_back(ring, index, seg, k == rows.count)
            finally:
                ring.filling_without_gil -= 1
        else:
            k = fill_rows(rows, k, base, ring.segment_size, seg)
            give_back(ring, index, seg, k == rows.count)
        batch.count_rows(logger, first, k)
    return 0


cdef int give_back(Ring ring, int index, SegmentHeader *seg, bint room_left) except -1:
    """The segment a chunk was written into goes on taking lines, or is sealed if full (or another
    was activated meanwhile).

    The scheduler hears of it when the batch ends (or the ring runs short): woken
    meanwhile, it and the writers would only take turns with the batch on the CPU,
    and the call took several times as long.
    """
    if room_left and ring.active < 0 and not ring.closed and seg.events < ring.seal_after_events:
        ring.activate(index)
    else:
        ring.seal_segment(index, False)
    return 0
