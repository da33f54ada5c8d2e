/*
 * kern.h - the compute kernels behind one interface.
 *
 * A network is handed to a backend as a kern_graph: a list of layers over
 * numbered tensors, with the weights in torchvision's layout (OIHW for
 * convolutions, OI for fully connected), batch-norm already folded in.  The
 * backend compiles it once for a batch size into a kern_plan (primitives,
 * weight reorders and buffers are made there) and the plan is then run for
 * every batch.  Three backends implement the same interface:
 *
 *   ref     plain C loops, the truth the others are tested against
 *   blas    im2col + OpenBLAS sgemm for convolutions and FC layers
 *   onednn  oneDNN primitives, blocked layouts kept from layer to layer
 *
 * Tensors are NCHW float32 at the plan's edges: the input is read where the
 * caller put it (never copied by the plain backends) and the output is
 * written where the caller asks.
 */
#ifndef IDUNNO_KERN_H
#define IDUNNO_KERN_H

#include "err.h"

#include <stddef.h>

enum kern_backend_id { KERN_BACKEND_REF, KERN_BACKEND_BLAS, KERN_BACKEND_ONEDNN, KERN_BACKEND_MAX };

enum kern_op {
	KERN_OP_CONV,	 /* convolution, + bias, += residual, ReLU */
	KERN_OP_MAXPOOL, /* max pooling, padding never wins */
	KERN_OP_AVGPOOL, /* adaptive average pooling to (oh, ow) */
	KERN_OP_FC,	 /* fully connected on the flattened CHW tensor, + bias, ReLU */
	KERN_OP_MAX
};

/*
 * Errors are 0, -errno, or IDunno's own codes (err.h): IDN_EGRAPH (the
 * graph is inconsistent), IDN_EUNSUPPORTED (the backend cannot run a
 * layer), IDN_EBACKEND (the compute library failed); idn_strerror names
 * them.
 */
const char *kern_backend_name(enum kern_backend_id id);
const char *kern_op_name(enum kern_op op);
/* Parses "ref", "blas" or "onednn". Returns 0 or -EINVAL. */
int kern_backend_parse(const char *s, enum kern_backend_id *out);

/* The shape of one image of a tensor; the batch is the plan's. */
struct kern_shape {
	int c, h, w;
};

struct kern_layer {
	enum kern_op op;
	int src;	     /* input tensor */
	int dst;	     /* output tensor; when accumulate, it holds the residual */
	int k_h, k_w;	     /* kernel (conv, maxpool) */
	int stride;	     /* conv, maxpool */
	int pad;	     /* conv, maxpool */
	int groups;	     /* conv; 0 means 1 */
	int relu;	     /* apply ReLU last */
	int accumulate;	     /* conv: dst = relu(conv(src) + bias + dst) */
	const float *weight; /* conv OIHW (O x I/groups x KH x KW), fc O x (C*H*W) */
	const float *bias;   /* O values, or NULL */
	const char *name;    /* for error messages */
	/* When not NULL, weight is valid only while plans are made (the model
	 * frees it after, and makes it again for a later plan): a backend
	 * keeps its own prepared copy and finds it again by this key, which
	 * stays the same (kern_weight_key). */
	const void *weight_key;
};

/* The key of l's prepared weights in a kern_cache. */
static inline const void *kern_weight_key(const struct kern_layer *l)
{
	return l->weight_key ? l->weight_key : l->weight;
}

struct kern_graph {
	int ntensors;
	const struct kern_shape *shapes; /* ntensors shapes */
	int nlayers;
	const struct kern_layer *layers;
	int input;  /* tensor read from the caller's buffer */
	int output; /* tensor written to the caller's buffer */
};

struct kern_plan;
/*
 * A cache of backend-prepared weights (reordered copies) that every plan of
 * one graph shares, so that plans for several batch sizes hold the weights
 * once.  It must outlive the plans made with it.
 */
struct kern_cache;
struct kern_cache *kern_cache_new(void);
void kern_cache_free(struct kern_cache *c);
/* Bytes of prepared weights the cache holds. */
size_t kern_cache_bytes(const struct kern_cache *c);

/*
 * Scratch memory for the plans of several caches (several networks) that
 * never run at the same time (the engine runs one batch at a time): the
 * process then holds the largest plan's scratch rather than the sum of
 * all.  Plans made with cache c after kern_cache_set_scratch(c, s) take
 * their scratch from s, which must outlive them.  Used by the onednn
 * backend; the others need no scratch of this kind.
 */
struct kern_scratch;
struct kern_scratch *kern_scratch_new(void);
void kern_scratch_free(struct kern_scratch *s);
void kern_cache_set_scratch(struct kern_cache *c, struct kern_scratch *s);
/* Bytes the shared scratch holds now. */
size_t kern_scratch_bytes(const struct kern_scratch *s);

/*
 * Checks a graph for consistency: every shape follows from the layer that
 * makes it, every tensor is made once before it is read, the input is
 * never written.  Returns 0 or IDN_EGRAPH with a message in err.
 */
int kern_graph_check(const struct kern_graph *g, char *err, size_t errlen);

/* Output spatial size of a conv or pool window. */
int kern_out_dim(int in, int k, int stride, int pad);

/*
 * Compiles g for batch size batch on backend id.  The weights must outlive
 * the plan unless the backend copies them (oneDNN does; the others do
 * not).  nthreads <= 0 keeps the library default.  Returns 0 or a negative
 * error with a message in err; *out is owned by the caller
 * (kern_plan_free).
 */
int kern_plan_create(enum kern_backend_id id, const struct kern_graph *g, int batch,
		     struct kern_plan **out, char *err, size_t errlen);
/* The same, sharing prepared weights through cache (may be NULL). */
int kern_plan_create_cached(enum kern_backend_id id, const struct kern_graph *g, int batch,
			    struct kern_cache *cache, struct kern_plan **out, char *err,
			    size_t errlen);

/*
 * Runs one batch: in is batch x shape(input) floats (NCHW), out receives
 * batch x shape(output) floats.  Returns 0 or a negative error.
 */
int kern_plan_run(struct kern_plan *p, const float *in, float *out);
int kern_plan_batch(const struct kern_plan *p);
/* Bytes of activations and scratch the plan holds (weights excluded). */
size_t kern_plan_workspace(const struct kern_plan *p);
void kern_plan_free(struct kern_plan *p);

/* Sets the threads used by OpenMP (oneDNN) and OpenBLAS. */
void kern_set_threads(int n);

/* Numerically stable softmax over n values, in place. */
void kern_softmax(float *x, int n);
/* Indices of the k largest of x[0..n), largest first, ties by lower index. */
void kern_topk(const float *x, int n, int k, int *idx);

/* FLOPs (multiply and add counted as 2) of one image through the graph. */
double kern_graph_flops(const struct kern_graph *g);

#endif
