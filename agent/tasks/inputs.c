/*
 * inputs.c - a batch's model, index and shards made ready (see inputs.h).
 *
 * A request counts what it still waits for (the model, the index, each
 * shard); the count starts at one for inputs_prepare() itself, so
 * callbacks that come at once (a cache hit) cannot finish it early.
 */
#include "tasks/inputs.h"
#include "core/log.h"
#include "core/loop.h"
#include "err.h"
#include "sdfs/sdfs_client.h"
#include "tasks/cache.h"
#include "tasks/dataset.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INDEXES_MAX   16
#define INDEX_WAITERS 64

struct model_slot {
	int used, refs;
	char name[TASK_NAME_MAX + 1];
	uint64_t version, last_use;
};

struct file_ent {
	int used, refs;
	char name[128];
	uint64_t version, last_use;
};

enum index_state { IX_EMPTY, IX_FETCHING, IX_READY };

struct index_ent {
	struct inputs *in;
	enum index_state state;
	char dataset[TASK_NAME_MAX + 1];
	uint64_t version, last_use;
	struct dataset_index ix;
	struct inputs_req *w[INDEX_WAITERS];
	int nw;
};

/* One shard a request waits for. */
struct shard_wait {
	struct inputs_req *r;
	uint32_t shard;
};

struct inputs {
	struct sdfs_client *sdfs;
	struct cache *cache;
	struct ring *ring;
	struct model_slot slots[RING_MAX_MODELS];
	struct file_ent files[RING_MAX_FILES];
	struct index_ent idx[INDEXES_MAX];
};

static void model_path(const char *model, char *buf, size_t len)
{
	snprintf(buf, len, "models/%s.safetensors", model);
}

__attribute__((format(printf, 3, 4))) static void fail(struct inputs_req *r, int status,
						       const char *fmt, ...)
{
	va_list ap;

	if (r->status)
		return; /* the first reason stands */
	r->status = status;
	va_start(ap, fmt);
	vsnprintf(r->why, sizeof(r->why), fmt, ap);
	va_end(ap);
}

/* ---- the end of a request ---- */

static int take_slot(struct inputs *in, const struct task_dispatch *d, const char *path)
{
	struct model_slot *best = NULL;

	for (int i = 0; i < RING_MAX_MODELS; i++) {
		struct model_slot *s = &in->slots[i];
		if (s->used && s->version == d->model_version && !strcmp(s->name, d->model)) {
			best = s;
			break;
		}
		if (!s->refs && (!best || !s->used || (best->used && s->last_use < best->last_use)))
			best = s;
	}
	if (!best || (best->refs && strcmp(best->name, d->model)))
		return -EBUSY;
	if (!best->used || best->version != d->model_version || strcmp(best->name, d->model)) {
		if (ring_set_model(in->ring, (uint32_t)(best - in->slots), "auto", path))
			return -EINVAL;
		best->used = 1;
		snprintf(best->name, sizeof(best->name), "%s", d->model);
		best->version = d->model_version;
	}
	best->refs++;
	best->last_use = loop_now_ms();
	return (int)(best - in->slots);
}

static void finish_if_ready(struct inputs_req *r)
{
	if (--r->waiting > 0)
		return;
	if (!r->status) {
		int slot = take_slot(r->in, r->d, r->model_path);
		if (slot < 0) {
			fail(r, slot, "no free model slot for %s v%llu", r->d->model,
			     (unsigned long long)r->d->model_version);
		} else {
			r->slot = (uint32_t)slot;
			r->slot_held = 1;
		}
	}
	if (!r->status)
		for (int i = 0; i < r->d->n; i++)
			r->img[i].file = r->shard_file[i];
	r->fn(r->arg, r->status, r->why);
}

/* ---- the model ---- */

static void on_model(void *arg, int status, const char *path)
{
	struct inputs_req *r = arg;

	if (status) {
		fail(r, IDN_ENOMODEL, "model %s v%llu is not in SDFS", r->d->model,
		     (unsigned long long)r->d->model_version);
	} else {
		r->model_held = 1;
		snprintf(r->model_path, sizeof(r->model_path), "%s", path);
	}
	finish_if_ready(r);
}

/* ---- shards ---- */

static int file_entry(struct inputs *in, const char *name, uint64_t version, const char *path)
{
	struct file_ent *best = NULL;

	for (int i = 0; i < RING_MAX_FILES; i++) {
		struct file_ent *f = &in->files[i];
		if (f->used && f->version == version && !strcmp(f->name, name)) {
			best = f;
			break;
		}
		if (!f->refs && (!best || !f->used || (best->used && f->last_use < best->last_use)))
			best = f;
	}
	if (!best || (best->refs && (best->version != version || strcmp(best->name, name))))
		return -EBUSY;
	if (!best->used || best->version != version || strcmp(best->name, name)) {
		if (ring_set_file(in->ring, (uint32_t)(best - in->files), path))
			return -EINVAL;
		best->used = 1;
		snprintf(best->name, sizeof(best->name), "%s", name);
		best->version = version;
	}
	best->refs++;
	best->last_use = loop_now_ms();
	return (int)(best - in->files);
}

static void on_shard(void *arg, int status, const char *path)
{
	struct shard_wait *sw = arg;
	struct inputs_req *r = sw->r;
	struct inputs *in = r->in;
	const struct index_ent *e = &in->idx[r->index_slot];
	char name[128];
	int f = -1;

	uint64_t version = e->ix.shards[sw->shard].version;

	dataset_shard_path(r->d->dataset, sw->shard, name, sizeof(name));
	if (status) {
		fail(r, status == -EBADMSG ? -EBADMSG : IDN_ENODATASET,
		     "shard %s v%llu cannot be fetched", name, (unsigned long long)version);
	} else {
		/* the cache's hold lasts as long as the file entry's (released
		 * together in inputs_release) */
		f = file_entry(in, name, version, path);
		if (f < 0) {
			cache_release(in->cache, name, version);
			fail(r, -EBUSY, "no free file slot for %s", name);
		}
	}
	for (int i = 0; i < r->d->n; i++)
		if (r->d->q[i].shard == sw->shard)
			r->shard_file[i] = (uint32_t)f;
	if (f >= 0)
		r->held[r->nheld++] = (uint32_t)f;
	free(sw);
	finish_if_ready(r);
}

/* The index is here: check the queries, then fetch their shards. */
static void index_ready(struct inputs_req *r)
{
	struct inputs *in = r->in;
	const struct dataset_index *ix = &in->idx[r->index_slot].ix;
	for (int i = 0; i < r->d->n && !r->status; i++) {
		const struct task_query *q = &r->d->q[i];
		if (q->image >= ix->nimages || ix->images[q->image].shard != q->shard) {
			fail(r, -EINVAL, "dataset %s has no image %u in shard %u", r->d->dataset,
			     q->image, q->shard);
			break;
		}
		r->img[i].off = ix->images[q->image].offset;
		r->img[i].len = ix->images[q->image].length;
	}
	for (int i = 0; i < r->d->n && !r->status; i++) {
		uint32_t s = r->d->q[i].shard;
		struct shard_wait *sw;
		char name[128];
		int dup = 0;
		for (int j = 0; j < i && !dup; j++)
			dup = r->d->q[j].shard == s;
		if (dup)
			continue;
		sw = xcalloc(1, sizeof(*sw));
		*sw = (struct shard_wait){r, s};
		dataset_shard_path(r->d->dataset, s, name, sizeof(name));
		r->waiting++;
		if (cache_get(in->cache, name, ix->shards[s].version, 1, ix->shards[s].crc,
			      on_shard, sw)) {
			free(sw);
			r->waiting--;
			fail(r, -EBUSY, "cannot cache shard %s", name);
		}
	}
	finish_if_ready(r); /* the index's own wait */
}

/* ---- the index ---- */

static void on_index(void *arg, int status, uint64_t version, uint64_t size, uint32_t crc,
		     uint8_t *data)
{
	struct index_ent *e = arg;
	char err[200] = "";
	int nw = e->nw;

	(void)version, (void)crc;
	if (!status)
		status = dataset_index_decode(data, size, &e->ix, err, sizeof(err));
	free(data);
	e->state = status ? IX_EMPTY : IX_READY;
	e->last_use = loop_now_ms();
	e->nw = 0;
	if (status)
		log_msg(LOG_WARN, "dataset %s index v%llu: %s", e->dataset,
			(unsigned long long)e->version, err[0] ? err : strerror(-status));
	for (int i = 0; i < nw; i++) {
		struct inputs_req *r = e->w[i];
		if (status) {
			fail(r, IDN_ENODATASET, "dataset %s (index v%llu) is not in SDFS",
			     e->dataset, (unsigned long long)e->version);
			finish_if_ready(r);
		} else {
			index_ready(r);
		}
	}
}

static int want_index(struct inputs *in, struct inputs_req *r)
{
	struct index_ent *e = NULL, *victim = NULL;
	char name[128];
	int ret;

	for (int i = 0; i < INDEXES_MAX; i++) {
		struct index_ent *x = &in->idx[i];
		if (x->state != IX_EMPTY && x->version == r->d->index_version &&
		    !strcmp(x->dataset, r->d->dataset))
			e = x;
		else if (x->state != IX_FETCHING &&
			 (!victim || x->state == IX_EMPTY || x->last_use < victim->last_use))
			victim = x;
	}
	if (!e) {
		if (!victim)
			return -EBUSY;
		e = victim;
		dataset_index_free(&e->ix);
		memset(&e->ix, 0, sizeof(e->ix));
		e->state = IX_FETCHING;
		e->nw = 0;
		snprintf(e->dataset, sizeof(e->dataset), "%s", r->d->dataset);
		e->version = r->d->index_version;
		dataset_index_path(e->dataset, name, sizeof(name));
		ret = sdfs_client_get(in->sdfs, name, e->version, -1, DATASET_INDEX_FETCH_MAX,
				      on_index, e);
		if (ret) {
			e->state = IX_EMPTY;
			return ret;
		}
	}
	r->index_slot = (int)(e - in->idx);
	if (e->state == IX_READY) {
		e->last_use = loop_now_ms();
		index_ready(r);
		return 0;
	}
	if (e->nw == INDEX_WAITERS)
		return -EBUSY;
	e->w[e->nw++] = r;
	return 0;
}

/* ---- the API ---- */

int inputs_prepare(struct inputs *in, struct inputs_req *r, inputs_fn fn, void *arg)
{
	char name[128];
	int ret;

	if (!in->ring)
		return -ENODEV;
	r->in = in;
	r->fn = fn;
	r->arg = arg;
	r->status = 0;
	r->why[0] = '\0';
	r->nheld = 0;
	r->model_held = r->slot_held = 0;
	r->waiting = 3; /* this call, the model, the index */
	model_path(r->d->model, name, sizeof(name));
	if (cache_get(in->cache, name, r->d->model_version, 0, 0, on_model, r)) {
		fail(r, -EBUSY, "cannot cache model %s", name);
		r->waiting--;
	}
	ret = want_index(in, r);
	if (ret) {
		fail(r, ret, "cannot fetch the index of %s", r->d->dataset);
		r->waiting--;
	}
	finish_if_ready(r);
	return 0;
}

void inputs_release(struct inputs *in, struct inputs_req *r)
{
	char name[128];

	if (r->model_held) {
		model_path(r->d->model, name, sizeof(name));
		cache_release(in->cache, name, r->d->model_version);
		r->model_held = 0;
	}
	if (r->slot_held && in->slots[r->slot].refs > 0)
		in->slots[r->slot].refs--;
	r->slot_held = 0;
	for (int i = 0; i < r->nheld; i++) {
		struct file_ent *f = &in->files[r->held[i]];
		if (f->refs > 0 && --f->refs == 0)
			f->last_use = loop_now_ms();
		cache_release(in->cache, f->name, f->version);
	}
	r->nheld = 0;
}

void inputs_model_bad(struct inputs *in, struct inputs_req *r)
{
	char name[128];

	model_path(r->d->model, name, sizeof(name));
	cache_discard(in->cache, name, r->d->model_version);
	in->slots[r->slot].used = 0; /* loaded again from a fresh copy next time */
}

int inputs_new(struct loop *l, struct sdfs_client *sdfs, struct cache *cache, struct ring *ring,
	       struct inputs **out)
{
	struct inputs *in = xcalloc(1, sizeof(*in));

	(void)l;
	in->sdfs = sdfs;
	in->cache = cache;
	in->ring = ring;
	for (int i = 0; i < INDEXES_MAX; i++)
		in->idx[i].in = in;
	*out = in;
	return 0;
}

void inputs_free(struct inputs *in)
{
	if (!in)
		return;
	for (int i = 0; i < INDEXES_MAX; i++)
		dataset_index_free(&in->idx[i].ix);
	free(in);
}
