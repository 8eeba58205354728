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
#include <string.h>

static inline void fevl_store_release_u64(uint64_t *p, uint64_t v) {
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline void fevl_store_release_u32(uint32_t *p, uint32_t v) {
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* Whether any of 8 ASCII bytes needs escaping in a JSON string: below 0x20,
 * '"' or '\\'.  Exact for the word as a whole (the classic has-less/has-zero
 * bit tricks), which is all the caller needs: it then handles those 8 bytes one
 * by one.  The bytes are known to be < 0x80. */
static inline int fevl_ascii8_needs_escape(const unsigned char *s) {
    uint64_t w, quote, backslash;
    memcpy(&w, s, 8);
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t control = (w - ones * 0x20) & ~w;
    quote = w ^ (ones * '"');
    quote = (quote - ones) & ~quote;
    backslash = w ^ (ones * '\\');
    backslash = (backslash - ones) & ~backslash;
    return ((control | quote | backslash) & highs) != 0;
}

/* memrchr where the C library has it (glibc), a plain loop elsewhere. */
static inline void *fevl_memrchr(const void *s, int c, size_t n) {
#ifdef __GLIBC__
    return memrchr(s, c, n);
#else
    const unsigned char *p = (const unsigned char *)s + n;
    while (n--) {
        if (*--p == (unsigned char)c) return (void *)p;
    }
    return NULL;
#endif
}

/* The dict of a type, where the vectorcall log methods are added (calls.pxi). */
static inline PyObject *fevl_type_dict(PyTypeObject *t) {
    return t->tp_dict;
}

#endif
