/*
 * kern_onednn_own.c - steps of the oneDNN backend's plan that run our own
 * kernels between oneDNN's primitives, on their memories: 5x5 convolution
 * by Winograd (kern_wino5.c) on nChw16c activations, and batch-1 fully
 * connected layers on the prepacked weights (kern_gemv.c).
 */
#include "kern_gemv.h"
#include "kern_onednn.h"
#include "kern_wino5.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct w5ctx {
	struct wino5 *c;
	struct wino5_weights *owned; /* when the plan has no cache */
	int n, ic, ih, iw, oc;
};

static void w5ctx_free(void *p)
{
	struct w5ctx *x = p;

	wino5_free(x->c);
	wino5_weights_free(x->owned);
	free(x);
}

/* With ONEDNN_VERBOSE set, a line like oneDNN's own per primitive, so that
 * bench/layer_profile.py times this step beside them. */
int odnn_verbose(void)
{
	static int v = -1;

	if (v < 0) {
		const char *e = getenv("ONEDNN_VERBOSE");
		v = e && atoi(e) > 0;
	}
	return v;
}

double odnn_ms_since(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a->tv_sec) * 1e3 + (double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

/* The data of step s's argument arg, or NULL. */
static void *arg_data(const struct step *s, int arg)
{
	void *h = NULL;

	for (int i = 0; i < s->nargs; i++)
		if (s->args[i].arg == arg &&
		    dnnl_memory_get_data_handle(s->args[i].memory, &h) == dnnl_success)
			return h;
	return NULL;
}

static int w5_run(const struct step *s)
{
	const struct w5ctx *x = s->ctx;
	void *src = arg_data(s, DNNL_ARG_SRC), *dst = arg_data(s, DNNL_ARG_DST);
	struct timespec a;

	if (!src || !dst)
		return IDN_EBACKEND;
	if (odnn_verbose())
		clock_gettime(CLOCK_MONOTONIC, &a);
	wino5_run(x->c, src, dst);
	if (odnn_verbose())
		printf("onednn_verbose,exec,cpu,convolution,idunno:wino_f4x4_5x5,forward_inference,"
		       "src_f32::blocked:aBcd16b dst_f32::blocked:aBcd16b,,alg:winograd,"
		       "mb%dic%dih%diw%doc%dkh5,%g\n",
		       x->n, x->ic, x->ih, x->iw, x->oc, odnn_ms_since(&a));
	return 0;
}

int odnn_plan_wino5(struct onednn_plan *p, const struct kern_graph *g, const struct kern_layer *l,
		    char *err, size_t errlen)
{
	static const char key[] = "idunno-wino5";
	const char *where = l->name ? l->name : "conv";
	const struct kern_shape *is = &g->shapes[l->src], *os = &g->shapes[l->dst];
	int n = p->base.batch, ret = 0;
	dnnl_dims_t sd = {n, is->c, is->h, is->w}, dd = {n, os->c, os->h, os->w};
	dnnl_memory_desc_t want;
	dnnl_memory_t src = p->mem[l->src];
	struct wino5_weights *w;
	struct w5ctx *x = xcalloc(1, sizeof(*x));
	struct step *s;

	CHK(dnnl_memory_desc_init_by_tag(&want, 4, sd, dnnl_f32, dnnl_nChw16c));
	if (!dnnl_memory_desc_equal(&want, &p->md[l->src])) {
		ret = odnn_add_reorder(p, src, &p->md[l->src], &want, NULL, &src, where, err,
				       errlen);
		if (ret)
			goto err;
	}
	w = kern_cache_get(p->cache, kern_weight_key(l), key, sizeof(key));
	if (!w) {
		w = wino5_weights_new(l, is->c, os->c);
		if (p->cache)
			kern_cache_put(p->cache, kern_weight_key(l), key, sizeof(key), w,
				       wino5_weights_bytes(w), wino5_weights_free);
		else
			x->owned = w;
	}
	x->c = wino5_new(w, l, n, is, os);
	x->n = n;
	x->ic = is->c;
	x->ih = is->h;
	x->iw = is->w;
	x->oc = os->c;
	p->temp_bytes += wino5_scratch_bytes(x->c);
	CHK(dnnl_memory_desc_init_by_tag(&p->md[l->dst], 4, dd, dnnl_f32, dnnl_nChw16c));
	CHK(dnnl_memory_create(&p->mem[l->dst], &p->md[l->dst], p->eng, DNNL_MEMORY_NONE));
	s = odnn_add_step(p, NULL);
	add_arg(s, DNNL_ARG_SRC, src);
	add_arg(s, DNNL_ARG_DST, p->mem[l->dst]);
	s->run = w5_run;
	s->ctx = x;
	s->ctx_free = w5ctx_free;
	return 0;
err:
	w5ctx_free(x);
	return ret;
}

struct gvctx {
	int ic, oc, relu;
};

static int gv_run(const struct step *s)
{
	const struct gvctx *x = s->ctx;
	void *src = arg_data(s, DNNL_ARG_SRC), *w = arg_data(s, DNNL_ARG_WEIGHTS);
	void *b = arg_data(s, DNNL_ARG_BIAS), *dst = arg_data(s, DNNL_ARG_DST);
	struct timespec a;

	if (!src || !w || !dst)
		return IDN_EBACKEND;
	if (odnn_verbose())
		clock_gettime(CLOCK_MONOTONIC, &a);
	gemv_run(w, x->ic, x->oc, b, x->relu, src, dst);
	if (odnn_verbose())
		printf("onednn_verbose,exec,cpu,inner_product,idunno:gemv,forward_inference,,,,"
		       "mb1ic%doc%d,%g\n",
		       x->ic, x->oc, odnn_ms_since(&a));
	return 0;
}

/*
 * At batch 1, runs the FC step s (oneDNN's primitive for pd, weights
 * prepacked) on our GEMV instead, when its source is plain and its weights
 * are [ic][oc]; otherwise leaves it to oneDNN.
 */
int odnn_fc_gemv(struct onednn_plan *p, struct step *s, dnnl_primitive_desc_t pd,
		 const struct kern_shape *is, int oc, int relu)
{
	const dnnl_memory_desc_t *w = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
	const dnnl_memory_desc_t *src = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
	int ic = (int)kern_shape_elems(is), nd = src->ndims;
	dnnl_dims_t w4 = {oc, is->c, is->h, is->w}, w2 = {oc, ic}, s4 = {1, is->c, is->h, is->w};
	dnnl_dims_t s2 = {1, ic};
	dnnl_memory_desc_t kn, plain;
	struct gvctx *x;

	if (p->base.batch != 1 || !gemv_available() ||
	    dnnl_memory_desc_init_by_tag(&kn, nd, nd == 4 ? w4 : w2, dnnl_f32,
					 nd == 4 ? dnnl_bcda : dnnl_ba) ||
	    dnnl_memory_desc_init_by_tag(&plain, nd, nd == 4 ? s4 : s2, dnnl_f32,
					 nd == 4 ? dnnl_nchw : dnnl_nc) ||
	    !dnnl_memory_desc_equal(src, &plain) || !dnnl_memory_desc_equal(w, &kn))
		return 0;
	x = xcalloc(1, sizeof(*x));
	*x = (struct gvctx){ic, oc, relu};
	s->run = gv_run;
	s->ctx = x;
	s->ctx_free = free;
	return 1;
}
