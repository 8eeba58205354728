# cython: language_level=3, embedsignature=True
"""fastevlog._core: the compiled half of fastevlog.

The line encoder, the ring of segments it writes into (a memory-mapped
buffer file) and the calls that log; everything else is Python in fastevlog/.
Declarations are in fastevlog/_core.pxd (where Cython looks for the module fastevlog._core's).
"""

cimport cython
from cpython.buffer cimport (PyBUF_C_CONTIGUOUS, PyBUF_FORMAT, PyBUF_STRIDES, PyBUF_WRITABLE,
                             PyBuffer_FillInfo, PyBuffer_Release, PyObject_CheckBuffer,
                             PyObject_GetBuffer)
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_SetItem
from cpython.exc cimport PyErr_SetFromErrno
from cpython.long cimport PyLong_AsLongLongAndOverflow
from cpython.number cimport PyIndex_Check, PyNumber_Index
from cpython.ref cimport Py_INCREF, Py_XDECREF
from cpython.unicode cimport PyUnicode_Substring
from libc.stdint cimport int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memchr, memcmp, memcpy, memset
from posix.time cimport time_t
from posix.unistd cimport getpid, write

cdef extern from "<string.h>" nogil:
    void *memrchr(const void *s, int c, size_t n)

from fastevlog._errors import LoggerStoppedError

include "levels.pxi"
include "serializer.pxi"
include "values.pxi"
include "layout.pxi"
include "mapping.pxi"
include "event_ids.pxi"
include "ring.pxi"
include "calls.pxi"
include "bound.pxi"
include "batch.pxi"
include "records.pxi"
include "json_lines.pxi"
include "timestamps.pxi"
include "count_table.pxi"
include "scanner.pxi"

DEBUG_BUILD = bool(FEVL_DEBUG_BUILD)  # built with FASTEVLOG_DEBUG=1: invariants are checked
