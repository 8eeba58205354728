# Bound loggers: the fields given to bind() are encoded once, there, and their
# bytes copied into every line the bound logger writes (after the message,
# before the call's own fields).  log() and the level methods are calls.pxi's,
# installed on BoundLogger too.

# Keys a bound field cannot have: the line's own, and the parameters of the calls.
BOUND_REFUSED = frozenset(("timestamp", "level", "event_id", "message", "exc_info", "stack_info"))


cdef class BoundLogger:
    """A logger that adds the fields given to bind() to every event it logs.

    It has the logging methods of the logger it was bound from (log, debug, info,
    warning, error, critical, exception, log_many) and bind(), which nests.  The
    fields are encoded when bound: a value changed later is written as it was then.
    A field given in a call replaces a bound field of the same name.
    """

    def __cinit__(self, LoggerCore logger not None, dict fields not None):
        for name in fields:
            if name in BOUND_REFUSED:
                raise ValueError(f'bind(): "{name}" is written by the logger and cannot be a bound field')
        self.logger = logger
        self.fields = fields
        self.keys = tuple([sys.intern(name) for name in fields])
        self.context = encode_context(fields)

    def bind(self, **fields):
        """A logger that adds these fields too (replacing bound fields of the same names)."""
        return BoundLogger(self.logger, {**self.fields, **fields})

    def log_many(self, levels, event_ids, messages=None, **field_columns):
        """log_many() of the logger bound from, with the bound fields in every event."""
        log_batch(self.logger, levels, event_ids, messages, field_columns, self)

    def __repr__(self):
        return f"<fastevlog.BoundLogger {', '.join(self.fields)} of {self.logger!r}>"

    cdef bytes context_without(self, object names):
        """The context, leaving out the bound fields that the call's own (names) replace."""
        for name in self.keys:
            if name in names:
                return encode_context({key: value for key, value in self.fields.items() if key not in names})
        return self.context


cdef bytes encode_context(dict fields):
    """',"key":value' for each field, then JSON_PAD bytes (a VALUE_JSON's text)."""
    cdef Py_ssize_t n = 0, bound = JSON_PAD, i
    cdef Value *values = <Value *> malloc((2 * len(fields) + 1) * sizeof(Value))
    cdef list kept = []
    cdef bytes text
    cdef unsigned char *start
    cdef unsigned char *p
    if values == NULL:
        raise MemoryError()
    try:
        for name, value in fields.items():  # keys first, then values, in pairs
            str_value(&values[2 * n], name)
            if not classify_plain(&values[2 * n + 1], value):
                kept.append(classify(&values[2 * n + 1], value))
            bound += value_bound(&values[2 * n]) + 2 + value_bound(&values[2 * n + 1])
            n += 1
        text = PyBytes_FromStringAndSize(NULL, bound)
        start = <unsigned char *> PyBytes_AS_STRING(text)
        p = start
        for i in range(n):
            p[0] = b','
            p = put_value(p + 1, &values[2 * i])
            p[0] = b':'
            p = put_value(p + 1, &values[2 * i + 1])
        FEVL_CHECK(p - start + JSON_PAD <= bound, "a bound context stays within its bound")
        memset(p, 0, JSON_PAD)
        return text[:p - start + JSON_PAD]
    finally:
        free(values)
