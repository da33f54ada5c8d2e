/*
 * kern_onednn_wino5.c - a step of the oneDNN backend's plan that runs our
 * own 5x5 Winograd kernel (kern_wino5.c) between oneDNN's primitives, on
 * their nChw16c activations.
 */
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
static int verbose(void)
{
	static int v = -1;

	if (v < 0) {
		const char *e = getenv("ONEDNN_VERBOSE");
		v = e && atoi(e) > 0;
	}
	return v;
}

static int w5_run(const struct step *s)
{
	const struct w5ctx *x = s->ctx;
	void *src = NULL, *dst = NULL;
	struct timespec a, b;

	if (dnnl_memory_get_data_handle(s->args[0].memory, &src) != dnnl_success ||
	    dnnl_memory_get_data_handle(s->args[1].memory, &dst) != dnnl_success || !src || !dst)
		return IDN_EBACKEND;
	if (verbose())
		clock_gettime(CLOCK_MONOTONIC, &a);
	wino5_run(x->c, src, dst);
	if (verbose()) {
		clock_gettime(CLOCK_MONOTONIC, &b);
		printf("onednn_verbose,exec,cpu,convolution,idunno:wino_f4x4_5x5,forward_inference,"
		       "src_f32::blocked:aBcd16b dst_f32::blocked:aBcd16b,,alg:winograd,"
		       "mb%dic%dih%diw%doc%dkh5,%g\n",
		       x->n, x->ic, x->ih, x->iw, x->oc,
		       (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6);
	}
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
	w = kern_cache_get(p->cache, l->weight, key, sizeof(key));
	if (!w) {
		w = wino5_weights_new(l, is->c, os->c);
		if (p->cache)
			kern_cache_put(p->cache, l->weight, key, sizeof(key), w,
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
