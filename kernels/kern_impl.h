/*
 * kern_impl.h - what the backends share inside kernels/ (not for users).
 */
#ifndef IDUNNO_KERN_IMPL_H
#define IDUNNO_KERN_IMPL_H

#include "kern.h"

#include <stddef.h>

/* The vtable each backend fills. */
struct kern_backend {
	const char *name;
	int (*plan_create)(const struct kern_graph *g, int batch, struct kern_cache *cache,
			   struct kern_plan **out, char *err, size_t errlen);
	int (*plan_run)(struct kern_plan *p, const float *in, float *out);
	size_t (*plan_workspace)(const struct kern_plan *p);
	void (*plan_free)(struct kern_plan *p);
};

/* Every plan starts with this header so the dispatcher can find its backend. */
struct kern_plan {
	const struct kern_backend *be;
	int batch;
};

/*
 * The weight cache: prepared weights keyed by the layer's weight key
 * (kern_weight_key: the caller's weight pointer, unless the weights are
 * released after planning) and a backend-defined descriptor of the
 * prepared layout.
 */
struct kern_cache_entry {
	const void *src; /* the caller's weights */
	void *desc;	 /* the layout they were prepared in (copied) */
	size_t desc_len;
	void *value; /* the prepared weights, backend-defined */
	size_t bytes;
	void (*drop)(void *value);
};

struct kern_cache {
	int n, cap;
	struct kern_cache_entry *e;
	struct kern_scratch *scratch; /* shared scratch, or NULL: each plan has its own */
};

/* The shared scratch: one page-aligned mapping, grown on demand. */
struct kern_scratch {
	void *buf;
	size_t size;
};

/* Whether a path of ours is on: 1 unless the environment sets name to "0"
 * (IDUNNO_WINOGRAD=0 and the like, each path's before/after switch). */
int kern_switch(const char *name);

/*
 * Large buffers that every run streams through (prepared weights, the
 * shared scratch): an anonymous mapping of its own, 2 MB-aligned and
 * advised for transparent huge pages (MADV_HUGEPAGE; this host's THP is
 * "madvise"), so that reading 80 MB of weights per image at batch 1 does
 * not also walk 20,000 pages' translations.  kern_huge_alloc aborts when
 * out of memory, kern_huge_try_alloc returns NULL.  Under AddressSanitizer
 * they are the heap's, which it watches.
 */
#define KERN_HUGE_MIN ((size_t)1 << 20) /* smaller buffers are not worth a mapping */
void *kern_huge_alloc(size_t n);
void *kern_huge_try_alloc(size_t n);
void kern_huge_free(void *p, size_t n);

/* Built with AddressSanitizer: memory of ours stays where it can see it
 * (activations in per-plan heap buffers, not in the shared scratch). */
#if defined(__SANITIZE_ADDRESS__)
#define KERN_SANITIZING 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KERN_SANITIZING 1
#endif
#endif
#ifndef KERN_SANITIZING
#define KERN_SANITIZING 0
#endif

/* Makes s hold at least n bytes; the old contents are not kept, and the
 * buffer may move (plans look at s->buf before each run). */
void kern_scratch_reserve(struct kern_scratch *s, size_t n);

void *kern_cache_get(struct kern_cache *c, const void *src, const void *desc, size_t desc_len);
void kern_cache_put(struct kern_cache *c, const void *src, const void *desc, size_t desc_len,
		    void *value, size_t bytes, void (*drop)(void *value));

extern const struct kern_backend kern_backend_ref;
extern const struct kern_backend kern_backend_blas;
extern const struct kern_backend kern_backend_onednn;

static inline size_t kern_shape_elems(const struct kern_shape *s)
{
	return (size_t)s->c * (size_t)s->h * (size_t)s->w;
}

/*
 * Assigns buffers to tensors by liveness so that activations reuse memory.
 * size[t] is the bytes tensor t needs (0 for a tensor that needs no buffer,
 * such as the caller's input).  On return buf_of[t] is the buffer index of
 * tensor t (-1 when it has none) and buf_size[b] the bytes buffer b needs;
 * returns the number of buffers.  buf_of and buf_size hold ntensors entries.
 */
int kern_assign_buffers(const struct kern_graph *g, const size_t *size, int *buf_of,
			size_t *buf_size);

/* Reference kernels on NCHW data, used by the ref and blas backends. */
void kern_ref_conv(const struct kern_layer *l, int n, const struct kern_shape *is,
		   const struct kern_shape *os, const float *src, float *dst);
void kern_ref_maxpool(const struct kern_layer *l, int n, const struct kern_shape *is,
		      const struct kern_shape *os, const float *src, float *dst);
void kern_ref_avgpool(int n, const struct kern_shape *is, const struct kern_shape *os,
		      const float *src, float *dst);
void kern_ref_fc(const struct kern_layer *l, int n, int ic, int oc, const float *src, float *dst);

/*
 * The executor for NCHW backends: runs the graph layer by layer, calling
 * conv and fc through these hooks and the reference pooling kernels.
 */
struct kern_plain_ops {
	void (*conv)(const struct kern_layer *l, int n, const struct kern_shape *is,
		     const struct kern_shape *os, const float *src, float *dst, float *scratch);
	/* Scratch floats conv needs for this layer and batch. */
	size_t (*conv_scratch)(const struct kern_layer *l, const struct kern_shape *is,
			       const struct kern_shape *os);
	void (*fc)(const struct kern_layer *l, int n, int ic, int oc, const float *src, float *dst);
};

int kern_plain_plan_create(const struct kern_backend *be, const struct kern_plain_ops *ops,
			   const struct kern_graph *g, int batch, struct kern_plan **out, char *err,
			   size_t errlen);
int kern_plain_plan_run(struct kern_plan *p, const float *in, float *out);
size_t kern_plain_plan_workspace(const struct kern_plan *p);
void kern_plain_plan_free(struct kern_plan *p);

#endif
