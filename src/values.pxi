# Field values of the types classify_plain() does not take: a str, or JSON text
# made with the serializer's own writers (put_value) for every string and number.
# Python code runs here (str(), isoformat()): before anything of the line is written.

from libc.stdlib cimport realloc

import sys
from collections.abc import Mapping as MappingABC  # _core.Mapping is the buffer file's
from datetime import date, datetime, time as time_of_day
from decimal import Decimal
from enum import Enum
from uuid import UUID

cdef enum:
    MAX_NESTING = 64         # containers in containers: deeper is refused, and a cycle ends here

cdef struct JsonText:        # a growing malloc'd buffer
    unsigned char *data
    Py_ssize_t length, capacity


cdef object json_form(object value):
    """value, which classify_plain() does not take, as a str (a JSON string), bytes (exactly: JSON
    text), a value classify_plain() takes, or itself: a list, tuple, Mapping, Enum or numpy array,
    which put_nested() writes."""
    if isinstance(value, int):
        return str(PyNumber_Index(value)).encode()  # a big int's digits
    if isinstance(value, (dict, list, tuple, Enum)):
        return value
    # Unbound methods: a subclass cannot make them write anything else.
    for kind in (datetime, date, time_of_day):  # datetime first: a datetime is a date
        if isinstance(value, kind):
            return kind.isoformat(value)
    if isinstance(value, UUID):
        return UUID.__str__(value)
    if isinstance(value, Decimal):
        return Decimal.__str__(value).encode() if Decimal.is_finite(value) else b"null"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")  # read by people: U+FFFD, not escapes
    numpy = sys.modules.get("numpy")  # a numpy value exists only once numpy is imported
    if numpy is not None:
        if isinstance(value, numpy.ndarray):
            return value
        if isinstance(value, numpy.bool_):
            return bool(value)
        if isinstance(value, numpy.integer):
            return str(int(value)).encode()
        if isinstance(value, numpy.floating):
            return float(value)  # a float32 as the double it is, as in a float32 array column
    if isinstance(value, MappingABC):
        return value
    return str(value)


cdef bytes json_text(object value, object name):
    """value's JSON text with JSON_PAD bytes after it (for a VALUE_JSON)."""
    cdef JsonText out = JsonText(NULL, 0, 0)
    try:
        put_json(&out, value, name, [])
        memset(room(&out, JSON_PAD), 0, JSON_PAD)
        return PyBytes_FromStringAndSize(<char *> out.data, out.length + JSON_PAD)
    finally:
        free(out.data)


cdef unsigned char *room(JsonText *out, Py_ssize_t n) except NULL:
    """Where n more bytes go at the end of out (grown to hold them)."""
    cdef void *grown
    if out.length + n >= out.capacity:
        grown = realloc(out.data, 2 * (out.length + n) + 64)
        if grown == NULL:
            raise MemoryError()
        out.data = <unsigned char *> grown
        out.capacity = 2 * (out.length + n) + 64
    return out.data + out.length


cdef int put_byte(JsonText *out, unsigned char c) except -1:
    room(out, 1)[0] = c
    out.length += 1


cdef int put_leaf(JsonText *out, const Value *v) except -1:
    out.length = put_value(room(out, value_bound(v)), v) - out.data


cdef int put_json(JsonText *out, object value, object name, list path) except -1:
    """value as JSON at the end of out; path: the containers it is in, outermost first."""
    cdef Value v
    if classify_plain(&v, value):
        return put_leaf(out, &v)
    form = json_form(value)
    if type(form) is bytes:
        memcpy(room(out, len(form)), PyBytes_AS_STRING(form), len(form))
        out.length += len(form)
        return 0
    if classify_plain(&v, form):
        return put_leaf(out, &v)
    return put_nested(out, form, name, path)


cdef int put_nested(JsonText *out, object value, object name, list path) except -1:
    """A list or tuple (an array), Mapping (an object), Enum or numpy array at the end of out."""
    if len(path) == MAX_NESTING:  # deep, or a cycle, which would go on for ever
        if any([outer is value for outer in path]):
            raise ValueError(f"field {name!r}: a cycle: the value contains itself, which JSON cannot hold")
        raise ValueError(f"field {name!r}: nested more than {MAX_NESTING} containers deep")
    path.append(value)
    cdef Value v
    cdef Py_ssize_t i = 0
    cdef bint is_object = isinstance(value, (dict, MappingABC))
    if isinstance(value, Enum):
        put_json(out, value.value, name, path)
    elif is_object or isinstance(value, (list, tuple)):
        put_byte(out, b'{' if is_object else b'[')
        for item in value.items() if is_object else value:
            if i:
                put_byte(out, b',')
            if is_object:
                key, item = item
                key = key if isinstance(key, str) else str(key)  # 1 as "1", None as "None"
                str_value(&v, key)
                put_leaf(out, &v)
                put_byte(out, b':')
            put_json(out, item, name, path)
            i += 1
        put_byte(out, b'}' if is_object else b']')
    else:  # a numpy array
        put_json(out, value.tolist(), name, path)
    path.pop()
    return 0
