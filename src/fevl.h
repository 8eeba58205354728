/* Small C helpers for the core.
 *
 * Ordering helpers for the buffer file header.
 * A process may be killed between any two instructions, and recovery reads the
 * mapping afterwards.  The committed length of a segment must therefore never
 * become visible before the line bytes below it: a release store keeps the
 * compiler (and weakly ordered CPUs) from moving the line's stores past it.
 */
#ifndef FASTEVLOG_FEVL_H
#define FASTEVLOG_FEVL_H
#include <Python.h>
#include <stdint.h>

static inline void fevl_store_release_u64(uint64_t *p, uint64_t v) {
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline void fevl_store_release_u32(uint32_t *p, uint32_t v) {
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* The dict of a type, where the vectorcall log methods are added (calls.pxi). */
static inline PyObject *fevl_type_dict(PyTypeObject *t) {
    return t->tp_dict;
}

#endif
