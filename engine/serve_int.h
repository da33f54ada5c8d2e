/*
 * serve_int.h - what the engine's serving loop (serve.c) and its model
 * slots (serve_models.c) share: the loop's state.
 */
#ifndef IDUNNO_SERVE_INT_H
#define IDUNNO_SERVE_INT_H

#include "model.h"
#include "net.h"
#include "ring.h"
#include "serve.h"

#include <stddef.h>
#include <stdint.h>

#define SERVE_FILES	    16	       /* open files kept */
#define SERVE_JPEG_KEEP	    (8u << 20) /* a larger read buffer is freed after use */
#define SERVE_LOGGED_IMAGES 100	       /* per-image errors logged, then only counted */
#define IMAGE_BYTES	    (MODEL_IN_ELEMS * sizeof(float))

struct slot {
	struct net *net;
	uint32_t gen; /* the generation last loaded or tried; 0: none */
	int status;   /* of that load: 0, or -errno */
};

struct open_file {
	uint32_t idx, gen; /* file table entry and its generation; gen 0: unused */
	int fd;
	uint64_t used; /* for evicting the least recently used */
};

struct served {
	struct ring_engine *re;
	const struct serve_opts *o;
	struct slot slots[RING_MAX_MODELS];
	struct open_file files[SERVE_FILES];
	uint64_t tick;
	float *logits;	      /* RING_MAX_BATCH x 1000 */
	float *tensors;	      /* decoded JPEG inputs, tensors_cap images */
	uint32_t tensors_cap; /* grown on demand up to RING_MAX_JPEG_BATCH */
	unsigned char *jpeg;  /* one image's bytes */
	size_t jpeg_cap;
	int32_t *status;       /* RING_MAX_BATCH per-image statuses */
	uint64_t image_errors; /* logged up to SERVE_LOGGED_IMAGES */
};

/* Brings model slot i up to the owner's generation (serve_models.c):
 * frees what it held, loads the new weights and the --warm plans, and
 * reports.  Returns the slot's status. */
int serve_slot_sync(struct served *s, uint32_t i);
/* Every slot whose generation moved, now (the engine is otherwise idle). */
void serve_slots_sync_all(struct served *s);

#endif
