# LoggerCore: the compiled half of EventLogCounter.  log() and the level
# methods parse their arguments, classify the values and write one line into
# the ring; log_many() is in batch.pxi.  It counts what it accepts.
#
# log() and the level methods are METH_FASTCALL|METH_KEYWORDS methods: a
# `def f(..., **fields)` builds a dict on every call, fields or not, which
# alone costs about as much as the whole call floor.  These read positional and
# keyword arguments straight from the vectorcall array, and the fields stay there.

from cpython.number cimport PyIndex_Check
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE

cdef extern from "Python.h":
    ctypedef struct PyMethodDef:
        const char *ml_name
        void *ml_meth
        int ml_flags
        const char *ml_doc
    int METH_FASTCALL
    int METH_KEYWORDS
    object PyDescr_NewMethod(type cls, PyMethodDef *method)
    void PyType_Modified(type cls)

cdef enum:
    SMALL_LINE = 4096        # a line bound below this is reserved as is: sealing early wastes little
    FIELDS_ON_STACK = 16     # more fields than this take a malloc'd array
    SLOT_LEVEL = 0
    SLOT_EVENT_ID = 1
    SLOT_MESSAGE = 2
    SLOT_TIMESTAMP = 3       # never a parameter; reserved for the line's own key
    NO_LEVEL = -1            # log(): the level is the first argument

cdef tuple PARAMETER_NAMES = ("level", "event_id", "message", "timestamp")

_LEVEL_BY_NAME = {name: i for i, name in enumerate(LEVEL_NAMES)}
_LEVEL_BY_NAME["WARN"] = 2   # the stdlib's aliases
_LEVEL_BY_NAME["FATAL"] = 4


cpdef int level_index(object level) except -1:
    """0..4 for DEBUG..CRITICAL, from a name (any case) or a stdlib int."""
    # Literal names are interned, so the common call is one pointer compare.
    if level is "INFO":
        return 1
    if level is "ERROR":
        return 3
    if level is "DEBUG":
        return 0
    if level is "WARNING":
        return 2
    if level is "CRITICAL":
        return 4
    cdef object index = None
    if isinstance(level, str):
        if level.isascii():  # str.upper() would map e.g. a dotless "ı" to "I"
            index = _LEVEL_BY_NAME.get(level.upper())
    elif isinstance(level, int) and not isinstance(level, bool):
        if level in LEVEL_VALUES:
            index = LEVEL_VALUES.index(level)
    if index is None:
        raise ValueError(
            f"unknown level {level!r}: valid levels are DEBUG, INFO, WARNING, ERROR, "
            "CRITICAL (any case) or the stdlib's 10, 20, 30, 40, 50")
    return index


cdef inline object exact_event_id(object event_id):
    """event_id as an exact str or int, so counting never runs Python code."""
    if type(event_id) is str or (type(event_id) is int):
        return event_id
    if isinstance(event_id, str):
        return PyUnicode_Substring(event_id, 0, PyUnicode_GET_LENGTH(event_id))
    # An int or another integer (np.int64: it has __index__), but no bool, nor numpy's.
    numpy_bool = getattr(sys.modules.get("numpy"), "bool_", bool)
    if PyIndex_Check(event_id) and not isinstance(event_id, (bool, numpy_bool)):
        return PyNumber_Index(event_id)
    raise TypeError(f"event_id must be str or int, not {type(event_id).__name__}")


def _noop(level, event_id, message=None):
    """Does nothing: the cost of calling into this module with log()'s arguments (the benchmarks' floor)."""
    return None


cdef class LoggerCore:
    """Counts and the calls that log; inert until _attach() gives it a ring.

    The Python layer (fastevlog.EventLogCounter) owns the buffer file,
    scheduling and writing.
    """

    def __cinit__(self, *args, **kwargs):
        self._ring = Ring()
        self._event_ids = EventIdCounts()

    def _attach(self, mapping, int segment_count, Py_ssize_t segment_size, int wake_fd,
                int min_level, bint block_when_full, uint64_t seal_after_events, int wake_after=1):
        """Start logging into ``mapping`` (a writable Mapping of the buffer file); returns the Ring
        (see Ring.attach)."""
        cdef Ring ring = Ring()
        ring.attach(mapping, segment_count, segment_size, wake_fd, block_when_full, seal_after_events,
                    wake_after)
        self._ring = ring
        self._min_level = min_level
        return ring

    def _forget_after_fork(self):
        """In a forked child: let go of the inherited ring (shared with the parent) and zero the counts.

        Nothing is written to the mapping: it is the parent's.
        """
        self._ring.detach()
        self._ring = Ring()
        self._event_ids = EventIdCounts()
        self._logged = 0
        memset(self._level_counts, 0, sizeof(self._level_counts))

    @property
    def closed(self):
        """Whether log() and log_many() refuse events (stopped, broken, or not started)."""
        return self._ring.closed

    def counts(self):
        """{"levels": {name: n}, "event_ids": {id: n}} of the events accepted."""
        levels = {LEVEL_NAMES[i]: self._level_counts[i]
                  for i in range(LEVEL_COUNT) if self._level_counts[i]}
        return {"levels": levels, "event_ids": self._event_ids.as_dict()}

    def _core_metrics(self):
        """The counters the core owns, for EventLogCounter.metrics()."""
        result = self._ring.metrics()
        result["events_logged"] = self._logged
        return result

    def log_many(self, levels, event_ids, messages=None, **field_columns):
        """Log a batch of events given as columns; see fastevlog.EventLogCounter.log_many."""
        log_batch(self, levels, event_ids, messages, field_columns)


cdef int log_one(LoggerCore logger, int level, object event_id, object message, PyObject **values,
                 PyObject *names, Py_ssize_t count, bint has_parameters) except -1:
    """Write one event, its fields the keywords in names (values by position) that name no
    parameter; level is already checked against the minimum."""
    cdef object key = event_id                    # what counts() shows
    if type(key) is not str and type(key) is not int:
        # Checked here, not only in the call: whether the compiler inlines the
        # call depends on the size of the whole module, and this is the hot path.
        key = exact_event_id(key)
    cdef IdSlot *slot = logger._event_ids.slot_for(key)
    cdef Value id_value, message_value
    cdef list kept = None                         # what values refer to in place of their own
    cdef bint ran_python = False                  # str() of some value
    if slot.json != NULL:
        id_value.kind = VALUE_JSON
        id_value.text = slot.json
        id_value.length = slot.json_length
    else:
        kept = [classify(&id_value, key, "event_id")]  # past the distinct-id bound: encoded here
    message_value.kind = VALUE_ABSENT
    if message is not None:
        if not isinstance(message, str):
            message = str(message)
            ran_python = True
        str_value(&message_value, message)
    cdef Value key_stack[FIELDS_ON_STACK]
    cdef Value value_stack[FIELDS_ON_STACK]
    cdef Value *keys = key_stack
    cdef Value *field_values = value_stack
    cdef Py_ssize_t fields = 0, i
    cdef PyObject *name
    if count > FIELDS_ON_STACK:
        keys = <Value *> malloc(2 * count * sizeof(Value))
        if keys == NULL:
            raise MemoryError()
        field_values = keys + count
    try:
        for i in range(count):
            name = PyTuple_GET_ITEM(<object> names, i)
            if has_parameters and parameter_slot(name) >= 0:
                continue
            str_value(&keys[fields], <object> name)
            if not classify_plain(&field_values[fields], <object> values[i]):
                ran_python = True
                if kept is None:
                    kept = []
                kept.append(classify(&field_values[fields], <object> values[i], <object> name))
            fields += 1
        if ran_python and logger._ring.closed:      # that code may have stopped the logger
            raise logger._ring.closed_error("this logger was stopped while log() converted its values")
        if not write_line(logger, level, &id_value, &message_value, keys, field_values, fields):
            return 0
    finally:
        if keys != key_stack:
            free(keys)
    return count_event(logger, level, slot)


cdef bint write_line(LoggerCore logger, int level, const Value *event_id, const Value *message,
                     const Value *keys, const Value *values, Py_ssize_t count) except -1:
    """Encode one line into the ring; False when it was dropped (ring full, on_full="drop")."""
    cdef Ring ring = logger._ring
    cdef Py_ssize_t bound = line_bound(event_id, message, keys, values, count)
    cdef unsigned char *p
    cdef unsigned char *end
    if bound <= ring.limit - ring.cursor:
        p = ring.cursor                            # fast path: room in the active segment
    elif bound <= SMALL_LINE and bound <= ring.segment_size:
        p = ring.reserve(bound)
        if p == NULL:
            ring.dropped += 1
            return False
    else:
        return write_aside(logger, level, event_id, message, keys, values, count, bound)
    end = put_body(put_prefix(p, &logger._clock, level), event_id, message, keys, values, count)
    FEVL_CHECK(end - p <= bound, "a line stays within its bound")
    ring.commit(end)
    return True


cdef bint write_aside(LoggerCore logger, int level, const Value *event_id, const Value *message,
                      const Value *keys, const Value *values, Py_ssize_t count, Py_ssize_t bound) except -1:
    """A large line: encoded off to the side, then placed at its exact size."""
    cdef unsigned char *line = <unsigned char *> malloc(bound)
    cdef unsigned char *end
    if line == NULL:
        raise MemoryError()
    try:
        end = put_body(put_prefix(line, &logger._clock, level), event_id, message, keys, values, count)
        FEVL_CHECK(end - line <= bound, "a line stays within its bound")
        return logger._ring.place_line(line, end - line)
    finally:
        free(line)


cdef inline int count_event(LoggerCore logger, int level, IdSlot *slot) except -1:
    """One more event at level, of the id whose slot this is (slots never move)."""
    slot.count += 1
    logger._logged += 1
    logger._level_counts[level] += 1
    return 0


cdef int parameter_slot(PyObject *name) noexcept:
    """SLOT_* for a keyword naming a parameter (or "timestamp"), -1 for a field."""
    cdef int slot
    for slot in range(4):
        if name == PyTuple_GET_ITEM(PARAMETER_NAMES, slot):
            return slot
    # Keyword names at a call site are interned, and so are ours: for an
    # interned name the pointer compares above were conclusive.
    if PyUnicode_CHECK_INTERNED(<object> name):
        return -1
    for slot in range(4):
        if PyUnicode_Compare(<object> name, <object> PyTuple_GET_ITEM(PARAMETER_NAMES, slot)) == 0:
            return slot
    return -1


cdef object log_call(object self, int level, PyObject **args, Py_ssize_t nargs, PyObject *kwnames):
    """Parse log(level, event_id, message=None, **fields) or LEVEL(event_id, message=None, **fields)."""
    cdef LoggerCore logger = <LoggerCore> self
    cdef Ring ring = logger._ring
    cdef PyObject *params[3]
    params[0] = params[1] = params[2] = NULL
    cdef int first = SLOT_LEVEL if level == NO_LEVEL else SLOT_EVENT_ID
    if nargs > 3 - first:
        raise TypeError(f"takes at most {3 - first} positional arguments ({nargs} given)")
    cdef Py_ssize_t i
    for i in range(nargs):
        params[first + i] = args[i]
    cdef Py_ssize_t count = 0 if kwnames == NULL else PyTuple_GET_SIZE(<object> kwnames)
    cdef bint has_parameters = False
    cdef int slot
    for i in range(count):
        slot = parameter_slot(<PyObject *> PyTuple_GET_ITEM(<object> kwnames, i))
        if slot < 0:
            continue
        has_parameters = True
        if slot == SLOT_TIMESTAMP or slot < first:
            raise ValueError(f'"{PARAMETER_NAMES[slot]}" is written by the logger and cannot be a field')
        if params[slot] != NULL:
            raise TypeError(f"got multiple values for argument '{PARAMETER_NAMES[slot]}'")
        params[slot] = args[nargs + i]
    if params[SLOT_EVENT_ID] == NULL or (level == NO_LEVEL and params[SLOT_LEVEL] == NULL):
        raise TypeError("missing required argument: " + ("level" if params[SLOT_LEVEL] == NULL
                                                         and level == NO_LEVEL else "event_id"))
    if level == NO_LEVEL:
        level = level_index(<object> params[SLOT_LEVEL])
    if fevl_atomic_load_int(&ring.handback):
        ring.step_aside()  # before the check below: the logger may be stopped meanwhile
    if ring.closed:
        raise ring.closed_error("this logger is stopped; log() needs a running logger")
    if level < logger._min_level:
        exact_event_id(<object> params[SLOT_EVENT_ID])  # a bad id is an error even when filtered
        return None
    log_one(logger, level, <object> params[SLOT_EVENT_ID],
            None if params[SLOT_MESSAGE] == NULL else <object> params[SLOT_MESSAGE],
            args + nargs, kwnames, count, has_parameters)
    return None


cdef object _log_method(object self, PyObject **args, Py_ssize_t nargs, PyObject *kwnames):
    return log_call(self, NO_LEVEL, args, nargs, kwnames)

cdef object _debug_method(object self, PyObject **args, Py_ssize_t nargs, PyObject *kwnames):
    return log_call(self, 0, args, nargs, kwnames)

cdef object _info_method(object self, PyObject **args, Py_ssize_t nargs, PyObject *kwnames):
    return log_call(self, 1, args, nargs, kwnames)

cdef object _warning_method(object self, PyObject **args, Py_ssize_t nargs, PyObject *kwnames):
    return log_call(self, 2, args, nargs, kwnames)

cdef object _error_method(object self, PyObject **args, Py_ssize_t nargs, PyObject *kwnames):
    return log_call(self, 3, args, nargs, kwnames)

cdef object _critical_method(object self, PyObject **args, Py_ssize_t nargs, PyObject *kwnames):
    return log_call(self, 4, args, nargs, kwnames)


# The methods' names and docstrings (kept referenced: the method table points into them).
cdef tuple LOG_METHOD_TEXTS = ((b"log", b"log($self, level, event_id, message=None, **fields)\n--\n\n"
                                b"Log one event: level is a name (any case) or the stdlib's int, "
                                b"event_id a str or int."),) + tuple(
    (name.lower().encode(), f"{name.lower()}($self, event_id, message=None, **fields)\n--\n\n"
                            f"Log one {name} event.".encode()) for name in LEVEL_NAMES)
cdef PyMethodDef LOG_METHODS[6]
cdef void *LOG_FUNCTIONS[6]
LOG_FUNCTIONS[:] = [<void *> _log_method, <void *> _debug_method, <void *> _info_method,
                    <void *> _warning_method, <void *> _error_method, <void *> _critical_method]
for _i in range(6):
    LOG_METHODS[_i].ml_name = PyBytes_AS_STRING(LOG_METHOD_TEXTS[_i][0])
    LOG_METHODS[_i].ml_meth = LOG_FUNCTIONS[_i]
    LOG_METHODS[_i].ml_flags = METH_FASTCALL | METH_KEYWORDS
    LOG_METHODS[_i].ml_doc = PyBytes_AS_STRING(LOG_METHOD_TEXTS[_i][1])
    # The type is not sealed yet at module init; this is how Cython adds its own methods.
    PyDict_SetItem(<object> fevl_type_dict(LoggerCore), LOG_METHODS[_i].ml_name.decode(),
                   PyDescr_NewMethod(LoggerCore, &LOG_METHODS[_i]))
PyType_Modified(LoggerCore)
