/*
 * metrics.h - the agent's Prometheus endpoint (`agent run --metrics
 * HOST:PORT`): a small HTTP/1.x GET server in the agent's loop.  GET (or
 * HEAD) /metrics answers 200 with the text format (prom.h): every
 * module's stats (loop.h) as idunno_* counters and gauges, the members by
 * status, then what render adds; any other path 404, another method 405, anything that is not an
 * HTTP/1.x request head 400.  Bounded: METRICS_CONNS connections at once
 * (the listening socket is not accepted from while they are taken), each
 * closed after its answer or at METRICS_DEADLINE_MS from its accept,
 * whichever comes first; request heads up to HTTP_HEAD_MAX bytes.
 */
#ifndef IDUNNO_METRICS_H
#define IDUNNO_METRICS_H

#include "core/prom.h"
#include "wire/wire_addr.h"

#include <stddef.h>

#define METRICS_CONNS	    8
#define METRICS_DEADLINE_MS 3000

struct loop;
struct swim;
struct metrics;

struct metrics_env {
	struct loop *loop;
	struct swim *swim;     /* the members by status */
	struct wire_addr bind; /* listens on this address only */
	/* Appends more metrics to b (called on the loop, once per scrape; may be NULL). */
	void (*render)(void *arg, struct prom_buf *b);
	void *arg;
};

/* Listens and registers with the loop.  0, or -errno with err filled. */
int metrics_new(const struct metrics_env *env, struct metrics **out, char *err, size_t errlen);
/* After the loop has stopped (nothing in flight): closes and frees. */
void metrics_free(struct metrics *m);

#endif
