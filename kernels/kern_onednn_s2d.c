/*
 * kern_onednn_s2d.c - a strided convolution with a large kernel (AlexNet's
 * conv1: 11x11, stride 4, 3 -> 64 channels) as a 3x3 stride-1 one, so
 * that oneDNN's Winograd F(4x4, 3x3) can run it.
 *
 * Space to depth: input channel c at phase (py, px) of the stride s
 * becomes channel (c*s + py)*s + px of a map s times smaller, in' [c'][y][x]
 * = in[c][y*s + py - pad][x*s + px - pad] (zero outside); the kernel, padded
 * to a multiple of s (12x12), is split the same way into K' = ceil(k/s)
 * taps (3x3) over ic*s*s channels (48).  Then out = conv3x3(in', w'),
 * stride 1, no padding, exactly the same sums.  The direct convolution
 * does (12/11)^2 = 1.19x more multiplications this way, Winograd 4x fewer.
 */
#include "kern_onednn.h"

#include <omp.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct s2dctx {
	int n, c, ih, iw, s, pad, c2, h2, w2;
	dnnl_memory_t tmp; /* in', nChw16c, in the plan's scratch */
	float *w2owned;	   /* w' when the plan has no cache */
};

static void s2dctx_free(void *p)
{
	struct s2dctx *x = p;

	if (x->tmp)
		dnnl_memory_destroy(x->tmp);
	free(x->w2owned);
	free(x);
}

/* Taps of the split kernel per side, or 0 when the layer is not one for it:
 * stride >= 2, kernel larger than the stride and splitting into 3x3, one
 * group, ic*s*s channels in 16s (nChw16c), a map large enough for Winograd
 * to pay.  IDUNNO_S2D=0 turns it off. */
int odnn_s2d_taps(const struct kern_layer *l, const struct kern_shape *is,
		  const struct kern_shape *os)
{
	int s = l->stride;

	if (!kern_switch("IDUNNO_S2D") || s < 2 || l->k_h != l->k_w || l->k_h <= s ||
	    (l->k_h + s - 1) / s != 3 || (l->groups ? l->groups : 1) != 1 || l->accumulate ||
	    (is->c * s * s) % 16 || os->c % 16 || os->h < 13 || os->w < 13)
		return 0;
	return 3;
}

/* in (n x c x ih x iw) -> in' (n x c2/16 x h2 x w2 x 16), written in
 * order: each output vector gathers its 16 lanes (for s = 4, one 4x4
 * patch of one input channel). */
static void s2d(const struct s2dctx *x, const float *in, float *out)
{
	int nb = x->c2 / 16, s = x->s;

#pragma omp parallel for collapse(2) schedule(static)
	for (int n = 0; n < x->n; n++)
		for (int cb = 0; cb < nb; cb++) {
			const float *img = in + (size_t)n * x->c * x->ih * x->iw;
			size_t off[16];
			int py[16], px[16];
			for (int j = 0; j < 16; j++) {
				int c2 = cb * 16 + j;
				py[j] = c2 / s % s;
				px[j] = c2 % s;
				off[j] = ((size_t)(c2 / (s * s)) * x->ih + py[j]) * x->iw + px[j];
			}
			for (int y = 0; y < x->h2; y++) {
				float *o = out + (((size_t)n * nb + cb) * x->h2 + y) * x->w2 * 16;
				int y0 = y * s - x->pad, yin = y0 >= 0 && y0 + s <= x->ih;
				for (int xx = 0; xx < x->w2; xx++, o += 16) {
					int x0 = xx * s - x->pad;
					if (yin && x0 >= 0 && x0 + s <= x->iw) {
						const float *b = img + (size_t)y0 * x->iw + x0;
						for (int j = 0; j < 16; j++)
							o[j] = b[off[j]];
						continue;
					}
					for (int j = 0; j < 16; j++) {
						int iy = y0 + py[j], ix = x0 + px[j];
						o[j] = iy >= 0 && iy < x->ih && ix >= 0 &&
								       ix < x->iw
							       ? img[off[j] +
								     (ptrdiff_t)y0 * x->iw + x0]
							       : 0;
					}
				}
			}
		}
}

static int s2d_run(const struct step *s)
{
	const struct s2dctx *x = s->ctx;
	void *src = NULL, *dst = NULL;
	struct timespec a;

	if (dnnl_memory_get_data_handle(s->args[0].memory, &src) != dnnl_success ||
	    dnnl_memory_get_data_handle(s->args[1].memory, &dst) != dnnl_success || !src || !dst)
		return IDN_EBACKEND;
	if (odnn_verbose())
		clock_gettime(CLOCK_MONOTONIC, &a);
	s2d(x, src, dst);
	if (odnn_verbose())
		printf("onednn_verbose,exec,cpu,reorder,idunno:space_to_depth,undef,"
		       "src_f32::blocked:abcd dst_f32::blocked:aBcd16b,,,%dx%dx%dx%d,%g\n",
		       x->n, x->c2, x->h2, x->w2, odnn_ms_since(&a));
	return 0;
}

/* w' (oc x c*s*s x 3 x 3) from w (oc x c x k x k). */
static float *split_weights(const struct kern_layer *l, int oc, int c, int kk)
{
	int s = l->stride, k = l->k_h, c2 = c * s * s;
	float *w = xcalloc((size_t)oc * c2 * kk * kk, sizeof(float));

	for (int o = 0; o < oc; o++)
		for (int ci = 0; ci < c; ci++)
			for (int ky = 0; ky < k; ky++)
				for (int kx = 0; kx < k; kx++) {
					int q = (ci * s + ky % s) * s + kx % s;
					w[(((size_t)o * c2 + q) * kk + ky / s) * kk + kx / s] =
						l->weight[(((size_t)o * c + ci) * k + ky) * k + kx];
				}
	return w;
}

/*
 * Plans layer l as space to depth (a step of ours) and oneDNN's 3x3
 * convolution (Winograd if it has it).  Returns 1 when planned, 0 when
 * oneDNN has no such convolution (nothing added: the caller plans the
 * layer its own way), or a negative error.
 */
int odnn_plan_s2d(struct onednn_plan *p, const struct kern_graph *g, const struct kern_layer *l,
		  int kk, char *err, size_t errlen)
{
	static const char key[] = "idunno-s2d";
	const char *where = l->name ? l->name : "conv";
	const struct kern_shape *is = &g->shapes[l->src], *os = &g->shapes[l->dst];
	int n = p->base.batch, s = l->stride, c2 = is->c * s * s, ret = 0;
	int h2 = os->h + kk - 1, w2 = os->w + kk - 1;
	dnnl_dims_t td = {n, c2, h2, w2}, wd = {os->c, c2, kk, kk}, bd = {os->c};
	dnnl_dims_t dd = {n, os->c, os->h, os->w}, one = {1, 1}, zero = {0, 0};
	dnnl_dims_t plain = {n, is->c, is->h, is->w};
	dnnl_memory_desc_t tmd, w_any, user_w, b_md, dst_any, src_plain;
	dnnl_convolution_desc_t cd;
	dnnl_primitive_desc_t pd = NULL;
	dnnl_primitive_attr_t attr = odnn_make_attr(0, l->relu);
	dnnl_memory_t src = p->mem[l->src], sp = NULL;
	dnnl_primitive_t prim = NULL;
	struct s2dctx *x = xcalloc(1, sizeof(*x));
	struct kern_layer split = *l;
	const dnnl_memory_desc_t *spad;
	struct step *st;

	if (!attr) {
		free(x);
		util_seterr(err, errlen, "oneDNN: cannot make attributes for %s", where);
		return IDN_EBACKEND;
	}
	CHK(dnnl_memory_desc_init_by_tag(&tmd, 4, td, dnnl_f32, dnnl_nChw16c));
	CHK(dnnl_memory_desc_init_by_tag(&w_any, 4, wd, dnnl_f32, dnnl_format_tag_any));
	CHK(dnnl_memory_desc_init_by_tag(&user_w, 4, wd, dnnl_f32, dnnl_oihw));
	CHK(dnnl_memory_desc_init_by_tag(&b_md, 1, bd, dnnl_f32, dnnl_x));
	CHK(dnnl_memory_desc_init_by_tag(&dst_any, 4, dd, dnnl_f32, dnnl_format_tag_any));
	CHK(dnnl_memory_desc_init_by_tag(&src_plain, 4, plain, dnnl_f32, dnnl_nchw));
	if (dnnl_convolution_forward_desc_init(
		    &cd, dnnl_forward_inference, dnnl_convolution_winograd, &tmd, &w_any,
		    l->bias ? &b_md : NULL, &dst_any, one, zero, zero) != dnnl_success ||
	    odnn_pd_create(&pd, &cd, attr, p->eng, odnn_wino_impl(n, os->h, os->w))) {
		pd = NULL;
		goto err; /* ret 0: not planned */
	}
	/* The input, plain (it is the network's input in AlexNet). */
	if (!dnnl_memory_desc_equal(&src_plain, &p->md[l->src])) {
		ret = odnn_add_reorder(p, src, &p->md[l->src], &src_plain, NULL, &src, where, err,
				       errlen);
		if (ret)
			goto err;
	}
	*x = (struct s2dctx){n, is->c, is->h, is->w, s, l->pad, c2, h2, w2, NULL, NULL};
	/* in' lives in the shared scratch, after the 3x3 convolution's own
	 * scratchpad (nothing else runs meanwhile): no memory of its own. */
	CHK(dnnl_memory_create(&x->tmp, &tmd, p->eng, DNNL_MEMORY_NONE));
	spad = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
	odnn_scratch_view(p, x->tmp,
			  spad ? (dnnl_memory_desc_get_size(spad) + 4095) / 4096 * 4096 : 0,
			  dnnl_memory_desc_get_size(&tmd));
	st = odnn_add_step(p, NULL);
	add_arg(st, DNNL_ARG_SRC, src);
	add_arg(st, DNNL_ARG_DST, x->tmp);
	st->run = s2d_run;
	st->ctx = x;
	st->ctx_free = s2dctx_free;
	x = NULL; /* the step's now */

	/* w', kept by the cache (its address is then the key of the prepared
	 * copy) or by this plan. */
	split.weight = kern_cache_get(p->cache, kern_weight_key(l), key, sizeof(key));
	split.weight_key = NULL; /* w' stays as long as the cache (or this plan) */
	if (!split.weight) {
		float *w = split_weights(l, os->c, is->c, kk);
		if (p->cache)
			kern_cache_put(p->cache, kern_weight_key(l), key, sizeof(key), w,
				       (size_t)os->c * c2 * kk * kk * sizeof(float), free);
		else
			((struct s2dctx *)st->ctx)->w2owned = w;
		split.weight = w;
	}
	CHK(dnnl_primitive_create(&prim, pd));
	st = odnn_add_step(p, prim);
	add_arg(st, DNNL_ARG_SRC, ((struct s2dctx *)p->steps[p->nsteps - 2].ctx)->tmp);
	if (spad && dnnl_memory_desc_get_size(spad)) {
		p->scratch_size = MAX(p->scratch_size, dnnl_memory_desc_get_size(spad));
		CHK(dnnl_memory_create(&sp, spad, p->eng, DNNL_MEMORY_NONE));
		odnn_own(p, sp);
		add_arg(st, DNNL_ARG_SCRATCHPAD, sp);
	}
	ret = odnn_add_weights(p, pd, st, &user_w, &split, os->c, where, err, errlen);
	if (!ret)
		ret = odnn_bind_dst(p, pd, l->dst, st, where, err, errlen);
	if (!ret)
		ret = 1;
err:
	if (x)
		s2dctx_free(x);
	if (pd)
		dnnl_primitive_desc_destroy(pd);
	dnnl_primitive_attr_destroy(attr);
	return ret;
}
