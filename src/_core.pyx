# cython: language_level=3, embedsignature=True
"""fastevlog._core: the compiled half of fastevlog.

The event buffer (a memory-mapped ring of segments) and the JSON-lines
serializer that log() runs; everything else is Python in fastevlog/.
"""

from cpython.buffer cimport (PyBUF_C_CONTIGUOUS, PyBUF_FORMAT, PyBUF_STRIDES, PyBUF_WRITABLE,
                             PyBuffer_FillInfo, PyBuffer_Release, PyObject_CheckBuffer,
                             PyObject_GetBuffer)
from cpython.exc cimport PyErr_SetFromErrno
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.float cimport PyFloat_AS_DOUBLE
from cpython.long cimport PyLong_AsLongLong, PyLong_AsLongLongAndOverflow
from cpython.number cimport PyNumber_Index
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_XDECREF
from cpython.dict cimport PyDict_SetItem
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE
from cpython.unicode cimport PyUnicode_Substring
from libc.math cimport isfinite
from libc.stdint cimport int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcmp, memcpy, memset, strlen

cdef extern from "<string.h>" nogil:
    size_t strnlen(const char *s, size_t maxlen)
from posix.time cimport time_t
from posix.unistd cimport getpid, write

include "layout.pxi"
include "mapping.pxi"
include "serializer.pxi"
include "event_ids.pxi"
include "buffer.pxi"
include "calls.pxi"
include "batch.pxi"
