/*
 * inputs.h - what a batch needs on a worker before its engine can run it:
 * the model's weights in the cache and in one of the ring's model slots,
 * the dataset's index (fetched once per index version, kept decoded in
 * memory), and every shard its images live in, cached and checked against
 * the index's CRC, each in the ring's file table.  The result is the
 * batch's model slot and one JPEG reference (file, offset, length) per
 * query.  Model slots and file entries are counted while batches use them
 * and reused, least recently used first, when they are not.
 */
#ifndef IDUNNO_INPUTS_H
#define IDUNNO_INPUTS_H

#include "ring.h"
#include "tasks/task_wire.h"

#include <stddef.h>
#include <stdint.h>

struct loop;
struct sdfs_client;
struct cache;
struct inputs;

/* The batch can run (status 0), or why not (IDN_ENOMODEL, IDN_ENODATASET,
 * -EINVAL for an image not in the dataset, -EIO...). */
typedef void (*inputs_fn)(void *arg, int status, const char *why);

struct inputs_req {
	const struct task_dispatch *d;
	/* set when ready */
	uint32_t slot;
	struct ring_img img[TASK_BATCH_MAX];
	/* private */
	struct inputs *in;
	inputs_fn fn;
	void *arg;
	int waiting, status, model_held, slot_held, index_slot;
	char model_path[RING_PATH_MAX];
	char why[200];
	uint32_t shard_file[TASK_BATCH_MAX]; /* per query: its file table entry */
	int nheld;
	uint32_t held[TASK_BATCH_MAX]; /* file table entries this batch holds */
};

int inputs_new(struct loop *l, struct sdfs_client *sdfs, struct cache *cache, struct ring *ring,
	       struct inputs **out);
void inputs_free(struct inputs *in);

/* Starts making r->d's inputs ready; fn follows (perhaps at once). 0 or
 * -errno. */
int inputs_prepare(struct inputs *in, struct inputs_req *r, inputs_fn fn, void *arg);
/* The batch is done with what it held. */
void inputs_release(struct inputs *in, struct inputs_req *r);
/* The engine could not load the batch's model: forget the cached file. */
void inputs_model_bad(struct inputs *in, struct inputs_req *r);

#endif
