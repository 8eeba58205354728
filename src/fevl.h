/* Small C helpers for the core: what Cython cannot say (atomics, SIMD, the TSC).
 *
 * Release stores order the buffer file's header: a process may be killed between
 * any two stores and recovery reads the mapping afterwards, so a segment's
 * committed length must never be stored before the line bytes below it, by the
 * compiler or a weakly ordered CPU.
 */
#ifndef FASTEVLOG_FEVL_H
#define FASTEVLOG_FEVL_H
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

static inline void fevl_store_release_u64(uint64_t *p, uint64_t v) {
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline void fevl_store_release_u32(uint32_t *p, uint32_t v) {
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* A counter that threads change with the GIL released (Ring.handback). */
static inline void fevl_atomic_add_int(int *p, int v) {
    __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}

static inline int fevl_atomic_load_int(const int *p) {
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* Whether any of 8 ASCII bytes needs escaping in a JSON string: below 0x20,
 * '"' or '\\'.  Exact for the word as a whole (the classic has-less/has-zero
 * bit tricks), which is all the caller needs: it then handles those 8 bytes one
 * by one.  The bytes are known to be < 0x80. */
static inline int fevl_word_needs_escape(uint64_t w) {
    uint64_t quote, backslash;
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t control = (w - ones * 0x20) & ~w;
    quote = w ^ (ones * '"');
    quote = (quote - ones) & ~quote;
    backslash = w ^ (ones * '\\');
    backslash = (backslash - ones) & ~backslash;
    return ((control | quote | backslash) & highs) != 0;
}

static inline int fevl_ascii8_needs_escape(const unsigned char *s) {
    uint64_t w;
    memcpy(&w, s, 8);
    return fevl_word_needs_escape(w);
}

/* Copy n < 8 ASCII bytes to out when none needs escaping; returns whether it
 * did.  Two overlapping loads cover every byte (spaces pad the word's unused
 * bytes), and nothing is read or written past either end. */
static inline int fevl_ascii_short_copy_clean(unsigned char *out, const unsigned char *s, size_t n) {
    if (n >= 4) {
        uint32_t lo, hi;
        memcpy(&lo, s, 4);
        memcpy(&hi, s + n - 4, 4);
        if (fevl_word_needs_escape(lo | (uint64_t)hi << 32)) return 0;
        memcpy(out, &lo, 4);
        memcpy(out + n - 4, &hi, 4);
    } else if (n >= 2) {
        uint16_t lo, hi;
        memcpy(&lo, s, 2);
        memcpy(&hi, s + n - 2, 2);
        if (fevl_word_needs_escape(lo | (uint64_t)hi << 16 | 0x2020202000000000ULL)) return 0;
        memcpy(out, &lo, 2);
        memcpy(out + n - 2, &hi, 2);
    } else if (n == 1) {
        if (fevl_word_needs_escape(s[0] | 0x2020202020202000ULL)) return 0;
        out[0] = s[0];
    }
    return 1;
}

/* The same for 16 bytes, and copy them to out when none needs escaping: one
 * SSE2 compare per rule on x86-64 (SSE2 is part of its baseline), two
 * 8-byte checks elsewhere.  Returns whether the bytes were copied. */
#if defined(__SSE2__)
#include <emmintrin.h>
static inline int fevl_ascii16_copy_clean(unsigned char *out, const unsigned char *s) {
    __m128i v = _mm_loadu_si128((const __m128i *)s);
    /* The bytes are < 0x80, so a signed compare finds those below 0x20. */
    __m128i bad = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                               _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                            _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
    if (_mm_movemask_epi8(bad)) return 0;
    _mm_storeu_si128((__m128i *)out, v);
    return 1;
}
#else
static inline int fevl_ascii16_copy_clean(unsigned char *out, const unsigned char *s) {
    if (fevl_ascii8_needs_escape(s) || fevl_ascii8_needs_escape(s + 8)) return 0;
    memcpy(out, s, 16);
    return 1;
}
#endif

/* Clean ASCII of up to 32 bytes (the usual id, key, short value or message)
 * copied to p with two overlapping checks: the end, or NULL, with p's bytes
 * undefined, when it is longer or needs escaping.  Always inlined: a call
 * per string was a tenth of log()'s instructions. */
#if defined(__GNUC__) || defined(__clang__)
#define FEVL_ALWAYS_INLINE static inline __attribute__((always_inline))
#else
#define FEVL_ALWAYS_INLINE static inline
#endif

FEVL_ALWAYS_INLINE unsigned char *
fevl_put_short_ascii(unsigned char *p, const unsigned char *s, Py_ssize_t n) {
    if (n < 8)
        return fevl_ascii_short_copy_clean(p, s, (size_t)n) ? p + n : NULL;
    if (n < 16) {
        if (fevl_ascii8_needs_escape(s) || fevl_ascii8_needs_escape(s + n - 8))
            return NULL;
        memcpy(p, s, 8);
        memcpy(p + n - 8, s + n - 8, 8);
        return p + n;
    }
    if (n <= 32 && fevl_ascii16_copy_clean(p, s) && fevl_ascii16_copy_clean(p + n - 16, s + n - 16))
        return p + n;
    return NULL;
}

/* The dict of a type, where the vectorcall log methods are added (calls.pxi). */
static inline PyObject *fevl_type_dict(PyTypeObject *t) {
    return t->tp_dict;
}

/* PyNumber_Index as Python 3.10 made it (bpo-40792): an exact int, a subclass's
 * value copied.  Python 3.9's returns an int subclass as itself, so an IntEnum id
 * was counted by its own __hash__ and __eq__ (log_many() refused it) and a big
 * int subclass was written as its __str__.  int's own nb_index copies the value
 * without running the subclass's code.  Every PyNumber_Index the core calls is
 * this one: the generated C includes this header before them. */
#if PY_VERSION_HEX < 0x030A0000
static inline PyObject *fevl_number_index(PyObject *o) {
    PyObject *index = PyNumber_Index(o);
    if (index != NULL && !PyLong_CheckExact(index))
        Py_SETREF(index, PyLong_Type.tp_as_number->nb_index(index));
    return index;
}
#define PyNumber_Index fevl_number_index
#endif

/* The wall clock of line timestamps, read through the TSC.
 *
 * clock_gettime(CLOCK_REALTIME) costs ~21 ns on the machines we measure on, a
 * third of a whole log() call: the vDSO fences its TSC read.  An unfenced
 * rdtsc overlaps with the work around it.  The clock is anchored to
 * CLOCK_REALTIME (read for real) and re-anchored at least once a millisecond,
 * so a clock step shows within 1 ms; between anchors, time is the anchor plus
 * ticks times a rate measured against CLOCK_MONOTONIC_RAW since the first
 * anchor (so NTP steps cannot skew the rate).  Over 1 ms the rate's error is
 * far below the microsecond the timestamps show.  Until the rate has been
 * measured over 1 ms, and wherever the TSC is not the kernel's own clock
 * source (it may then be unsynchronised between CPUs), clock_gettime is read.
 * A TSC that goes backwards wraps the unsigned tick count and re-anchors.
 * Not thread-safe: one fevl_clock per writer, under the GIL. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <x86intrin.h>
#define FEVL_HAVE_TSC 1
#else
#define FEVL_HAVE_TSC 0
#endif

#define FEVL_ANCHOR_NS 1000000  /* re-read CLOCK_REALTIME at least this often */
#define FEVL_PAIRING_NS 20000   /* longest the clock reads of an anchor may take */

typedef struct {
    uint64_t tsc;        /* at the last anchor */
    int64_t ns;          /* CLOCK_REALTIME at the last anchor */
    uint64_t span;       /* ticks after the anchor that may be interpolated; 0: none */
    uint64_t mult;       /* ns per tick, 32.32 fixed point */
    uint64_t first_tsc;  /* at the first anchor; 0: none yet */
    int64_t first_raw;   /* CLOCK_MONOTONIC_RAW at the first anchor */
} fevl_clock;

/* Set once at import, where the kernel's clock source is "tsc"; tests switch it. */
static int fevl_use_tsc = 0;

static inline int64_t fevl_timespec_ns(const struct timespec *t) {
    return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static int64_t fevl_clock_anchor(fevl_clock *c) {
    struct timespec real;
    c->span = 0;
#if FEVL_HAVE_TSC
    if (fevl_use_tsc) {
        /* The TSC and the wall clock are read between two reads of the raw
         * clock; a thread preempted meanwhile gets no pairing from them. */
        struct timespec before, after;
        clock_gettime(CLOCK_MONOTONIC_RAW, &before);
        uint64_t t = __rdtsc();
        clock_gettime(CLOCK_REALTIME, &real);
        clock_gettime(CLOCK_MONOTONIC_RAW, &after);
        int64_t raw = fevl_timespec_ns(&before), spread = fevl_timespec_ns(&after) - raw;
        if (spread > FEVL_PAIRING_NS) return fevl_timespec_ns(&real);
        c->tsc = t;
        c->ns = fevl_timespec_ns(&real);
        if (c->first_tsc == 0 || t <= c->first_tsc || raw <= c->first_raw) {
            c->first_tsc = t;
            c->first_raw = raw;
        } else if (raw - c->first_raw >= FEVL_ANCHOR_NS) {
            double ns_per_tick = (double)(raw - c->first_raw) / (double)(t - c->first_tsc);
            c->mult = (uint64_t)(ns_per_tick * 4294967296.0);
            c->span = (uint64_t)(FEVL_ANCHOR_NS / ns_per_tick);
        }
        return c->ns;
    }
#endif
    clock_gettime(CLOCK_REALTIME, &real);
    return fevl_timespec_ns(&real);
}

/* Nanoseconds since the epoch, now. */
static inline int64_t fevl_clock_now(fevl_clock *c) {
#if FEVL_HAVE_TSC
    uint64_t ticks = __rdtsc() - c->tsc;
    /* ticks < span (1 ms of ticks) and mult < 2^32 ns-per-tick: the product fits. */
    if (ticks < c->span) return c->ns + (int64_t)((ticks * c->mult) >> 32);
#endif
    return fevl_clock_anchor(c);
}

/* Whether 8 to 16 bytes at a and b are equal: two overlapping word compares. */
static inline int fevl_same_words(const void *a, const void *b, Py_ssize_t n) {
    uint64_t a0, a1, b0, b1;
    memcpy(&a0, a, 8);
    memcpy(&b0, b, 8);
    memcpy(&a1, (const char *)a + n - 8, 8);
    memcpy(&b1, (const char *)b + n - 8, 8);
    return ((a0 ^ b0) | (a1 ^ b1)) == 0;
}

/* The hash a str caches in itself, -1 while not computed yet (event_ids.pxi). */
static inline Py_hash_t fevl_cached_str_hash(PyObject *s) {
    return ((PyASCIIObject *)s)->hash;
}

/* FEVL_CHECK(condition, what): an invariant the core relies on, checked only in a
 * FASTEVLOG_DEBUG build (setup.py); there a failure prints what was expected and
 * aborts on the spot, before a bad line or ring state reaches a file.  Elsewhere it
 * costs nothing: the condition is not evaluated, as with assert() under NDEBUG. */
#ifdef FASTEVLOG_DEBUG
#include <stdio.h>
#include <stdlib.h>
static inline _Noreturn void fevl_invariant_failed(const char *what) {
    fprintf(stderr, "fastevlog: invariant failed: %s\n", what);
    abort();
}
#define FEVL_CHECK(condition, what) ((condition) ? (void) 0 : fevl_invariant_failed(what))
#define FEVL_DEBUG_BUILD 1
#else
#define FEVL_CHECK(condition, what) ((void) 0)
#define FEVL_DEBUG_BUILD 0
#endif

#endif
