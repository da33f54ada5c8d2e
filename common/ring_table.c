/*
 * ring_table.c - the ring's model and file tables (see ring.h): the owner
 * names models and files, the engine reads them and reports each model
 * slot's load status back, every field under a sequence lock.
 */
#include "ring_int.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int ring_set_model(struct ring *r, uint32_t slot, const char *model, const char *weights)
{
	struct ring_model *m;

	if (slot >= RING_MAX_MODELS ||
	    (model && (!*model || strlen(model) >= RING_NAME_MAX || !weights || !*weights ||
		       strlen(weights) >= RING_PATH_MAX)))
		return -EINVAL;
	m = &r->v.h->models[slot];
	ring_seq_write_begin(&m->seq);
	memset(m->name, 0, sizeof(m->name));
	memset(m->weights, 0, sizeof(m->weights));
	if (model) {
		strcpy(m->name, model);
		strcpy(m->weights, weights);
	}
	atomic_store_explicit(&m->gen, atomic_load_explicit(&m->gen, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	ring_seq_write_end(&m->seq);
	/* Wake a sleeping engine so that it loads the slot now, not at the next entry. */
	atomic_fetch_add_explicit(&r->v.h->models_epoch, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&r->v.h->engine_sleeping.v, memory_order_seq_cst))
		ring_futex(&r->v.h->sq_tail.v, FUTEX_WAKE, 1, NULL);
	return 0;
}

/* The engine's view of a slot, consistently; err copied when buf is set. */
static int model_view(const struct ring *r, uint32_t slot, uint32_t *gen, char *buf, size_t len)
{
	struct ring_model *m;
	uint64_t v = (uint64_t)(uint32_t)STATUS_UNKNOWN;
	uint32_t vgen;
	int32_t st;

	if (buf && len)
		buf[0] = '\0';
	if (gen)
		*gen = 0;
	if (slot >= RING_MAX_MODELS)
		return -EINVAL;
	m = &r->v.h->models[slot];
	for (int tries = 0; tries < SEQ_TRIES; tries++) {
		uint32_t s = ring_seq_read_begin(&m->vseq);
		uint64_t got = atomic_load_explicit(&m->view, memory_order_relaxed);
		if (buf && len)
			memcpy(buf, m->err, MIN(len, sizeof(m->err)));
		if (!ring_seq_read_retry(&m->vseq, s)) {
			v = got;
			break;
		}
		if (buf && len)
			buf[0] = '\0';
		ring_cpu_relax();
	}
	if (buf && len)
		buf[len - 1] = '\0';
	vgen = (uint32_t)(v >> 32);
	st = (int32_t)(uint32_t)v;
	if (gen)
		*gen = vgen;
	if (!m->name[0]) /* the owner's own table: no lock needed to read it */
		st = -ENOENT;
	else if (vgen != atomic_load_explicit(&m->gen, memory_order_relaxed))
		st = -EINPROGRESS;
	if (buf && len && (st == 0 || st == -EINPROGRESS || st == -ENOENT))
		buf[0] = '\0';
	return st;
}

int ring_model_status(const struct ring *r, uint32_t slot, uint32_t *gen)
{
	return model_view(r, slot, gen, NULL, 0);
}

int ring_model_loading(const struct ring *r)
{
	for (uint32_t i = 0; i < RING_MAX_MODELS; i++) {
		uint32_t vgen;

		if (model_view(r, i, &vgen, NULL, 0) == -EINPROGRESS &&
		    vgen == atomic_load_explicit(&r->v.h->models[i].gen, memory_order_relaxed))
			return 1;
	}
	return 0;
}

int ring_model_error(const struct ring *r, uint32_t slot, char *buf, size_t len)
{
	return model_view(r, slot, NULL, buf, len);
}

int ring_set_file(struct ring *r, uint32_t idx, const char *path)
{
	struct ring_file *f;

	if (idx >= RING_MAX_FILES || (path && (!*path || strlen(path) >= RING_PATH_MAX)))
		return -EINVAL;
	f = &r->v.h->files[idx];
	ring_seq_write_begin(&f->seq);
	memset(f->path, 0, sizeof(f->path));
	if (path)
		strcpy(f->path, path);
	atomic_store_explicit(&f->gen, atomic_load_explicit(&f->gen, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	ring_seq_write_end(&f->seq);
	return 0;
}

/* ---- engine side ---- */

uint32_t ring_model_gen(const struct ring_engine *e, uint32_t slot)
{
	if (slot >= RING_MAX_MODELS)
		return 0;
	return atomic_load_explicit(&e->v.h->models[slot].gen, memory_order_acquire);
}

int ring_model_get(struct ring_engine *e, uint32_t slot, uint32_t *gen, char name[RING_NAME_MAX],
		   char weights[RING_PATH_MAX])
{
	struct ring_model *m;

	if (slot >= RING_MAX_MODELS)
		return -EINVAL;
	m = &e->v.h->models[slot];
	for (int tries = 0; tries < SEQ_TRIES; tries++) {
		uint32_t s = ring_seq_read_begin(&m->seq);
		*gen = atomic_load_explicit(&m->gen, memory_order_relaxed);
		ring_copy_str(name, m->name, RING_NAME_MAX);
		ring_copy_str(weights, m->weights, RING_PATH_MAX);
		if (!ring_seq_read_retry(&m->seq, s))
			return name[0] && weights[0] ? 0 : -ENOENT;
		ring_cpu_relax();
	}
	return -EAGAIN;
}

void ring_model_report(struct ring_engine *e, uint32_t slot, uint32_t gen, int status,
		       const char *err)
{
	struct ring_model *m;

	if (slot >= RING_MAX_MODELS)
		return;
	m = &e->v.h->models[slot];
	ring_seq_write_begin(&m->vseq);
	memset(m->err, 0, sizeof(m->err));
	if (err)
		strncpy(m->err, err, sizeof(m->err) - 1);
	atomic_store_explicit(&m->view, (uint64_t)gen << 32 | (uint32_t)status,
			      memory_order_relaxed);
	ring_seq_write_end(&m->vseq);
	ring_notify(e);
}

uint32_t ring_file_gen(const struct ring_engine *e, uint32_t idx)
{
	if (idx >= RING_MAX_FILES)
		return 0;
	return atomic_load_explicit(&e->v.h->files[idx].gen, memory_order_acquire);
}

int ring_file_get(struct ring_engine *e, uint32_t idx, uint32_t *gen, char path[RING_PATH_MAX])
{
	struct ring_file *f;

	if (idx >= RING_MAX_FILES)
		return -EINVAL;
	f = &e->v.h->files[idx];
	for (int tries = 0; tries < SEQ_TRIES; tries++) {
		uint32_t s = ring_seq_read_begin(&f->seq);
		*gen = atomic_load_explicit(&f->gen, memory_order_relaxed);
		ring_copy_str(path, f->path, RING_PATH_MAX);
		if (!ring_seq_read_retry(&f->seq, s))
			return path[0] ? 0 : -ENOENT;
		ring_cpu_relax();
	}
	return -EAGAIN;
}
