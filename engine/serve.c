/*
 * serve.c - the engine's serving loop over the shared-memory ring.
 *
 * Every entry is checked before use: a model slot that is empty, a batch
 * size out of range, or offsets outside the data area complete with an
 * error status; nothing from the ring can crash the engine.
 */
#include "serve.h"
#include "model.h"
#include "net.h"
#include "probes.h"
#include "ring.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SERVE_MAX_BATCH 1024

struct served {
	struct net *nets[RING_MAX_MODELS];
	float *logits; /* SERVE_MAX_BATCH x 1000 */
};

static int load_models(struct ring_engine *re, enum kern_backend_id backend, struct served *s)
{
	char err[768];
	int loaded = 0;

	for (uint32_t i = 0; i < RING_MAX_MODELS; i++) {
		const char *name = ring_model_name(re, i), *w = ring_model_weights(re, i);
		enum model_id id;
		if (!name)
			continue;
		if (!w || model_parse(name, &id)) {
			fprintf(stderr, "engine serve: model slot %u: unknown model '%s'\n", i,
				name);
			continue;
		}
		if (net_open(id, w, backend, &s->nets[i], err, sizeof(err))) {
			fprintf(stderr, "engine serve: model slot %u: %s\n", i, err);
			continue;
		}
		loaded++;
	}
	return loaded;
}

static int32_t run_one(struct ring_engine *re, struct served *s, const struct ring_sqe *e)
{
	size_t size = ring_engine_data_size(re);
	uint8_t *data = ring_engine_data(re);
	size_t in_len = (size_t)e->batch * MODEL_IN_ELEMS * sizeof(float);
	size_t out_len = (size_t)e->batch * sizeof(struct ring_result);
	struct ring_result *res;
	char err[512];
	int ret;

	if (e->batch < 1 || e->batch > SERVE_MAX_BATCH)
		return -EINVAL;
	if (e->in_off > size || in_len > size - e->in_off || e->out_off > size ||
	    out_len > size - e->out_off || (e->in_off & 3) || (e->out_off & 3))
		return -ERANGE;
	if (e->model >= RING_MAX_MODELS || !s->nets[e->model])
		return -ENOENT;
	ret = net_run(s->nets[e->model], (int)e->batch, (const float *)(data + e->in_off),
		      s->logits, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "engine serve: query %llu: %s\n", (unsigned long long)e->query,
			err);
		return ret < 0 && ret > -4096 ? ret : -EIO;
	}
	res = (struct ring_result *)(data + e->out_off);
	for (uint32_t b = 0; b < e->batch; b++) {
		struct net_top5 t;
		net_top5(s->logits + (size_t)b * MODEL_CLASSES, &t);
		memcpy(res[b].idx, t.idx, sizeof(res[b].idx));
		memcpy(res[b].prob, t.prob, sizeof(res[b].prob));
	}
	return 0;
}

int serve_main(const char *ring_name, enum kern_backend_id backend)
{
	struct ring_engine *re = NULL;
	struct served s;
	struct ring_sqe e;
	int ret;

	memset(&s, 0, sizeof(s));
	ret = ring_attach(ring_name, &re);
	if (ret) {
		fprintf(stderr, "engine serve: cannot attach to ring '%s': %s\n", ring_name,
			ret == -EPROTO ? "not an IDunno ring of this version" : strerror(-ret));
		return 1;
	}
	load_models(re, backend, &s);
	s.logits = xmalloc((size_t)SERVE_MAX_BATCH * MODEL_CLASSES * sizeof(float));
	fprintf(stderr, "engine serve: attached to '%s' as generation %u\n", ring_name,
		ring_gen(re));
	for (;;) {
		struct ring_cqe c;
		ret = ring_next(re, &e, 1000);
		if (ret == -ETIMEDOUT)
			continue;
		if (ret)
			break; /* stop asked, or the owner is gone */
		c = (struct ring_cqe){.seq = e.seq,
				      .query = e.query,
				      .job = e.job,
				      .batch = e.batch,
				      .gen = ring_gen(re),
				      .out_off = e.out_off,
				      .enqueue_ns = e.enqueue_ns};
		idunno_query_start(e.job, e.query, e.batch, e.enqueue_ns,
				   e.model < RING_MAX_MODELS && s.nets[e.model]
					   ? (uint32_t)net_model(s.nets[e.model])
					   : (uint32_t)MODEL_MAX);
		c.start_ns = util_now_ns();
		c.status = e.flags & RING_F_NOWORK ? 0 : run_one(re, &s, &e);
		c.end_ns = util_now_ns();
		idunno_query_end(e.job, e.query, c.status);
		ring_complete(re, &c);
	}
	for (int i = 0; i < RING_MAX_MODELS; i++)
		net_free(s.nets[i]);
	free(s.logits);
	ring_detach(re);
	return 0;
}
