/*
 * serve.h - the engine's serving loop: attach to the agent's ring, load
 * the models it names, run batches until told to stop or until the
 * ring's owner goes away.
 */
#ifndef IDUNNO_SERVE_H
#define IDUNNO_SERVE_H

#include "kern.h"

/*
 * Runs until stopped. After each completion and each model status change
 * it writes 1 to eventfd notify_fd (-1: none).  Returns the process exit
 * code (0 on a clean stop).
 */
int serve_main(const char *ring_name, enum kern_backend_id backend, int notify_fd);

#endif
