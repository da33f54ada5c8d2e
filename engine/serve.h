/*
 * serve.h - the engine's serving loop: attach to the agent's ring, load
 * the models it names, run batches until told to stop or until the
 * ring's owner goes away.
 */
#ifndef IDUNNO_SERVE_H
#define IDUNNO_SERVE_H

#include "kern.h"

#define SERVE_WARM_MAX 8

struct serve_opts {
	enum kern_backend_id backend;
	int notify_fd; /* eventfd written after each completion and status change; -1: none */
	/* Batch sizes whose plans are built when a model is loaded, before
	 * its slot reports loaded: a job's first batch at one of them then
	 * starts at once (a plan's first build at a size costs 2 to 250 ms,
	 * most of it Winograd weight transforms that depend on the batch). */
	int warm[SERVE_WARM_MAX];
	int nwarm;
	int fast_jpeg; /* JPEG inputs on the fast path (image.h); 0: the exact one */
};

/* Runs until stopped.  Returns the process exit code (0 on a clean stop). */
int serve_main(const char *ring_name, const struct serve_opts *o);

#endif
