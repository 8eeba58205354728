# log() and the level methods as METH_FASTCALL|METH_KEYWORDS methods.
#
# A `def f(..., **fields)` builds a dict on every call, fields or not; that
# alone costs about as much as the whole call floor.  These read positional and
# keyword arguments straight from the vectorcall array instead, and the fields
# stay there (see Fields in buffer.pxi).

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

cdef extern from "fevl.h":
    PyObject *fevl_type_dict(type cls)

cdef extern from "Python.h":
    unsigned int PyUnicode_CHECK_INTERNED(object o)
    int PyUnicode_Compare(object left, object right) except? -1

cdef enum:
    SLOT_LEVEL = 0
    SLOT_EVENT_ID = 1
    SLOT_MESSAGE = 2
    SLOT_TIMESTAMP = 3           # never a parameter; reserved for the line's own key
    NO_LEVEL = -1                # log(): the level is the first argument

cdef tuple PARAMETER_NAMES = ("level", "event_id", "message", "timestamp")


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
    cdef EventBuffer buffer = <EventBuffer> self
    cdef PyObject *params[3]
    params[0] = params[1] = params[2] = NULL
    cdef int first = SLOT_LEVEL if level == NO_LEVEL else SLOT_EVENT_ID
    if nargs > 3 - first:
        raise TypeError(f"takes at most {3 - first} positional arguments ({nargs} given)")
    cdef Py_ssize_t i
    for i in range(nargs):
        params[first + i] = args[i]
    cdef Fields fields
    fields.values = args + nargs
    fields.names = kwnames
    fields.count = 0 if kwnames == NULL else PyTuple_GET_SIZE(<object> kwnames)
    fields.has_parameters = False
    fields.planned = False
    cdef int slot
    for i in range(fields.count):
        slot = parameter_slot(<PyObject *> PyTuple_GET_ITEM(<object> kwnames, i))
        if slot < 0:
            continue
        fields.has_parameters = True
        if slot == SLOT_TIMESTAMP or slot < first:
            raise ValueError(f'"{PARAMETER_NAMES[slot]}" is written by the logger and cannot be a field')
        if params[slot] != NULL:
            raise TypeError(f"got multiple values for argument '{PARAMETER_NAMES[slot]}'")
        params[slot] = fields.values[i]
    if params[SLOT_EVENT_ID] == NULL or (level == NO_LEVEL and params[SLOT_LEVEL] == NULL):
        raise TypeError("missing required argument: " + ("level" if params[SLOT_LEVEL] == NULL
                                                         and level == NO_LEVEL else "event_id"))
    if level == NO_LEVEL:
        level = level_index(<object> params[SLOT_LEVEL])
    if fevl_atomic_load_int(&buffer._handback):
        buffer._step_aside()  # before the check below: the logger may be stopped meanwhile
    if buffer._closed:
        raise buffer._closed_error("this logger is stopped; log() needs a running logger")
    if level < buffer._min_level:
        exact_event_id(<object> params[SLOT_EVENT_ID])  # a bad id is an error even when filtered
        return None
    buffer._log(level, <object> params[SLOT_EVENT_ID],
                None if params[SLOT_MESSAGE] == NULL else <object> params[SLOT_MESSAGE], &fields)
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


cdef PyMethodDef LOG_METHODS[6]


cdef void _define(int i, const char *name, void *function, const char *doc) noexcept:
    LOG_METHODS[i].ml_name = name
    LOG_METHODS[i].ml_meth = function
    LOG_METHODS[i].ml_flags = METH_FASTCALL | METH_KEYWORDS
    LOG_METHODS[i].ml_doc = doc


_define(0, "log", <void *> _log_method,
        "log($self, level, event_id, message=None, **fields)\n--\n\n"
        "Log one event: level is a name (any case) or the stdlib's int, event_id a str or int.")
_define(1, "debug", <void *> _debug_method,
        "debug($self, event_id, message=None, **fields)\n--\n\nLog one DEBUG event.")
_define(2, "info", <void *> _info_method,
        "info($self, event_id, message=None, **fields)\n--\n\nLog one INFO event.")
_define(3, "warning", <void *> _warning_method,
        "warning($self, event_id, message=None, **fields)\n--\n\nLog one WARNING event.")
_define(4, "error", <void *> _error_method,
        "error($self, event_id, message=None, **fields)\n--\n\nLog one ERROR event.")
_define(5, "critical", <void *> _critical_method,
        "critical($self, event_id, message=None, **fields)\n--\n\nLog one CRITICAL event.")

for _i in range(6):
    # The type is not sealed yet at module init; this is how Cython adds its own methods.
    PyDict_SetItem(<object> fevl_type_dict(EventBuffer), LOG_METHODS[_i].ml_name.decode(),
                   PyDescr_NewMethod(EventBuffer, &LOG_METHODS[_i]))
PyType_Modified(EventBuffer)
