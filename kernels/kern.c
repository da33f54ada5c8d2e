/*
 * kern.c - backend dispatch, graph checking, buffer assignment, and the
 * small kernels every backend shares (softmax, top-k).
 */
#include "kern_impl.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* From libgomp and OpenBLAS; declared here so no header pins a compiler. */
extern void omp_set_num_threads(int n);
extern void openblas_set_num_threads(int n);

static const struct kern_backend *const backends[KERN_BACKEND_MAX] = {
	[KERN_BACKEND_REF] = &kern_backend_ref,
	[KERN_BACKEND_BLAS] = &kern_backend_blas,
	[KERN_BACKEND_ONEDNN] = &kern_backend_onednn,
};

static const char *const op_names[KERN_OP_MAX] = {
	[KERN_OP_CONV] = "conv",
	[KERN_OP_MAXPOOL] = "maxpool",
	[KERN_OP_AVGPOOL] = "avgpool",
	[KERN_OP_FC] = "fc",
};

const char *kern_backend_name(enum kern_backend_id id)
{
	return (unsigned)id < KERN_BACKEND_MAX ? backends[id]->name : "?";
}

const char *kern_op_name(enum kern_op op)
{
	return (unsigned)op < KERN_OP_MAX ? op_names[op] : "?";
}

int kern_backend_parse(const char *s, enum kern_backend_id *out)
{
	for (int i = 0; i < KERN_BACKEND_MAX; i++) {
		if (strcmp(s, backends[i]->name) == 0) {
			*out = (enum kern_backend_id)i;
			return 0;
		}
	}
	return -EINVAL;
}

int kern_out_dim(int in, int k, int stride, int pad)
{
	if (in <= 0 || k <= 0 || stride <= 0 || pad < 0 || in + 2 * pad < k)
		return 0;
	return (in + 2 * pad - k) / stride + 1;
}

static int check_layer(const struct kern_graph *g, int i, const char *defined, char *err,
		       size_t errlen)
{
	const struct kern_layer *l = &g->layers[i];
	const char *nm = l->name ? l->name : kern_op_name(l->op);
	const struct kern_shape *is, *os;
	int groups = l->groups ? l->groups : 1;

	if (l->src < 0 || l->src >= g->ntensors || l->dst < 0 || l->dst >= g->ntensors ||
	    l->src == l->dst) {
		util_seterr(err, errlen, "layer %s: bad tensor numbers", nm);
		return IDN_EGRAPH;
	}
	if (!defined[l->src]) {
		util_seterr(err, errlen, "layer %s reads tensor %d before it is made", nm, l->src);
		return IDN_EGRAPH;
	}
	if (l->dst == g->input) {
		util_seterr(err, errlen, "layer %s writes the input tensor", nm);
		return IDN_EGRAPH;
	}
	if (l->accumulate != !!defined[l->dst] || (l->accumulate && l->op != KERN_OP_CONV)) {
		util_seterr(err, errlen, "layer %s: tensor %d %s", nm, l->dst,
			    l->accumulate ? "accumulated before it is made" : "made twice");
		return IDN_EGRAPH;
	}
	is = &g->shapes[l->src];
	os = &g->shapes[l->dst];
	switch (l->op) {
	case KERN_OP_CONV:
		if (groups < 1 || is->c % groups || os->c % groups || !l->weight) {
			util_seterr(err, errlen, "layer %s: bad groups or no weight", nm);
			return IDN_EGRAPH;
		}
		/* fall through */
	case KERN_OP_MAXPOOL:
		if (os->h != kern_out_dim(is->h, l->k_h, l->stride, l->pad) ||
		    os->w != kern_out_dim(is->w, l->k_w, l->stride, l->pad) ||
		    (l->op == KERN_OP_MAXPOOL && os->c != is->c)) {
			util_seterr(err, errlen, "layer %s: output shape %dx%dx%d does not follow",
				    nm, os->c, os->h, os->w);
			return IDN_EGRAPH;
		}
		break;
	case KERN_OP_AVGPOOL:
		if (os->c != is->c || os->h < 1 || os->w < 1 || os->h > is->h || os->w > is->w) {
			util_seterr(err, errlen, "layer %s: bad adaptive pool shape", nm);
			return IDN_EGRAPH;
		}
		break;
	case KERN_OP_FC:
		if (os->h != 1 || os->w != 1 || !l->weight) {
			util_seterr(err, errlen, "layer %s: fc output must be Cx1x1", nm);
			return IDN_EGRAPH;
		}
		break;
	default:
		util_seterr(err, errlen, "layer %d: unknown op %d", i, (int)l->op);
		return IDN_EGRAPH;
	}
	return 0;
}

int kern_graph_check(const struct kern_graph *g, char *err, size_t errlen)
{
	char *defined;
	int ret = 0;

	if (g->ntensors < 2 || g->nlayers < 1 || g->input < 0 || g->input >= g->ntensors ||
	    g->output < 0 || g->output >= g->ntensors) {
		util_seterr(err, errlen, "graph has no layers or bad input/output");
		return IDN_EGRAPH;
	}
	for (int t = 0; t < g->ntensors; t++) {
		const struct kern_shape *s = &g->shapes[t];
		if (s->c < 1 || s->h < 1 || s->w < 1 || kern_shape_elems(s) > (1u << 28)) {
			util_seterr(err, errlen, "tensor %d has a bad shape", t);
			return IDN_EGRAPH;
		}
	}
	defined = xcalloc((size_t)g->ntensors, 1);
	defined[g->input] = 1;
	for (int i = 0; i < g->nlayers && !ret; i++) {
		ret = check_layer(g, i, defined, err, errlen);
		defined[g->layers[i].dst] = 1;
	}
	if (!ret && !defined[g->output]) {
		util_seterr(err, errlen, "the output tensor is never made");
		ret = IDN_EGRAPH;
	}
	free(defined);
	return ret;
}

int kern_assign_buffers(const struct kern_graph *g, const size_t *size, int *buf_of,
			size_t *buf_size)
{
	int *last = xmalloc((size_t)g->ntensors * sizeof(*last));
	char *busy = xcalloc((size_t)g->ntensors, 1);
	int nbuf = 0;

	for (int t = 0; t < g->ntensors; t++) {
		last[t] = -1;
		buf_of[t] = -1;
	}
	for (int i = 0; i < g->nlayers; i++) {
		last[g->layers[i].src] = i;
		last[g->layers[i].dst] = i;
	}
	last[g->output] = g->nlayers;
	for (int i = 0; i < g->nlayers; i++) {
		const struct kern_layer *l = &g->layers[i];
		if (!l->accumulate && size[l->dst]) {
			/* Best fit: the smallest free buffer that is large enough,
			 * else the largest free one (grown), else a new one. */
			int b = -1;
			for (int k = 0; k < nbuf; k++) {
				int fits_k = buf_size[k] >= size[l->dst];
				int fits_b = b >= 0 && buf_size[b] >= size[l->dst];
				if (busy[k])
					continue;
				if (b < 0 || (fits_k && (!fits_b || buf_size[k] < buf_size[b])) ||
				    (!fits_k && !fits_b && buf_size[k] > buf_size[b]))
					b = k;
			}
			if (b < 0) {
				b = nbuf;
				buf_size[nbuf++] = 0;
			}
			busy[b] = 1;
			buf_of[l->dst] = b;
			buf_size[b] = MAX(buf_size[b], size[l->dst]);
		}
		for (int t = 0; t < g->ntensors; t++)
			if (last[t] == i && buf_of[t] >= 0)
				busy[buf_of[t]] = 0;
	}
	free(last);
	free(busy);
	return nbuf;
}

struct kern_cache *kern_cache_new(void)
{
	return xcalloc(1, sizeof(struct kern_cache));
}

void kern_cache_free(struct kern_cache *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->n; i++) {
		c->e[i].drop(c->e[i].value);
		free(c->e[i].desc);
	}
	free(c->e);
	free(c);
}

struct kern_scratch *kern_scratch_new(void)
{
	return xcalloc(1, sizeof(struct kern_scratch));
}

void kern_scratch_free(struct kern_scratch *s)
{
	if (s && s->buf)
		kern_huge_free(s->buf, s->size);
	free(s);
}

int kern_switch(const char *name)
{
	const char *e = getenv(name);

	return !(e && !strcmp(e, "0"));
}

#define HUGE_PAGE ((size_t)2 << 20)

void *kern_huge_try_alloc(size_t n)
{
#if KERN_SANITIZING
	return aligned_alloc(64, ALIGN_UP(n, 64));
#else
	size_t len = n + HUGE_PAGE;
	char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *start;

	if (m == MAP_FAILED)
		return NULL;
	/* Keep the 2 MB-aligned part only, so that every whole 2 MB of it can
	 * be one huge page. */
	start = (char *)ALIGN_UP((uintptr_t)m, HUGE_PAGE);
	if (start > m)
		munmap(m, (size_t)(start - m));
	len -= (size_t)(start - m);
	if (len > ALIGN_UP(n, 4096))
		munmap(start + ALIGN_UP(n, 4096), len - ALIGN_UP(n, 4096));
	/* Advice only: without THP, no harm.  IDUNNO_HUGEPAGES=0 leaves it out. */
	if (kern_switch("IDUNNO_HUGEPAGES"))
		madvise(start, n, MADV_HUGEPAGE);
	return start;
#endif
}

void *kern_huge_alloc(size_t n)
{
	void *p = kern_huge_try_alloc(n);

	ASSERT(p); /* out of memory, as xaligned_alloc */
	return p;
}

void kern_huge_free(void *p, size_t n)
{
#if KERN_SANITIZING
	(void)n;
	free(p);
#else
	if (p)
		munmap(p, ALIGN_UP(n, 4096));
#endif
}

/* Mapped on its own, so that the old area is unmapped when it grows and a
 * plan still pointing there would fault rather than share memory with
 * whatever malloc put there next. */
void kern_scratch_reserve(struct kern_scratch *s, size_t n)
{
	void *m;

	if (n <= s->size)
		return;
	m = kern_huge_alloc(n);
	if (s->buf)
		kern_huge_free(s->buf, s->size);
	s->buf = m;
	s->size = n;
}

size_t kern_scratch_bytes(const struct kern_scratch *s)
{
	return s ? s->size : 0;
}

void kern_cache_set_scratch(struct kern_cache *c, struct kern_scratch *s)
{
	c->scratch = s;
}

size_t kern_cache_bytes(const struct kern_cache *c)
{
	size_t total = 0;
	for (int i = 0; c && i < c->n; i++)
		total += c->e[i].bytes;
	return total;
}

void *kern_cache_get(struct kern_cache *c, const void *src, const void *desc, size_t desc_len)
{
	for (int i = 0; c && i < c->n; i++)
		if (c->e[i].src == src && c->e[i].desc_len == desc_len &&
		    !memcmp(c->e[i].desc, desc, desc_len))
			return c->e[i].value;
	return NULL;
}

void kern_cache_put(struct kern_cache *c, const void *src, const void *desc, size_t desc_len,
		    void *value, size_t bytes, void (*drop)(void *value))
{
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 32;
		c->e = realloc(c->e, (size_t)c->cap * sizeof(*c->e));
		ASSERT(c->e);
	}
	c->e[c->n++] = (struct kern_cache_entry){
		src, memcpy(xmalloc(desc_len), desc, desc_len), desc_len, value, bytes, drop};
}

int kern_plan_create(enum kern_backend_id id, const struct kern_graph *g, int batch,
		     struct kern_plan **out, char *err, size_t errlen)
{
	return kern_plan_create_cached(id, g, batch, NULL, out, err, errlen);
}

int kern_plan_create_cached(enum kern_backend_id id, const struct kern_graph *g, int batch,
			    struct kern_cache *cache, struct kern_plan **out, char *err,
			    size_t errlen)
{
	int ret;

	if ((unsigned)id >= KERN_BACKEND_MAX) {
		util_seterr(err, errlen, "unknown backend %d", (int)id);
		return -EINVAL;
	}
	if (batch < 1 || batch > 4096) {
		util_seterr(err, errlen, "batch size %d out of range 1..4096", batch);
		return -EINVAL;
	}
	ret = kern_graph_check(g, err, errlen);
	if (ret)
		return ret;
	ret = backends[id]->plan_create(g, batch, cache, out, err, errlen);
	if (ret)
		return ret;
	(*out)->be = backends[id];
	(*out)->batch = batch;
	return 0;
}

int kern_plan_run(struct kern_plan *p, const float *in, float *out)
{
	return p->be->plan_run(p, in, out);
}

int kern_plan_batch(const struct kern_plan *p)
{
	return p->batch;
}

size_t kern_plan_workspace(const struct kern_plan *p)
{
	return p->be->plan_workspace(p);
}

void kern_plan_free(struct kern_plan *p)
{
	if (p)
		p->be->plan_free(p);
}

void kern_set_threads(int n)
{
	if (n <= 0)
		return;
	omp_set_num_threads(n);
	openblas_set_num_threads(n);
}

void kern_softmax(float *x, int n)
{
	float mx = -INFINITY;
	double sum = 0;

	for (int i = 0; i < n; i++)
		mx = x[i] > mx ? x[i] : mx;
	for (int i = 0; i < n; i++) {
		x[i] = expf(x[i] - mx);
		sum += x[i];
	}
	for (int i = 0; i < n; i++)
		x[i] = (float)(x[i] / sum);
}

void kern_topk(const float *x, int n, int k, int *idx)
{
	int m = 0;

	for (int i = 0; i < n; i++) {
		int j;
		if (m == k && !(x[i] > x[idx[k - 1]]))
			continue;
		j = m < k ? m++ : k - 1;
		while (j > 0 && x[i] > x[idx[j - 1]]) {
			idx[j] = idx[j - 1];
			j--;
		}
		idx[j] = i;
	}
}

double kern_graph_flops(const struct kern_graph *g)
{
	double f = 0;

	for (int i = 0; i < g->nlayers; i++) {
		const struct kern_layer *l = &g->layers[i];
		const struct kern_shape *is = &g->shapes[l->src], *os = &g->shapes[l->dst];
		int groups = l->groups ? l->groups : 1;
		if (l->op == KERN_OP_CONV)
			f += 2.0 * os->c * os->h * os->w * (is->c / groups) * l->k_h * l->k_w;
		else if (l->op == KERN_OP_FC)
			f += 2.0 * (double)kern_shape_elems(is) * os->c;
	}
	return f;
}
