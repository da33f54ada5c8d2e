/*
 * kern_ref.c - the reference backend: plain loops over NCHW data,
 * accumulating in double.  Slow on purpose-free grounds of clarity; it is
 * the truth every fast backend is tested against.
 */
#include "kern_impl.h"

#include <float.h>
#include <math.h>

void kern_ref_conv(const struct kern_layer *l, int n, const struct kern_shape *is,
		   const struct kern_shape *os, const float *src, float *dst)
{
	int groups = l->groups ? l->groups : 1;
	int icg = is->c / groups, ocg = os->c / groups;

	for (int b = 0; b < n; b++)
		for (int oc = 0; oc < os->c; oc++) {
			int g = oc / ocg;
			const float *w = l->weight + (size_t)oc * icg * l->k_h * l->k_w;
			for (int oy = 0; oy < os->h; oy++)
				for (int ox = 0; ox < os->w; ox++) {
					double acc = l->bias ? l->bias[oc] : 0.0;
					size_t o = (((size_t)b * os->c + oc) * os->h + oy) * os->w +
						   ox;
					for (int ic = 0; ic < icg; ic++) {
						const float *s = src + ((size_t)b * is->c +
									(size_t)g * icg + ic) *
									       is->h * is->w;
						const float *wk = w + (size_t)ic * l->k_h * l->k_w;
						for (int ky = 0; ky < l->k_h; ky++) {
							int iy = oy * l->stride - l->pad + ky;
							if (iy < 0 || iy >= is->h)
								continue;
							for (int kx = 0; kx < l->k_w; kx++) {
								int ix = ox * l->stride - l->pad +
									 kx;
								if (ix < 0 || ix >= is->w)
									continue;
								acc += (double)s[iy * is->w + ix] *
								       wk[ky * l->k_w + kx];
							}
						}
					}
					if (l->accumulate)
						acc += dst[o];
					if (l->relu && acc < 0)
						acc = 0;
					dst[o] = (float)acc;
				}
		}
}

void kern_ref_maxpool(const struct kern_layer *l, int n, const struct kern_shape *is,
		      const struct kern_shape *os, const float *src, float *dst)
{
	for (int p = 0; p < n * is->c; p++) {
		const float *s = src + (size_t)p * is->h * is->w;
		float *d = dst + (size_t)p * os->h * os->w;
		for (int oy = 0; oy < os->h; oy++)
			for (int ox = 0; ox < os->w; ox++) {
				float m = -FLT_MAX;
				for (int ky = 0; ky < l->k_h; ky++) {
					int iy = oy * l->stride - l->pad + ky;
					if (iy < 0 || iy >= is->h)
						continue;
					for (int kx = 0; kx < l->k_w; kx++) {
						int ix = ox * l->stride - l->pad + kx;
						if (ix >= 0 && ix < is->w && s[iy * is->w + ix] > m)
							m = s[iy * is->w + ix];
					}
				}
				if (l->relu && m < 0)
					m = 0;
				d[oy * os->w + ox] = m;
			}
	}
}

/* Adaptive average pooling with torch's windows: [floor(i*in/out), ceil((i+1)*in/out)). */
void kern_ref_avgpool(int n, const struct kern_shape *is, const struct kern_shape *os,
		      const float *src, float *dst)
{
	for (int p = 0; p < n * is->c; p++) {
		const float *s = src + (size_t)p * is->h * is->w;
		float *d = dst + (size_t)p * os->h * os->w;
		for (int oy = 0; oy < os->h; oy++) {
			int y0 = oy * is->h / os->h, y1 = ((oy + 1) * is->h + os->h - 1) / os->h;
			for (int ox = 0; ox < os->w; ox++) {
				int x0 = ox * is->w / os->w,
				    x1 = ((ox + 1) * is->w + os->w - 1) / os->w;
				double acc = 0;
				for (int y = y0; y < y1; y++)
					for (int x = x0; x < x1; x++)
						acc += s[y * is->w + x];
				d[oy * os->w + ox] = (float)(acc / ((y1 - y0) * (x1 - x0)));
			}
		}
	}
}

void kern_ref_fc(const struct kern_layer *l, int n, int ic, int oc, const float *src, float *dst)
{
	for (int b = 0; b < n; b++)
		for (int o = 0; o < oc; o++) {
			const float *w = l->weight + (size_t)o * ic;
			const float *s = src + (size_t)b * ic;
			double acc = l->bias ? l->bias[o] : 0.0;
			for (int i = 0; i < ic; i++)
				acc += (double)s[i] * w[i];
			if (l->relu && acc < 0)
				acc = 0;
			dst[(size_t)b * oc + o] = (float)acc;
		}
}

static void ref_conv(const struct kern_layer *l, int n, const struct kern_shape *is,
		     const struct kern_shape *os, const float *src, float *dst, float *scratch)
{
	(void)scratch;
	kern_ref_conv(l, n, is, os, src, dst);
}

static size_t ref_conv_scratch(const struct kern_layer *l, const struct kern_shape *is,
			       const struct kern_shape *os)
{
	return 0;
}

static const struct kern_plain_ops ref_ops = {
	.conv = ref_conv,
	.conv_scratch = ref_conv_scratch,
	.fc = kern_ref_fc,
};

static int ref_plan_create(const struct kern_graph *g, int batch, struct kern_cache *cache,
			   struct kern_plan **out, char *err, size_t errlen)
{
	return kern_plain_plan_create(&kern_backend_ref, &ref_ops, g, batch, out, err, errlen);
}

const struct kern_backend kern_backend_ref = {
	.name = "ref",
	.plan_create = ref_plan_create,
	.plan_run = kern_plain_plan_run,
	.plan_workspace = kern_plain_plan_workspace,
	.plan_free = kern_plain_plan_free,
};
