/*
 * util.h - small helpers every IDunno program links: invariant checks,
 * the one allocation-failure policy, clocks and error buffers.
 */
#ifndef IDUNNO_UTIL_H
#define IDUNNO_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Invariant check: on failure prints file:line and the expression, aborts. */
#define ASSERT(cond)                                                                               \
	do {                                                                                       \
		if (!(cond))                                                                       \
			util_assert_fail(__FILE__, __LINE__, #cond);                               \
	} while (0)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b)     ((a) < (b) ? (a) : (b))
#define MAX(a, b)     ((a) > (b) ? (a) : (b))
/* n rounded up to a multiple of a, a power of two. */
#define ALIGN_UP(n, a) (((n) + (a)-1) & ~(size_t)((a)-1))

_Noreturn void util_assert_fail(const char *file, int line, const char *expr);

/*
 * Allocation wrappers: the one place where running out of memory is
 * handled (the process aborts with a message; nothing can be done better
 * in a daemon that has lost its heap).  xaligned_alloc returns memory
 * aligned to 64 bytes, zeroed, to be released with free().
 */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
void *xaligned_alloc(size_t n);
char *xstrdup(const char *s);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t util_now_ns(void);
/* CLOCK_REALTIME in milliseconds (wall time, for messages between processes). */
uint64_t util_wall_ms(void);
/* qsort comparator for uint64_t, ascending. */
int util_cmp_u64(const void *a, const void *b);

/* Formats into an error buffer the caller owns (like redis anetSetError). */
void util_seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Reads a whole small file into a NUL-terminated buffer the caller frees.
 * Returns 0 or -errno; -EFBIG when the file is larger than max bytes.
 */
int util_read_file(const char *path, size_t max, char **out, size_t *len);

/* Writes buf to path through a temporary file and rename(). 0 or -errno. */
int util_write_file_atomic(const char *path, const void *buf, size_t len);

#endif
