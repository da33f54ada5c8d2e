/*
 * net.h - a loaded network ready to run: a model, a backend, and one
 * compiled plan per batch size seen (built on first use, then reused).
 */
#ifndef IDUNNO_NET_H
#define IDUNNO_NET_H

#include "kern.h"
#include "model.h"

#include <stddef.h>
#include <stdint.h>

struct net;

struct net_top5 {
	int idx[5];
	float prob[5];
};

/*
 * Loads weights for model on backend. 0 or negative error with err filled.
 * The nets of a process share one scratch area (kern_scratch), so two of
 * them must not run at the same time (the engine runs one batch at a time).
 */
int net_open(enum model_id model, const char *weights, enum kern_backend_id backend,
	     struct net **out, char *err, size_t errlen);
void net_free(struct net *n);

/*
 * Runs batch images (batch x 3x224x224 floats at in, NCHW) and writes
 * batch x 1000 logits.  Returns 0 or a negative error with err filled.
 */
int net_run(struct net *n, int batch, const float *in, float *logits, char *err, size_t errlen);
/*
 * Builds the plan for a batch size now, if it is not there yet, so that
 * the next net_run of that size runs at once: the engine does it before
 * a query's service time starts (a plan's creation is a cold start, like
 * a model's load, not the query's work).  0 or a negative error.
 */
int net_prepare(struct net *n, int batch, char *err, size_t errlen);

enum model_id net_model(const struct net *n);
/*
 * Plans built so far (tried, failed ones too): a net_run that moved it was
 * a cold start, slower by the plan's creation (the probes say so).
 */
uint64_t net_plans_built(const struct net *n);
const struct kern_graph *net_graph(const struct net *n);
/* Bytes held by all plans and prepared weights, but for the scratch all
 * networks share (net_shared_scratch_bytes: the largest plan's scratchpads
 * and, on oneDNN, activations). */
size_t net_workspace(const struct net *n);
size_t net_shared_scratch_bytes(void);
/* Of which prepared weights, shared by the plans of every batch size. */
size_t net_prepared_bytes(const struct net *n);

/* Softmax over 1000 logits and the five most likely classes. */
void net_top5(const float *logits, struct net_top5 *out);

#endif
