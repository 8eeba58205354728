# Bound loggers: the fields given to bind() are encoded once, there, and their
# bytes copied into every line the bound logger writes (after the message,
# before the call's own fields).  log() and the level methods are calls.pxi's,
# installed on BoundLogger too.

cdef class BoundLogger:
    """A logger that adds the fields given to bind() to every event it logs.

    It has the logging methods of the logger it was bound from (log, debug, info,
    warning, error, critical, exception, log_many) and bind(), which nests.  The
    fields are encoded when bound: a value changed later is written as it was then.
    A field given in a call replaces a bound field of the same name.
    """

    def __cinit__(self, LoggerCore logger not None, dict fields not None):
        for name in fields:
            if name in PARAMETER_NAMES:  # the line's own keys, and the calls' parameters
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
    cdef Py_ssize_t n = 0
    cdef Value *keys = <Value *> malloc((2 * len(fields) + 1) * sizeof(Value))
    cdef Value *values = keys + len(fields)
    cdef Value absent
    cdef list kept = []
    cdef bytes text
    cdef unsigned char *start
    cdef unsigned char *end
    if keys == NULL:
        raise MemoryError()
    absent.kind = VALUE_ABSENT
    try:
        for name, value in fields.items():
            str_value(&keys[n], name)
            if not classify_plain(&values[n], value):
                kept.append(classify(&values[n], value, name))
            n += 1
        # The serializer writes a line's fields as ',"key":value'; a line of no id
        # and no message is those fields and the line's '}\n', which is left out.
        text = PyBytes_FromStringAndSize(NULL, line_bound(&absent, &absent, NULL, keys, values, n) + JSON_PAD)
        start = <unsigned char *> PyBytes_AS_STRING(text)
        end = put_body(start, &absent, &absent, NULL, keys, values, n) - 2
        memset(end, 0, JSON_PAD)
        return text[:end - start + JSON_PAD]
    finally:
        free(keys)
