# LoggerCore: the compiled half of EventLogCounter.  log() and the level
# methods parse their arguments, classify the values and write one line into
# the ring; log_many() is in batch.pxi.  It counts what it accepts.
#
# log() and the level methods are METH_FASTCALL|METH_KEYWORDS methods: a
# `def f(..., **fields)` builds a dict on every call, fields or not, which
# alone costs about as much as the whole call floor.  These read positional and
# keyword arguments straight from the vectorcall array, and the fields stay there.

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
    SLOT_EXC_INFO = 4
    SLOT_STACK_INFO = 5
    PARAMETER_COUNT = 6
    NO_LEVEL = -1            # log(): the level is the first argument

cdef tuple PARAMETER_NAMES = ("level", "event_id", "message", "timestamp", "exc_info", "stack_info")

from fastevlog._exceptions import event_extras

cdef inline object exact_event_id(object event_id):
    """event_id as an exact str or int, so counting never runs Python code."""
    if type(event_id) is str or (type(event_id) is int):
        return event_id
    if isinstance(event_id, str):
        return PyUnicode_Substring(event_id, 0, PyUnicode_GET_LENGTH(event_id))
    if is_integer(event_id):
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
        self._min_number = LEVEL_NUMBER[min_level]
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
        by_level = {name: self._level_counts[_LEVEL_BY_NAME[name]] for name in levels()
                    if self._level_counts[_LEVEL_BY_NAME[name]]}
        return {"levels": by_level, "event_ids": self._event_ids.as_dict()}

    def _level_counts_by_name(self):
        """counts()["levels"] without copying the event ids, in no particular order: a Prometheus
        collection reads it for every logger, and copying up to 65,536 ids costs milliseconds."""
        cdef int i
        by_level = {}
        for i in range(level_count):
            if self._level_counts[i]:
                by_level[LEVEL_NAME_OF[i]] = self._level_counts[i]
        return by_level

    def _core_metrics(self):
        """The counters the core owns, for EventLogCounter.metrics()."""
        result = self._ring.metrics()
        result["events_logged"] = self._logged
        return result

    def log_many(self, levels, event_ids, messages=None, **field_columns):
        """Log a batch of events given as columns; see fastevlog.EventLogCounter.log_many."""
        log_batch(self, levels, event_ids, messages, field_columns)

    def bind(self, **fields):
        """A logger with the same methods that adds these fields to every event it logs."""
        return BoundLogger(self, fields)


cdef int log_one(LoggerCore logger, int level, object event_id, object message, PyObject **values,
                 PyObject *names, Py_ssize_t count, bint has_parameters, BoundLogger bound,
                 dict extras) except -1:
    """Write one event, its fields the keywords in names (values by position) that name no
    parameter, after those of bound (or None) and followed by extras (exc_info's and
    stack_info's, or None); level is already checked against the minimum."""
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
    cdef Value context_value
    cdef const Value *context = NULL
    cdef Py_ssize_t fields = 0, i, room = count + 2  # extras add at most two
    cdef PyObject *name
    cdef bint replaced = False                    # a call's field replaces a bound one
    cdef bytes context_text                       # what context refers to
    if room > FIELDS_ON_STACK:
        keys = <Value *> malloc(2 * room * sizeof(Value))
        if keys == NULL:
            raise MemoryError()
        field_values = keys + room
    try:
        for i in range(count):
            name = PyTuple_GET_ITEM(<object> names, i)
            if has_parameters and parameter_slot(name) >= 0:
                continue
            if bound is not None and not replaced:
                replaced = is_one_of(name, bound.keys)
            str_value(&keys[fields], <object> name)
            if not classify_plain(&field_values[fields], <object> values[i]):
                ran_python = True
                if kept is None:
                    kept = []
                kept.append(classify(&field_values[fields], <object> values[i], <object> name))
            fields += 1
        if extras is not None:
            ran_python = True
            kept = [] if kept is None else kept
            fields = add_extras(keys, field_values, fields, extras, names, bound, kept)
        if bound is not None:
            context_text = bound.context_without(<object> names) if replaced else bound.context
            json_value(&context_value, context_text)
            context = &context_value
        if ran_python and logger._ring.closed:      # that code may have stopped the logger
            raise logger._ring.closed_error("this logger was stopped while log() converted its values")
        if not write_line(logger, level, &id_value, &message_value, context, keys, field_values, fields):
            return 0
    finally:
        if keys != key_stack:
            free(keys)
    return count_event(logger, level, slot)


cdef Py_ssize_t add_extras(Value *keys, Value *values, Py_ssize_t fields, dict extras, PyObject *names,
                           BoundLogger bound, list kept) except -1:
    """The fields exc_info and stack_info write, after the call's fields; returns the count.

    Out of log_one, which the compiler inlines into the calls: kept small, it has
    room to inline the encoder too."""
    for key, value in extras.items():
        if key in (<object> names if names != NULL else ()) or (bound is not None and key in bound.keys):
            raise ValueError(f'the field "{key}" cannot be given with exc_info or stack_info, which write it')
        str_value(&keys[fields], key)
        kept.append(classify(&values[fields], value, key))
        fields += 1
    return fields


cdef dict extras_for(bint exception, PyObject *exc_info, PyObject *stack_info):
    """event_extras() for the call's exc_info and stack_info (NULL when not given)."""
    return event_extras(exception if exc_info == NULL else <object> exc_info,
                        None if stack_info == NULL else <object> stack_info)


cdef bint write_line(LoggerCore logger, int level, const Value *event_id, const Value *message,
                     const Value *context, const Value *keys, const Value *values,
                     Py_ssize_t count) except -1:
    """Encode one line into the ring; False when it was dropped (ring full, on_full="drop")."""
    cdef Ring ring = logger._ring
    cdef Py_ssize_t bound = line_bound(event_id, message, context, keys, values, count)
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
        return write_aside(logger, level, event_id, message, context, keys, values, count, bound)
    end = put_body(put_prefix(p, &logger._clock, level), event_id, message, context, keys, values, count)
    FEVL_CHECK(end - p <= bound, "a line stays within its bound")
    ring.commit(end)
    return True


cdef bint write_aside(LoggerCore logger, int level, const Value *event_id, const Value *message,
                      const Value *context, const Value *keys, const Value *values, Py_ssize_t count,
                      Py_ssize_t bound) except -1:
    """A large line: encoded off to the side, then placed at its exact size."""
    cdef unsigned char *line = <unsigned char *> malloc(bound)
    cdef unsigned char *end
    if line == NULL:
        raise MemoryError()
    try:
        end = put_body(put_prefix(line, &logger._clock, level), event_id, message, context, keys, values,
                       count)
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
    for slot in range(PARAMETER_COUNT):
        if name == PyTuple_GET_ITEM(PARAMETER_NAMES, slot):
            return slot
    # Keyword names at a call site are interned, and so are ours: for an
    # interned name the pointer compares above were conclusive.
    if PyUnicode_CHECK_INTERNED(<object> name):
        return -1
    for slot in range(PARAMETER_COUNT):
        if PyUnicode_Compare(<object> name, <object> PyTuple_GET_ITEM(PARAMETER_NAMES, slot)) == 0:
            return slot
    return -1


cdef bint is_one_of(PyObject *name, tuple names) noexcept:
    """Whether name (a str) is one of names (interned strs), as parameter_slot compares."""
    cdef Py_ssize_t i
    for i in range(PyTuple_GET_SIZE(names)):
        if name == PyTuple_GET_ITEM(names, i):
            return True
    if PyUnicode_CHECK_INTERNED(<object> name):
        return False
    for i in range(PyTuple_GET_SIZE(names)):
        if PyUnicode_Compare(<object> name, <object> PyTuple_GET_ITEM(names, i)) == 0:
            return True
    return False


cdef object log_call(LoggerCore logger, BoundLogger bound, int level, bint exception, PyObject **args,
                     Py_ssize_t nargs, PyObject *kwnames):
    """Parse log(level, event_id, message=None, **fields) or LEVEL(event_id, message=None, **fields)
    for logger, or for bound (None, or a BoundLogger of logger); exception: exc_info defaults to True."""
    cdef Ring ring = logger._ring
    cdef PyObject *params[PARAMETER_COUNT]
    # Six stores, not memset(): that cost a call filtered by level a quarter of its time (0.87x the
    # floor against 1.12x, side by side).
    params[0] = params[1] = params[2] = params[3] = params[4] = params[5] = NULL
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
    if LEVEL_NUMBER[level] < logger._min_number:
        exact_event_id(<object> params[SLOT_EVENT_ID])  # a bad id is an error even when filtered
        return None
    # One call of log_one: the compiler inlines it here only while it has a single caller.
    log_one(logger, level, <object> params[SLOT_EVENT_ID],
            None if params[SLOT_MESSAGE] == NULL else <object> params[SLOT_MESSAGE],
            args + nargs, kwnames, count, has_parameters, bound,
            extras_for(exception, params[SLOT_EXC_INFO], params[SLOT_STACK_INFO])
            if exception or params[SLOT_EXC_INFO] != NULL or params[SLOT_STACK_INFO] != NULL else None)
    return None


cdef inline object call_log(object self, int level, bint exception, PyObject **args, Py_ssize_t nargs,
                            PyObject *kwnames):
    """log_call for a method's self: a LoggerCore (or EventLogCounter), or a BoundLogger."""
    if type(self) is BoundLogger:
        return log_call((<BoundLogger> self).logger, <BoundLogger> self, level, exception, args, nargs,
                        kwnames)
    return log_call(<LoggerCore> self, None, level, exception, args, nargs, kwnames)


cdef object _log_method(object self, PyObject **args, Py_ssize_t nargs, PyObject *kwnames):
    return call_log(self, NO_LEVEL, False, args, nargs, kwnames)

cdef object _debug_method(object self, PyObject **args, Py_ssize_t nargs, PyObject *kwnames):
    return call_log(self, 0, False, args, nargs, kwnames)

cdef object _info_method(object self, PyObject **args, Py_ssize_t nargs, PyObject *kwnames):
    return call_log(self, 1, False, args, nargs, kwnames)

cdef object _warning_method(object self, PyObject **args, Py_ssize_t nargs, PyObject *kwnames):
    return call_log(self, 2, False, args, nargs, kwnames)

cdef object _error_method(object self, PyObject **args, Py_ssize_t nargs, PyObject *kwnames):
    return call_log(self, 3, False, args, nargs, kwnames)

cdef object _critical_method(object self, PyObject **args, Py_ssize_t nargs, PyObject *kwnames):
    return call_log(self, 4, False, args, nargs, kwnames)

cdef object _exception_method(object self, PyObject **args, Py_ssize_t nargs, PyObject *kwnames):
    return call_log(self, 3, True, args, nargs, kwnames)


# The methods' names and docstrings (kept referenced: the method table points into them).
cdef tuple LOG_METHOD_TEXTS = ((b"log", b"log($self, level, event_id, message=None, **fields)\n--\n\n"
                                b"Log one event: level is a name (any case) or a number (the stdlib's, "
                                b"or add_level()'s), event_id a str or int."),) + tuple(
    (name.lower().encode(), f"{name.lower()}($self, event_id, message=None, **fields)\n--\n\n"
                            f"Log one {name} event.".encode()) for name in LEVEL_NAMES) + (
    (b"exception", b"exception($self, event_id, message=None, **fields)\n--\n\n"
                   b"Log one ERROR event with the exception being handled (exc_info=True)."),)
cdef PyMethodDef LOG_METHODS[7]
cdef void *LOG_FUNCTIONS[7]
LOG_FUNCTIONS[:] = [<void *> _log_method, <void *> _debug_method, <void *> _info_method,
                    <void *> _warning_method, <void *> _error_method, <void *> _critical_method,
                    <void *> _exception_method]
for _i in range(7):
    LOG_METHODS[_i].ml_name = PyBytes_AS_STRING(LOG_METHOD_TEXTS[_i][0])
    LOG_METHODS[_i].ml_meth = LOG_FUNCTIONS[_i]
    LOG_METHODS[_i].ml_flags = METH_FASTCALL | METH_KEYWORDS
    LOG_METHODS[_i].ml_doc = PyBytes_AS_STRING(LOG_METHOD_TEXTS[_i][1])
    # The types are not sealed yet at module init; this is how Cython adds its own methods.
    for _cls in (LoggerCore, BoundLogger):
        PyDict_SetItem(<object> fevl_type_dict(_cls), LOG_METHODS[_i].ml_name.decode(),
                       PyDescr_NewMethod(_cls, &LOG_METHODS[_i]))
PyType_Modified(LoggerCore)
PyType_Modified(BoundLogger)
