/*
 * net.c - model + backend + a small cache of plans by batch size.
 */
#include "net.h"
#include "err.h"
#include "util.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdlib.h>
#include <string.h>

#define NET_MAX_PLANS 8

struct net {
	struct model *model;
	enum kern_backend_id backend;
	struct kern_cache *cache; /* weights prepared once for all plans */
	struct kern_plan *plans[NET_MAX_PLANS];
	uint64_t used[NET_MAX_PLANS]; /* for evicting the least recently used */
	uint64_t tick;
	uint64_t built; /* plans created (net_plans_built) */
};

/* One scratch for the plans of every network: the engine runs one batch at
 * a time, so the process holds the largest plan's scratch, not the sum. */
static struct kern_scratch *shared_scratch;
static int scratch_users;

int net_open(enum model_id model, const char *weights, enum kern_backend_id backend,
	     struct net **out, char *err, size_t errlen)
{
	struct net *n = xcalloc(1, sizeof(*n));
	int ret = model_load(model, weights, &n->model, err, errlen);

	if (ret) {
		free(n);
		return ret;
	}
	n->backend = backend;
	n->cache = kern_cache_new();
	if (!shared_scratch)
		shared_scratch = kern_scratch_new();
	scratch_users++;
	kern_cache_set_scratch(n->cache, shared_scratch);
	*out = n;
	return 0;
}

void net_free(struct net *n)
{
	if (!n)
		return;
	for (int i = 0; i < NET_MAX_PLANS; i++)
		kern_plan_free(n->plans[i]);
	kern_cache_free(n->cache);
	model_free(n->model);
	free(n);
	if (--scratch_users == 0) {
		kern_scratch_free(shared_scratch);
		shared_scratch = NULL;
	}
}

static int get_plan(struct net *n, int batch, struct kern_plan **out, char *err, size_t errlen)
{
	int victim = 0, ret;

	for (int i = 0; i < NET_MAX_PLANS; i++) {
		if (n->plans[i] && kern_plan_batch(n->plans[i]) == batch) {
			n->used[i] = ++n->tick;
			*out = n->plans[i];
			return 0;
		}
		if (n->used[i] < n->used[victim])
			victim = i;
	}
	kern_plan_free(n->plans[victim]);
	n->plans[victim] = NULL;
	n->used[victim] = 0;
	n->built++;
	if (n->backend == KERN_BACKEND_ONEDNN) {
		ret = model_acquire_weights(n->model, err, errlen);
		if (ret)
			return ret;
	}
	ret = kern_plan_create_cached(n->backend, model_graph(n->model), batch, n->cache,
				      &n->plans[victim], err, errlen);
	/* oneDNN holds its own (prepared) copy of the weights: the model's
	 * folded copies and the file's pages can go until another plan is
	 * made, and so can the heap's free memory that planning left (30 MB
	 * with both networks' plans for batch 1 and 16). */
	if (n->backend == KERN_BACKEND_ONEDNN) {
		model_release_weights(n->model);
		model_release_file_pages(n->model);
#ifdef __GLIBC__
		malloc_trim(0);
#endif
	}
	if (ret)
		return ret;
	n->used[victim] = ++n->tick;
	*out = n->plans[victim];
	return 0;
}

int net_prepare(struct net *n, int batch, char *err, size_t errlen)
{
	struct kern_plan *p;

	return get_plan(n, batch, &p, err, errlen);
}

int net_run(struct net *n, int batch, const float *in, float *logits, char *err, size_t errlen)
{
	struct kern_plan *p;
	int ret = get_plan(n, batch, &p, err, errlen);

	if (ret)
		return ret;
	ret = kern_plan_run(p, in, logits);
	if (ret)
		util_seterr(err, errlen, "%s forward pass: %s", model_name(model_id_of(n->model)),
			    idn_strerror(ret));
	return ret;
}

uint64_t net_plans_built(const struct net *n)
{
	return n->built;
}

enum model_id net_model(const struct net *n)
{
	return model_id_of(n->model);
}

const struct kern_graph *net_graph(const struct net *n)
{
	return model_graph(n->model);
}

size_t net_shared_scratch_bytes(void)
{
	return kern_scratch_bytes(shared_scratch);
}

size_t net_prepared_bytes(const struct net *n)
{
	return kern_cache_bytes(n->cache);
}

size_t net_workspace(const struct net *n)
{
	size_t total = kern_cache_bytes(n->cache);
	for (int i = 0; i < NET_MAX_PLANS; i++)
		if (n->plans[i])
			total += kern_plan_workspace(n->plans[i]);
	return total;
}

void net_top5(const float *logits, struct net_top5 *out)
{
	float p[MODEL_CLASSES];

	memcpy(p, logits, sizeof(p));
	kern_softmax(p, MODEL_CLASSES);
	kern_topk(p, MODEL_CLASSES, 5, out->idx);
	for (int i = 0; i < 5; i++)
		out->prob[i] = p[out->idx[i]];
}
