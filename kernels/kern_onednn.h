/*
 * kern_onednn.h - what the oneDNN backend's files share (not for users):
 * the plan, its steps, and the helpers the per-layer planners
 * (kern_onednn_layers.c) build on.
 */
#ifndef IDUNNO_KERN_ONEDNN_H
#define IDUNNO_KERN_ONEDNN_H

#include "kern_impl.h"
#include "util.h"

#include <oneapi/dnnl/dnnl.h>
#include <time.h>

#define MAX_ARGS 6

struct step {
	dnnl_primitive_t prim; /* NULL for a step of our own (run) */
	int nargs;
	dnnl_exec_arg_t args[MAX_ARGS];
	int (*run)(const struct step *s); /* our own kernel, on args */
	void *ctx;			  /* run's, freed with ctx_free */
	void (*ctx_free)(void *ctx);
};

struct onednn_plan {
	struct kern_plan base;
	dnnl_engine_t eng; /* the shared engine, not owned */
	dnnl_stream_t strm;
	struct kern_cache *cache; /* prepared weights shared with other plans, or NULL */
	int ntensors;
	dnnl_memory_desc_t *md; /* per tensor, as produced */
	dnnl_memory_t *mem;	/* per tensor; handles set in pass two */
	dnnl_memory_t in_user, out_user;
	struct step *steps;
	int nsteps, cap_steps;
	dnnl_memory_t *owned; /* weights, biases, reorder temporaries, scratch views */
	int nowned, cap_owned;
	float **bufs; /* activation buffers, when ours (not in the shared scratch) */
	size_t *buf_size;
	int nbuf;
	int *buf_of;	 /* tensor -> buffer, -1 for none */
	size_t *buf_off; /* buffer -> offset in the shared scratch, or NULL: bufs are ours */
	void *scratch;	 /* own scratchpad, when the cache shares none */
	size_t scratch_size;
	void *scratch_bound;  /* the buffer the scratchpad memories point at */
	dnnl_memory_t *views; /* temporaries of ours placed in the scratch ... */
	size_t *view_off;     /* ... at these offsets */
	int nviews;
	size_t temp_bytes; /* library-allocated reorder temporaries */
};

#define CHK(call)                                                                                  \
	do {                                                                                       \
		dnnl_status_t st_ = (call);                                                        \
		if (st_ != dnnl_success) {                                                         \
			util_seterr(err, errlen, "oneDNN: %s failed (status %d) at %s", #call,     \
				    (int)st_, where);                                              \
			ret = IDN_EBACKEND;                                                        \
			goto err;                                                                  \
		}                                                                                  \
	} while (0)

static inline void add_arg(struct step *s, int arg, dnnl_memory_t m)
{
	ASSERT(s->nargs < MAX_ARGS);
	s->args[s->nargs].arg = arg;
	s->args[s->nargs].memory = m;
	s->nargs++;
}

/* With ONEDNN_VERBOSE set, our own steps print a line like oneDNN's
 * (bench/layer_profile.py times them too); odnn_ms_since(a) is the time
 * since a, CLOCK_MONOTONIC. */
int odnn_verbose(void);
double odnn_ms_since(const struct timespec *a);
/* Places memory m (bytes long, buffer not its own) at offset off of the
 * plan's scratch, beside the scratchpads of the primitives that run while
 * it is in use; m stays the caller's to destroy. */
void odnn_scratch_view(struct onednn_plan *p, dnnl_memory_t m, size_t off, size_t bytes);
/* The plan destroys m with itself. */
void odnn_own(struct onednn_plan *p, dnnl_memory_t m);
/* Creates *pd for desc with the first of oneDNN's implementations whose
 * name contains impl (oneDNN's own first choice when none does, or impl is
 * NULL or ""): 0, or -1 when oneDNN has none. */
int odnn_pd_create(dnnl_primitive_desc_t *pd, const void *desc, dnnl_primitive_attr_t attr,
		   dnnl_engine_t eng, const char *impl);
/* The Winograd implementation a 3x3 stride-1 convolution with an oh x ow
 * output asks oneDNN for at this batch: "wino_4x3", "wino_2x3", or "" for
 * oneDNN's own choice (kern_onednn_layers.c says why). */
const char *odnn_wino_impl(int batch, int oh, int ow);
/* Adds a step running prim (NULL: the caller sets run and ctx). */
struct step *odnn_add_step(struct onednn_plan *p, dnnl_primitive_t prim);
/* Adds a step reordering memory from (layout from_md) into to, or into a
 * new temporary of layout want when to is NULL; *out (if not NULL) gets it. */
int odnn_add_reorder(struct onednn_plan *p, dnnl_memory_t from, const dnnl_memory_desc_t *from_md,
		     const dnnl_memory_desc_t *want, dnnl_memory_t to, dnnl_memory_t *out,
		     const char *where, char *err, size_t errlen);
/* Attributes: user scratchpad, then sum (residual) and ReLU post-ops; NULL
 * when oneDNN cannot make them. */
dnnl_primitive_attr_t odnn_make_attr(int sum, int relu);
/* Creates the primitive for pd and adds its step reading tensor src_t
 * (reordered first when the primitive wants another layout), hooked to the
 * shared scratchpad. */
int odnn_add_primitive(struct onednn_plan *p, dnnl_primitive_desc_t pd, int src_t,
		       struct step **out, const char *where, char *err, size_t errlen);
/* Creates the memory of tensor t from the dst of pd (its buffer set later). */
int odnn_bind_dst(struct onednn_plan *p, dnnl_primitive_desc_t pd, int t, struct step *s,
		  const char *where, char *err, size_t errlen);
/* Weights (and bias) of pd from the caller's plain arrays, prepared once
 * through the plan's cache. */
int odnn_add_weights(struct onednn_plan *p, dnnl_primitive_desc_t pd, struct step *s,
		     const dnnl_memory_desc_t *user_w, const struct kern_layer *l, int oc,
		     const char *where, char *err, size_t errlen);

/* One planner per kind of layer (kern_onednn_layers.c). */
int odnn_plan_conv(struct onednn_plan *p, const struct kern_graph *g, const struct kern_layer *l,
		   char *err, size_t errlen);
int odnn_plan_pool(struct onednn_plan *p, const struct kern_graph *g, const struct kern_layer *l,
		   char *err, size_t errlen);
/* A 5x5 convolution on our own Winograd kernel (kern_wino5.c). */
int odnn_plan_wino5(struct onednn_plan *p, const struct kern_graph *g, const struct kern_layer *l,
		    char *err, size_t errlen);
/* Large strided kernels as space to depth and a 3x3 convolution
 * (kern_onednn_s2d.c): the taps per side (3) when layer l is one, else 0;
 * odnn_plan_s2d returns 1 when planned, 0 when oneDNN cannot (nothing
 * added), or an error. */
int odnn_s2d_taps(const struct kern_layer *l, const struct kern_shape *is,
		  const struct kern_shape *os);
int odnn_plan_s2d(struct onednn_plan *p, const struct kern_graph *g, const struct kern_layer *l,
		  int kk, char *err, size_t errlen);
/* At batch 1, makes FC step s run on our GEMV (kern_gemv.c) when it can;
 * 1 if it does. */
int odnn_fc_gemv(struct onednn_plan *p, struct step *s, dnnl_primitive_desc_t pd,
		 const struct kern_shape *is, int oc, int relu);
int odnn_plan_fc(struct onednn_plan *p, const struct kern_graph *g, const struct kern_layer *l,
		 char *err, size_t errlen);

#endif
