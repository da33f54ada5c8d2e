/*
 * serve_models.c - the engine's model slots: the ring's model table may
 * change at any time; a slot whose generation moved is (re)loaded between
 * entries, with the plans of the --warm batch sizes built and run once,
 * and its status published back through the ring.
 */
#include "serve_int.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Builds net's plan for batch and runs it once on zeros, so that the first
 * entry of that size neither builds it nor first touches its memory (the
 * first run of a plan is slower: page faults, the GEMM's packing).
 * A failure is not the load's: an entry of that size reports it.
 */
static void warm_plan(struct served *s, uint32_t slot, struct net *net, int batch)
{
	float *zeros = calloc((size_t)batch, IMAGE_BYTES);
	char err[256];

	if (!zeros || net_prepare(net, batch, err, sizeof(err)) ||
	    net_run(net, batch, zeros, s->logits, err, sizeof(err)))
		fprintf(stderr, "engine serve: model slot %u: plan for batch %d: %s\n", slot, batch,
			zeros ? err : "out of memory");
	free(zeros);
}

/*
 * Brings slot i up to the owner's generation: frees what it held, loads
 * the new weights, and reports.  Returns the slot's status.
 */
int serve_slot_sync(struct served *s, uint32_t i)
{
	struct slot *sl = &s->slots[i];
	char name[RING_NAME_MAX], weights[RING_PATH_MAX], err[768];
	uint32_t gen;
	enum model_id id;
	uint64_t t_load, t_plans;
	int ret;

	if (ring_model_gen(s->re, i) == sl->gen)
		return sl->status;
	ret = ring_model_get(s->re, i, &gen, name, weights);
	if (ret == -EAGAIN)
		return -EAGAIN; /* the owner is writing the slot; look again later */
	net_free(sl->net);
	sl->net = NULL;
	sl->gen = gen;
	if (ret) {
		sl->status = ret; /* emptied */
		ring_model_report(s->re, i, gen, ret, NULL);
		fprintf(stderr, "engine serve: model slot %u (generation %u): empty\n", i, gen);
		return ret;
	}
	ring_model_report(s->re, i, gen, -EINPROGRESS, NULL);
	t_load = t_plans = util_now_ns();
	/* "auto": the architecture the weights file's metadata names */
	if (!strcmp(name, "auto") ? model_file_arch(weights, NULL, &id, NULL, err, sizeof(err)) != 0
				  : model_parse(name, &id) != 0) {
		if (strcmp(name, "auto"))
			util_seterr(err, sizeof(err), "unknown model '%s' (resnet18, alexnet)",
				    name);
		ret = -EINVAL;
	} else {
		ret = net_open(id, weights, s->o->backend, &sl->net, err, sizeof(err));
		ret = ret < 0 && ret > -4096 ? ret : ret ? -EINVAL : 0;
		t_plans = util_now_ns();
		for (int k = 0; !ret && k < s->o->nwarm; k++)
			warm_plan(s, i, sl->net, s->o->warm[k]);
	}
	sl->status = ret;
	ring_model_report(s->re, i, gen, ret, ret ? err : NULL);
	if (ret)
		fprintf(stderr, "engine serve: model slot %u (generation %u): %s\n", i, gen, err);
	else
		fprintf(stderr,
			"engine serve: model slot %u (generation %u): %s from %s (loaded in %.0f "
			"ms, %d plans in %.0f ms)\n",
			i, gen, name, weights, (double)(t_plans - t_load) / 1e6, s->o->nwarm,
			(double)(util_now_ns() - t_plans) / 1e6);
	return ret;
}

/* Every slot whose generation moved, now (the engine is otherwise idle). */
void serve_slots_sync_all(struct served *s)
{
	for (uint32_t i = 0; i < RING_MAX_MODELS; i++)
		if (ring_model_gen(s->re, i) != s->slots[i].gen) {
			ring_set_busy(s->re, util_now_ns());
			serve_slot_sync(s, i);
			ring_set_busy(s->re, 0);
		}
}
