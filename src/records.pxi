# stdlib logging's records as events: the one call of log() that fastevlog.Handler makes for a
# LogRecord, its fields read straight from the record.  In Python the same work cost a record about
# half of what stdlib logging itself costs to make it (benchmarks/handler.py); the Handler
# (fastevlog/_handler.py) decides which records are written and to which logger.

import logging as _logging

from cpython.dict cimport PyDict_GetItem, PyDict_Next
from cpython.set cimport PySet_Contains

cdef object LOG_RECORD = _logging.LogRecord
# What LogRecord.__init__ sets, in its order: the usual record's __dict__ starts with these keys,
# which are then told from extras by a pointer compare each.
cdef tuple INIT_ATTRIBUTES = tuple(vars(LOG_RECORD("", 0, "", 0, "", (), None)))
# What a LogRecord has of its own; any other attribute came from extra= (or a record factory or a
# filter) and is a field.  "message" and "asctime" are Formatter.format's, "taskName" Python 3.12's.
cdef frozenset RECORD_ATTRIBUTES = frozenset(INIT_ATTRIBUTES + ("message", "asctime", "taskName"))


def log_record(logger, level, record, tuple record_fields, event_id_of):
    """Log the LogRecord record on logger (a LoggerCore or BoundLogger) at level (a number).

    Its fields: record_fields' ((field, attribute) pairs), then the record's
    extras in their order (an extra named like a line's own key gets a trailing
    underscore; one named like a record field replaces it); exc_info's and
    stack_info's.  Its id: the extra "event_id", else event_id_of(record) if
    given, else the logger name.  Its message: record.getMessage().
    """
    if not isinstance(logger, (LoggerCore, BoundLogger)):
        raise TypeError(f"logger must be an EventLogCounter or a BoundLogger, not {type(logger).__name__}")
    cdef int index = level_index(level)
    cdef dict attributes = record.__dict__
    cdef list names = []
    cdef list values = []
    cdef Py_ssize_t own = len(record_fields)
    for field, attribute in record_fields:
        names.append(field)
        values.append(attribute_of(record, attributes, attribute))
    # The extras, gathered without running Python code, which could change the dict under PyDict_Next.
    cdef list extras = []
    cdef Py_ssize_t position = 0, i = 0
    cdef PyObject *key = NULL
    cdef PyObject *value = NULL
    while PyDict_Next(attributes, &position, &key, &value):
        if i < len(INIT_ATTRIBUTES) and key == PyTuple_GET_ITEM(INIT_ATTRIBUTES, i):
            i += 1
            continue
        i = len(INIT_ATTRIBUTES)  # out of __init__'s order: every other key is looked up
        if type(<object> key) is str and PySet_Contains(RECORD_ATTRIBUTES, <object> key):
            continue
        extras.append(<object> key)
        extras.append(<object> value)
    cdef object event_id = None
    cdef object name
    for i in range(0, len(extras), 2):
        name = extras[i]
        if type(name) is not str:  # logging takes extra={1: ...}
            name = str(name)
        elif name == "event_id":
            event_id = extras[i + 1]
            continue
        if name == "timestamp" or name == "level":  # the line's own keys, which the core refuses
            name += "_"
        replace(names, values, own, name, extras[i + 1])
    exc_info = attribute_of(record, attributes, "exc_info")
    if exc_info and exc_info[1] is not None:
        rename(names, "exception")  # the field is exc_info's
        names.append("exc_info")
        values.append(exc_info)
    stack = attribute_of(record, attributes, "stack_info")
    if stack:
        rename(names, "stack")
        # Formatted where the call was made, in the form the core writes for stack_info=True.
        names.append("stack")
        values.append(stack)
    message = attribute_of(record, attributes, "msg")
    if type(record) is not LOG_RECORD or type(message) is not str or attribute_of(record, attributes, "args"):
        message = record.getMessage()
    if event_id is None:
        event_id = attribute_of(record, attributes, "name") if event_id_of is None else event_id_of(record)
    # log(event_id, message, **fields) as a vectorcall: the positional arguments, then the fields' values.
    cdef tuple arguments = (event_id, message, *values)
    cdef tuple keywords = tuple(names)
    return call_log(logger, index, False, PySequence_Fast_ITEMS(arguments), 2, <PyObject *> keywords)


cdef inline object attribute_of(object record, dict attributes, str name):
    """record.name, from its __dict__ where a LogRecord keeps all of its own (quicker than getattr)."""
    cdef PyObject *found = PyDict_GetItem(attributes, name)
    return <object> found if found != NULL else getattr(record, name)


cdef inline int replace(list names, list values, Py_ssize_t own, object name, object value) except -1:
    """Append the field (name, value), or give the record field of that name (among the first own) value."""
    cdef Py_ssize_t i
    for i in range(own):
        if names[i] == name:
            values[i] = value
            return 0
    names.append(name)
    values.append(value)
    return 0


cdef inline int rename(list names, str name) except -1:
    """Add an underscore to the field called name, if there is one."""
    cdef Py_ssize_t i
    for i in range(len(names)):
        if names[i] == name:
            names[i] = name + "_"
    return 0
