/*
 * check.h - helpers for IDunno's C tests: exit 0 pass, 1 fail, 77 skip.
 */
#ifndef IDUNNO_CHECK_H
#define IDUNNO_CHECK_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define T_EXIT_PASS 0
#define T_EXIT_FAIL 1
#define T_EXIT_SKIP 77

static int t_failures;

__attribute__((format(printf, 4, 5))) static void t_fail(const char *file, int line,
							 const char *expr, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: check failed: %s: ", file, line, expr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	t_failures++;
}

/* Each evaluates cond exactly once. */
#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			t_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                            \
	} while (0)

#define REQUIRE(cond, ...)                                                                         \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			t_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                            \
			exit(T_EXIT_FAIL);                                                         \
		}                                                                                  \
	} while (0)

#define T_SKIP(...)                                                                                \
	do {                                                                                       \
		printf("SKIP: ");                                                                  \
		printf(__VA_ARGS__);                                                               \
		printf("\n");                                                                      \
		exit(T_EXIT_SKIP);                                                                 \
	} while (0)

static inline int t_result(void)
{
	if (t_failures)
		fprintf(stderr, "%d check(s) failed\n", t_failures);
	return t_failures ? T_EXIT_FAIL : T_EXIT_PASS;
}

/* Deterministic pseudo-random floats in [-1, 1). */
static inline float t_randf(unsigned long long *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return (float)((*s >> 40) & 0xffffff) / (float)(1 << 23) - 1.0f;
}

/* A xorshift64 step of *s (never 0): the random streams tests replay by seed. */
static inline unsigned long long t_xorshift(unsigned long long *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

#endif
