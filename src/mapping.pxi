# Mapping: the buffer file mapped shared and writable, keeping no descriptor.
#
# Python's mmap.mmap keeps a duplicate of the file descriptor until it is
# closed, and cannot be closed while any view of it lives.  After a fork, a
# view held by a thread that did not survive lives forever in the child, and
# so would the duplicate descriptor, holding the parent's lock on its buffer
# file (recovery would take a dead parent for alive).  This keeps none.
#
# The shared mapping itself also holds the file open (the lock belongs to the
# open file description, which every mapping of it references), so a forked
# child must not keep it either: abandon() puts anonymous memory in its place.

from posix.mman cimport (MAP_ANONYMOUS, MAP_FAILED, MAP_FIXED, MAP_PRIVATE, MAP_SHARED, PROT_READ,
                         PROT_WRITE, mmap, munmap)


cdef class Mapping:
    """size bytes of the file open as fd, mapped shared; the fd may be closed afterwards."""
    cdef unsigned char *base
    cdef Py_ssize_t size
    cdef int exports         # views handed out and not released
    cdef bint abandoned      # base is anonymous memory standing in for the file (see abandon())

    def __cinit__(self, int fd, Py_ssize_t size):
        cdef void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        if base == MAP_FAILED:
            PyErr_SetFromErrno(OSError)
        self.base = <unsigned char *> base
        self.size = size

    def __dealloc__(self):
        if self.base != NULL and self.exports == 0:
            munmap(self.base, self.size)

    def __len__(self):
        return self.size

    def __getbuffer__(self, Py_buffer *view, int flags):
        if self.base == NULL or self.abandoned:
            raise ValueError("the mapping is closed")
        PyBuffer_FillInfo(view, self, self.base, self.size, 0, flags)
        self.exports += 1

    def __releasebuffer__(self, Py_buffer *view):
        self.exports -= 1

    def close(self):
        """Unmap (once no view is left)."""
        if self.base == NULL or self.abandoned:
            return
        if self.exports:
            raise BufferError(f"{self.exports} views of the mapping are still in use")
        munmap(self.base, self.size)
        self.base = NULL

    def abandon(self):
        """In a forked child: let go of the file, leaving memory at the mapping's addresses.

        A view held by a thread that did not survive the fork may outlive this
        object and still be read, so the pages are not unmapped: private
        anonymous zeroes of the same size replace them, in one step.  The file,
        and with it the parent's lock, is let go; the parent's data is not
        touched.  Unmapped for good once no view is left.
        """
        if self.base == NULL or self.abandoned:
            return
        cdef void *replaced = mmap(self.base, self.size, PROT_READ | PROT_WRITE,
                                   MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        if replaced == MAP_FAILED:
            # Out of memory for the stand-in: letting go of the file matters
            # more than views no running thread holds.
            munmap(self.base, self.size)
            self.base = NULL
            return
        self.abandoned = True

    def find(self, bytes sub, Py_ssize_t start, Py_ssize_t end):
        """Index of the first byte sub (one byte) in [start, end), or -1; like bytes.find."""
        return self._search(sub, start, end, False)

    def rfind(self, bytes sub, Py_ssize_t start, Py_ssize_t end):
        """Index of the last byte sub (one byte) in [start, end), or -1; like bytes.rfind."""
        return self._search(sub, start, end, True)

    cdef Py_ssize_t _search(self, bytes sub, Py_ssize_t start, Py_ssize_t end, bint last) except -2:
        if len(sub) != 1 or self.base == NULL or self.abandoned:
            raise ValueError("searches one byte in an open mapping")
        start = max(0, start)
        end = min(end, self.size)
        if start >= end:
            return -1
        cdef const void *hit
        if last:
            hit = memrchr(self.base + start, sub[0], end - start)
        else:
            hit = memchr(self.base + start, sub[0], end - start)
        return -1 if hit == NULL else <const unsigned char *> hit - self.base
