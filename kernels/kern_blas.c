/*
 * kern_blas.c - the OpenBLAS backend: convolutions as im2col + sgemm (1x1
 * stride-1 convolutions need no im2col), fully connected layers as one
 * sgemm per batch.  Residuals are added by sgemm itself (beta = 1).
 */
#include "kern_impl.h"

#include <cblas.h>
#include <string.h>

/* cols[(ic*kh + ky)*kw + kx][oy*ow + ox] for one image and one group. */
static void im2col(const float *src, const struct kern_shape *is, int icg,
		   const struct kern_layer *l, int oh, int ow, float *cols)
{
	for (int ic = 0; ic < icg; ic++)
		for (int ky = 0; ky < l->k_h; ky++)
			for (int kx = 0; kx < l->k_w; kx++) {
				const float *s = src + (size_t)ic * is->h * is->w;
				float *c =
					cols + ((size_t)(ic * l->k_h + ky) * l->k_w + kx) * oh * ow;
				for (int oy = 0; oy < oh; oy++) {
					int iy = oy * l->stride - l->pad + ky;
					float *crow = c + (size_t)oy * ow;
					if (iy < 0 || iy >= is->h) {
						memset(crow, 0, (size_t)ow * sizeof(float));
						continue;
					}
					for (int ox = 0; ox < ow; ox++) {
						int ix = ox * l->stride - l->pad + kx;
						crow[ox] = ix >= 0 && ix < is->w
								   ? s[iy * is->w + ix]
								   : 0.0f;
					}
				}
			}
}

static int is_pointwise(const struct kern_layer *l)
{
	return l->k_h == 1 && l->k_w == 1 && l->stride == 1 && l->pad == 0;
}

static size_t blas_conv_scratch(const struct kern_layer *l, const struct kern_shape *is,
				const struct kern_shape *os)
{
	int groups = l->groups ? l->groups : 1;

	if (is_pointwise(l))
		return 0;
	return (size_t)(is->c / groups) * l->k_h * l->k_w * os->h * os->w;
}

/* Bias and ReLU in one pass over the output of one image. */
static void bias_relu(const struct kern_layer *l, int oc, size_t plane, float *dst)
{
	if (!l->bias && !l->relu)
		return;
	for (int o = 0; o < oc; o++) {
		float b = l->bias ? l->bias[o] : 0.0f, *d = dst + (size_t)o * plane;
		if (l->relu)
			for (size_t i = 0; i < plane; i++) {
				float v = d[i] + b;
				d[i] = v > 0 ? v : 0;
			}
		else
			for (size_t i = 0; i < plane; i++)
				d[i] += b;
	}
}

static void blas_conv(const struct kern_layer *l, int n, const struct kern_shape *is,
		      const struct kern_shape *os, const float *src, float *dst, float *cols)
{
	int groups = l->groups ? l->groups : 1;
	int icg = is->c / groups, ocg = os->c / groups;
	int kdim = icg * l->k_h * l->k_w;
	size_t plane = (size_t)os->h * os->w;
	float beta = l->accumulate ? 1.0f : 0.0f;

	for (int b = 0; b < n; b++) {
		const float *s = src + (size_t)b * kern_shape_elems(is);
		float *d = dst + (size_t)b * kern_shape_elems(os);
		for (int g = 0; g < groups; g++) {
			const float *sg = s + (size_t)g * icg * is->h * is->w;
			const float *bmat = sg;
			if (!is_pointwise(l)) {
				im2col(sg, is, icg, l, os->h, os->w, cols);
				bmat = cols;
			}
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ocg, (int)plane,
				    kdim, 1.0f, l->weight + (size_t)g * ocg * kdim, kdim, bmat,
				    (int)plane, beta, d + (size_t)g * ocg * plane, (int)plane);
		}
		bias_relu(l, os->c, plane, d);
	}
}

static void blas_fc(const struct kern_layer *l, int n, int ic, int oc, const float *src, float *dst)
{
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, oc, ic, 1.0f, src, ic, l->weight,
		    ic, 0.0f, dst, oc);
	for (int b = 0; b < n; b++)
		for (int o = 0; o < oc; o++) {
			float v = dst[(size_t)b * oc + o] + (l->bias ? l->bias[o] : 0.0f);
			dst[(size_t)b * oc + o] = l->relu && v < 0 ? 0 : v;
		}
}

static const struct kern_plain_ops blas_ops = {
	.conv = blas_conv,
	.conv_scratch = blas_conv_scratch,
	.fc = blas_fc,
};

static int blas_plan_create(const struct kern_graph *g, int batch, struct kern_cache *cache,
			    struct kern_plan **out, char *err, size_t errlen)
{
	return kern_plain_plan_create(&kern_backend_blas, &blas_ops, g, batch, out, err, errlen);
}

const struct kern_backend kern_backend_blas = {
	.name = "blas",
	.plan_create = blas_plan_create,
	.plan_run = kern_plain_plan_run,
	.plan_workspace = kern_plain_plan_workspace,
	.plan_free = kern_plain_plan_free,
};
