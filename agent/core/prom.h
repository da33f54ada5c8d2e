/*
 * prom.h - the Prometheus text format (version 0.0.4) for the agent's
 * /metrics (core/metrics.h): a growing text buffer, metric family
 * headers, samples with labels, histograms with `le` buckets in seconds,
 * and the modules' "name value" stats lines as idunno_* metrics.  Pure:
 * no I/O, no clock.
 */
#ifndef IDUNNO_PROM_H
#define IDUNNO_PROM_H

#include "hist.h"

#include <stddef.h>
#include <stdint.h>

/* A growing text buffer (p malloc'd; free it). */
struct prom_buf {
	char *p;
	size_t len, cap;
};

void prom_printf(struct prom_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "# HELP name help" and "# TYPE name type" (counter, gauge, histogram). */
void prom_family(struct prom_buf *b, const char *name, const char *type, const char *help);

/*
 * A label pair's value escaped (\ " and newline) into out (cap bytes,
 * truncated to fit, always terminated).
 */
void prom_escape(const char *v, char *out, size_t cap);

/*
 * One histogram's series (the family's header written already):
 * name_bucket{labels,le="B"} for every bound B of hist.h's HIST_LE_N (in
 * seconds, 16 an octave from 8.2 us to 68.7 s; exact counts: they are
 * bucket bounds), le="+Inf", name_sum in seconds and name_count.
 * labels: 'k="v",...' (not empty).
 */
void prom_hist(struct prom_buf *b, const char *name, const char *labels, const struct hist *h);

/*
 * The agent's "name value" stats lines (loop.h's stats) as metrics:
 * idunno_NAME_total counters, except the gauges named in prom.c's table
 * (open connections, states, epochs, ...), and a non-numeric value V as
 * a gauge idunno_NAME{state="V"} 1.  Each with HELP and TYPE.  Lines that
 * are not "name value" with a name of [a-z0-9_] are skipped; a name seen
 * twice is written once.  Returns how many metrics were written.
 */
int prom_stats(struct prom_buf *b, const char *stats);

/*
 * idunno_build_info{program="P",version="V",commit="C"} 1, with its HELP
 * and TYPE (the values escaped; an empty commit is written "unknown").
 */
void prom_build_info(struct prom_buf *b, const char *program, const char *version,
		     const char *commit);

#endif
