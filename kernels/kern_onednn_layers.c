/*
 * kern_onednn_layers.c - the oneDNN backend's planners, one per kind of
 * layer: convolution (direct or Winograd), pooling, fully connected.
 */
#include "kern_gemv.h"
#include "kern_onednn.h"
#include "kern_wino5.h"

#include <stdlib.h>
#include <string.h>

/*
 * Winograd does fewer multiplications on 3x3 stride-1 convolutions but
 * holds transformed weights and pads maps to whole tiles.  oneDNN has two:
 * F(4x4, 3x3) at any batch (2.25x fewer multiplications than direct;
 * weights 4x the bytes, in 6x6 tiles) and, at batch 1 only, F(2x2, 3x3)
 * (up to 2.25x fewer; weights 16/9 the bytes).
 *
 * At batch 1 (measured on ResNet18 and AlexNet, docs/engine.md): F(4x4)
 * where the map is at least 28x28 (AlexNet's conv1 after space to depth,
 * 55x55: 0.49-0.54 -> 0.38-0.42 ms; ResNet18's layer1, 56x56, the same
 * within the noise; oneDNN itself would take F(2x2) on both), F(2x2) on
 * smaller maps down to 7x7 (layer3 at 14x14: 0.69 ms against F(4x4)'s
 * 0.75; layer4 at 7x7: 1.34-1.40 ms direct -> 0.93-1.16, for 22 MB more
 * weights; AlexNet's 13x13 layers alike).  At larger batches F(4x4) where
 * the map is at least 13x13: on 7x7 maps it gains too (ResNet18 at batch
 * 16: layer4 15 -> 8.4 ms per layer) but would hold 85 MB more weights,
 * over the engine's memory budget.  AlexNet's 13x13 layers gain about 30 %
 * at batch 16 and 40 % at 64 for about 50 MB (transformed weights, and
 * Winograd's scratch, which the plans of all networks share:
 * kern_scratch).
 *
 * Returns NULL for direct convolution, else the implementation to ask
 * oneDNN for ("" for its own choice).  IDUNNO_WINOGRAD=0 turns Winograd
 * off; IDUNNO_WINOGRAD_MIN_MAP=N sets the smallest map above batch 1.
 */
static const char *winograd_impl(const struct kern_layer *l, const struct kern_shape *os, int batch)
{
	const char *m = getenv("IDUNNO_WINOGRAD_MIN_MAP");
	int min = m && atoi(m) > 0 ? atoi(m) : 13;

	if (!kern_switch("IDUNNO_WINOGRAD") || l->k_h != 3 || l->k_w != 3 || l->stride != 1 ||
	    l->pad != 1 || (l->groups ? l->groups : 1) != 1)
		return NULL;
	if (batch == 1 ? os->h < 7 || os->w < 7 : os->h < min || os->w < min)
		return NULL;
	return odnn_wino_impl(batch, os->h, os->w);
}

int odnn_plan_conv(struct onednn_plan *p, const struct kern_graph *g, const struct kern_layer *l,
		   char *err, size_t errlen)
{
	const char *where = l->name ? l->name : "conv";
	const struct kern_shape *is = &g->shapes[l->src], *os = &g->shapes[l->dst];
	int n = p->base.batch, groups = l->groups ? l->groups : 1;
	dnnl_memory_desc_t src_any, w_any, b_md, dst_md, user_w;
	dnnl_convolution_desc_t cd;
	dnnl_primitive_desc_t pd = NULL;
	dnnl_primitive_attr_t attr = odnn_make_attr(l->accumulate, l->relu);
	const char *wino;
	dnnl_dims_t sd = {n, is->c, is->h, is->w}, dd = {n, os->c, os->h, os->w};
	dnnl_dims_t wd = {os->c, is->c, l->k_h, l->k_w};
	dnnl_dims_t gwd = {groups, os->c / groups, is->c / groups, l->k_h, l->k_w};
	dnnl_dims_t bd = {os->c}, strides = {l->stride, l->stride}, pad = {l->pad, l->pad};
	dnnl_dims_t pad_r = {(os->h - 1) * l->stride + l->k_h - is->h - l->pad,
			     (os->w - 1) * l->stride + l->k_w - is->w - l->pad};
	struct step *s;
	int ret = 0;

	if (!attr) {
		util_seterr(err, errlen, "oneDNN: cannot make attributes for %s", where);
		return IDN_EBACKEND;
	}
	/* 5x5: our own Winograd (oneDNN's is for 3x3 only). */
	if (wino5_eligible(l, is, os)) {
		dnnl_primitive_attr_destroy(attr);
		return odnn_plan_wino5(p, g, l, err, errlen);
	}
	/* 11x11 stride 4: space to depth, then oneDNN's 3x3 Winograd. */
	if (odnn_s2d_taps(l, is, os)) {
		ret = odnn_plan_s2d(p, g, l, odnn_s2d_taps(l, is, os), err, errlen);
		if (ret) {
			dnnl_primitive_attr_destroy(attr);
			return ret < 0 ? ret : 0;
		}
	}
	CHK(dnnl_memory_desc_init_by_tag(&src_any, 4, sd, dnnl_f32, dnnl_format_tag_any));
	if (groups == 1) {
		CHK(dnnl_memory_desc_init_by_tag(&w_any, 4, wd, dnnl_f32, dnnl_format_tag_any));
		CHK(dnnl_memory_desc_init_by_tag(&user_w, 4, wd, dnnl_f32, dnnl_oihw));
	} else {
		CHK(dnnl_memory_desc_init_by_tag(&w_any, 5, gwd, dnnl_f32, dnnl_format_tag_any));
		CHK(dnnl_memory_desc_init_by_tag(&user_w, 5, gwd, dnnl_f32, dnnl_goihw));
	}
	CHK(dnnl_memory_desc_init_by_tag(&b_md, 1, bd, dnnl_f32, dnnl_x));
	if (l->accumulate)
		dst_md = p->md[l->dst]; /* the residual's layout, summed into in place */
	else
		CHK(dnnl_memory_desc_init_by_tag(&dst_md, 4, dd, dnnl_f32, dnnl_format_tag_any));

	/* Winograd where it wins and the CPU has it (else oneDNN refuses). */
	if ((wino = winograd_impl(l, os, n)) &&
	    dnnl_convolution_forward_desc_init(
		    &cd, dnnl_forward_inference, dnnl_convolution_winograd, &src_any, &w_any,
		    l->bias ? &b_md : NULL, &dst_md, strides, pad, pad_r) == dnnl_success &&
	    !odnn_pd_create(&pd, &cd, attr, p->eng, wino))
		goto created;
	/* Take the input as it lies if the convolution can; else let it choose. */
	CHK(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct,
					       &p->md[l->src], &w_any, l->bias ? &b_md : NULL,
					       &dst_md, strides, pad, pad_r));
	if (odnn_pd_create(&pd, &cd, attr, p->eng, NULL)) {
		CHK(dnnl_convolution_forward_desc_init(
			&cd, dnnl_forward_inference, dnnl_convolution_direct, &src_any, &w_any,
			l->bias ? &b_md : NULL, &dst_md, strides, pad, pad_r));
		CHK(dnnl_primitive_desc_create(&pd, &cd, attr, p->eng, NULL));
	}
created:
	ret = odnn_add_primitive(p, pd, l->src, &s, where, err, errlen);
	if (ret)
		goto err;
	ret = odnn_add_weights(p, pd, s, &user_w, l, os->c, where, err, errlen);
	if (ret)
		goto err;
	if (l->accumulate)
		add_arg(s, DNNL_ARG_DST, p->mem[l->dst]);
	else
		ret = odnn_bind_dst(p, pd, l->dst, s, where, err, errlen);
err:
	if (pd)
		dnnl_primitive_desc_destroy(pd);
	dnnl_primitive_attr_destroy(attr);
	return ret;
}

int odnn_plan_pool(struct onednn_plan *p, const struct kern_graph *g, const struct kern_layer *l,
		   char *err, size_t errlen)
{
	const char *where = l->name ? l->name : kern_op_name(l->op);
	const struct kern_shape *is = &g->shapes[l->src], *os = &g->shapes[l->dst];
	int n = p->base.batch, kh = l->k_h, kw = l->k_w, sh = l->stride, sw = l->stride;
	int pad = l->pad;
	dnnl_alg_kind_t alg = dnnl_pooling_max;
	dnnl_memory_desc_t dst_any;
	dnnl_pooling_v2_desc_t pdsc;
	dnnl_primitive_desc_t pd = NULL;
	dnnl_primitive_attr_t attr = NULL;
	struct step *s;
	int ret = 0;

	if (l->op == KERN_OP_AVGPOOL) {
		/* Adaptive pooling is a plain average pool when the sizes divide. */
		if (is->h % os->h || is->w % os->w) {
			util_seterr(err, errlen,
				    "%s: adaptive pool %dx%d -> %dx%d not supported by oneDNN",
				    where, is->h, is->w, os->h, os->w);
			return IDN_EUNSUPPORTED;
		}
		kh = sh = is->h / os->h;
		kw = sw = is->w / os->w;
		pad = 0;
		alg = dnnl_pooling_avg_exclude_padding;
	}
	{
		dnnl_dims_t dd = {n, os->c, os->h, os->w}, st = {sh, sw}, k = {kh, kw};
		dnnl_dims_t dil = {0, 0}, pl = {pad, pad};
		dnnl_dims_t pr = {(os->h - 1) * sh + kh - is->h - pad,
				  (os->w - 1) * sw + kw - is->w - pad};
		attr = odnn_make_attr(0, l->relu);
		if (!attr) {
			util_seterr(err, errlen, "oneDNN: cannot make attributes for %s", where);
			return IDN_EBACKEND;
		}
		CHK(dnnl_memory_desc_init_by_tag(&dst_any, 4, dd, dnnl_f32, dnnl_format_tag_any));
		CHK(dnnl_pooling_v2_forward_desc_init(&pdsc, dnnl_forward_inference, alg,
						      &p->md[l->src], &dst_any, st, k, dil, pl,
						      pr));
		CHK(dnnl_primitive_desc_create(&pd, &pdsc, attr, p->eng, NULL));
	}
	ret = odnn_add_primitive(p, pd, l->src, &s, where, err, errlen);
	if (!ret)
		ret = odnn_bind_dst(p, pd, l->dst, s, where, err, errlen);
err:
	if (pd)
		dnnl_primitive_desc_destroy(pd);
	if (attr)
		dnnl_primitive_attr_destroy(attr);
	return ret;
}

/* The batch size at which the prepacked FC weight layout is chosen: one
 * layout, and so one prepared copy, for the plans of every batch size. */
#define FC_PACK_BATCH 16

/*
 * The inner product with weights in the layout oneDNN prefers (prepacked
 * once into the cache), that layout being the one it picks at FC_PACK_BATCH
 * whatever this plan's batch.  Returns 0 with *pd set, or -1 when oneDNN
 * has no such primitive (the caller then reads the weights in place).
 */
static int fc_packed_pd(struct onednn_plan *p, const struct kern_shape *is, int nd, int oc,
			int bias, dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *pd)
{
	int n = p->base.batch, m = FC_PACK_BATCH, ic = (int)kern_shape_elems(is);
	dnnl_dims_t sd4 = {n, is->c, is->h, is->w}, sd2 = {n, ic}, rsd4 = {m, is->c, is->h, is->w};
	dnnl_dims_t rsd2 = {m, ic}, wd4 = {oc, is->c, is->h, is->w}, wd2 = {oc, ic};
	dnnl_dims_t bd = {oc}, dd = {n, oc}, rdd = {m, oc};
	dnnl_memory_desc_t src, rsrc, w_any, b_md, dst, rdst, packed;
	dnnl_inner_product_desc_t ipd;
	dnnl_primitive_desc_t ref = NULL;

	if (dnnl_memory_desc_init_by_tag(&src, nd, nd == 4 ? sd4 : sd2, dnnl_f32,
					 dnnl_format_tag_any) ||
	    dnnl_memory_desc_init_by_tag(&rsrc, nd, nd == 4 ? rsd4 : rsd2, dnnl_f32,
					 dnnl_format_tag_any) ||
	    dnnl_memory_desc_init_by_tag(&w_any, nd, nd == 4 ? wd4 : wd2, dnnl_f32,
					 dnnl_format_tag_any) ||
	    dnnl_memory_desc_init_by_tag(&b_md, 1, bd, dnnl_f32, dnnl_x) ||
	    dnnl_memory_desc_init_by_tag(&dst, 2, dd, dnnl_f32, dnnl_nc) ||
	    dnnl_memory_desc_init_by_tag(&rdst, 2, rdd, dnnl_f32, dnnl_nc) ||
	    dnnl_inner_product_forward_desc_init(&ipd, dnnl_forward_inference, &rsrc, &w_any,
						 bias ? &b_md : NULL, &rdst) ||
	    odnn_pd_create(&ref, &ipd, attr, p->eng, NULL))
		return -1;
	packed = *dnnl_primitive_desc_query_md(ref, dnnl_query_weights_md, 0);
	dnnl_primitive_desc_destroy(ref);
	/* 2-D weights as [ic][oc] when batch 1 runs on our GEMV: rows of
	 * weights it can skip whole for a zero input (kern_gemv.c; oneDNN's
	 * AB16b64a interleaves them in 256-byte pieces, which the prefetcher
	 * reads anyway).  AlexNet: fc7 and fc8 at batch 1 2.8 and 0.7 ms ->
	 * 1.3 and 0.4, at batch 16 4.1 and 1.0 -> 5.0-5.7 and 1.2-1.5, at 64
	 * unchanged (docs/engine.md). */
	if (nd == 2 && gemv_available() &&
	    dnnl_memory_desc_init_by_tag(&packed, 2, wd2, dnnl_f32, dnnl_ba))
		return -1;
	if (dnnl_inner_product_forward_desc_init(&ipd, dnnl_forward_inference, &src, &packed,
						 bias ? &b_md : NULL, &dst))
		return -1;
	return odnn_pd_create(pd, &ipd, attr, p->eng, NULL);
}

int odnn_plan_fc(struct onednn_plan *p, const struct kern_graph *g, const struct kern_layer *l,
		 char *err, size_t errlen)
{
	const char *where = l->name ? l->name : "fc";
	const struct kern_shape *is = &g->shapes[l->src], *os = &g->shapes[l->dst];
	int n = p->base.batch, nd = p->md[l->src].ndims;
	dnnl_memory_desc_t w_any, user_w, b_md, dst_md, src_plain;
	dnnl_inner_product_desc_t ipd;
	dnnl_primitive_desc_t pd = NULL;
	dnnl_primitive_attr_t attr = odnn_make_attr(0, l->relu);
	dnnl_dims_t wd4 = {os->c, is->c, is->h, is->w}, wd2 = {os->c, (int)kern_shape_elems(is)};
	dnnl_dims_t sd4 = {n, is->c, is->h, is->w}, sd2 = {n, (int)kern_shape_elems(is)};
	dnnl_dims_t bd = {os->c}, dd = {n, os->c};
	struct step *s;
	int ret = 0;

	if (!attr) {
		util_seterr(err, errlen, "oneDNN: cannot make attributes for %s", where);
		return IDN_EBACKEND;
	}
	/* FC weights are prepacked once into the layout oneDNN's inner product
	 * prefers (fc_packed_pd), shared by the plans of every batch size: read
	 * in torchvision's layout, GEMM repacked all of AlexNet's 234 MB of FC
	 * weights on every run (batch 16: 101 ms in the FC layers, 21 ms
	 * prepacked).  IDUNNO_FC_PACK=0, or a oneDNN without such a primitive,
	 * keeps the old way: weights read in place, plain input. */
	CHK(dnnl_memory_desc_init_by_tag(&user_w, nd, nd == 4 ? wd4 : wd2, dnnl_f32,
					 nd == 4 ? dnnl_oihw : dnnl_oi));
	w_any = user_w;
	CHK(dnnl_memory_desc_init_by_tag(&src_plain, nd, nd == 4 ? sd4 : sd2, dnnl_f32,
					 nd == 4 ? dnnl_nchw : dnnl_nc));
	CHK(dnnl_memory_desc_init_by_tag(&b_md, 1, bd, dnnl_f32, dnnl_x));
	CHK(dnnl_memory_desc_init_by_tag(&dst_md, 2, dd, dnnl_f32, dnnl_nc));
	if (kern_switch("IDUNNO_FC_PACK") && !fc_packed_pd(p, is, nd, os->c, !!l->bias, attr, &pd))
		goto created;
	/* ...and so does the input (a small reorder when the layer before left it
	 * blocked): plain input and plain weights take oneDNN's GEMM path. */
	CHK(dnnl_inner_product_forward_desc_init(&ipd, dnnl_forward_inference, &src_plain, &w_any,
						 l->bias ? &b_md : NULL, &dst_md));
	CHK(dnnl_primitive_desc_create(&pd, &ipd, attr, p->eng, NULL));
created:
	ret = odnn_add_primitive(p, pd, l->src, &s, where, err, errlen);
	if (ret)
		goto err;
	ret = odnn_add_weights(p, pd, s, &user_w, l, os->c, where, err, errlen);
	if (!ret)
		ret = odnn_bind_dst(p, pd, l->dst, s, where, err, errlen);
	if (!ret)
		odnn_fc_gemv(p, s, pd, is, os->c, l->relu);
err:
	if (pd)
		dnnl_primitive_desc_destroy(pd);
	dnnl_primitive_attr_destroy(attr);
	return ret;
}
