/*
 * image.c - JPEG decoding and ImageNet preprocessing.
 *
 * The resize follows PIL's ImagingResample for 8-bit images: a triangle
 * filter whose support grows with the scale (antialiasing), coefficients
 * normalised and held in 22-bit fixed point, a horizontal pass then a
 * vertical one, each rounded to 8 bits.
 */
#include "image.h"
#include "model.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#define PRECISION_BITS (32 - 8 - 2)
#define RESIZE_SHORT   256

static const float mean[3] = {0.485f, 0.456f, 0.406f};
static const float stdv[3] = {0.229f, 0.224f, 0.225f};

static double triangle(double x)
{
	x = fabs(x);
	return x < 1.0 ? 1.0 - x : 0.0;
}

/* Per output pixel: first input index, count, fixed-point weights. */
struct coeffs {
	int ksize;
	int *start, *count;
	int *k; /* out x ksize */
};

static void coeffs_make(int in, int out, struct coeffs *c)
{
	double scale = (double)in / out, filterscale = scale < 1.0 ? 1.0 : scale;
	double support = 1.0 * filterscale;
	double *w;

	c->ksize = (int)ceil(support) * 2 + 1;
	c->start = xmalloc((size_t)out * sizeof(int));
	c->count = xmalloc((size_t)out * sizeof(int));
	c->k = xcalloc((size_t)out * c->ksize, sizeof(int));
	w = xmalloc((size_t)c->ksize * sizeof(double));
	for (int xx = 0; xx < out; xx++) {
		double center = (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
		int xmin = (int)(center - support + 0.5), xmax;
		if (xmin < 0)
			xmin = 0;
		xmax = (int)(center + support + 0.5);
		if (xmax > in)
			xmax = in;
		xmax -= xmin;
		for (int x = 0; x < xmax; x++) {
			w[x] = triangle((x + xmin - center + 0.5) * ss);
			ww += w[x];
		}
		for (int x = 0; x < xmax; x++) {
			double v = ww != 0.0 ? w[x] / ww : 0.0;
			c->k[xx * c->ksize + x] = (int)(v < 0 ? v * (1 << PRECISION_BITS) - 0.5
							      : v * (1 << PRECISION_BITS) + 0.5);
		}
		c->start[xx] = xmin;
		c->count[xx] = xmax;
	}
	free(w);
}

static void coeffs_free(struct coeffs *c)
{
	free(c->start);
	free(c->count);
	free(c->k);
}

static unsigned char clip8(int64_t v)
{
	v >>= PRECISION_BITS;
	return (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* RGB interleaved in (iw x ih) to out (ow x ih), horizontally. */
static void resample_h(const unsigned char *in, int iw, int ih, unsigned char *out, int ow)
{
	struct coeffs c;

	coeffs_make(iw, ow, &c);
	for (int y = 0; y < ih; y++)
		for (int xx = 0; xx < ow; xx++) {
			const int *k = &c.k[xx * c.ksize];
			const unsigned char *row = in + ((size_t)y * iw + c.start[xx]) * 3;
			for (int ch = 0; ch < 3; ch++) {
				int64_t ss = 1 << (PRECISION_BITS - 1);
				for (int x = 0; x < c.count[xx]; x++)
					ss += (int64_t)row[x * 3 + ch] * k[x];
				out[((size_t)y * ow + xx) * 3 + ch] = clip8(ss);
			}
		}
	coeffs_free(&c);
}

static void resample_v(const unsigned char *in, int w, int ih, unsigned char *out, int oh)
{
	struct coeffs c;

	coeffs_make(ih, oh, &c);
	for (int yy = 0; yy < oh; yy++) {
		const int *k = &c.k[yy * c.ksize];
		for (int x = 0; x < w * 3; x++) {
			int64_t ss = 1 << (PRECISION_BITS - 1);
			for (int y = 0; y < c.count[yy]; y++)
				ss += (int64_t)in[(size_t)(c.start[yy] + y) * w * 3 + x] * k[y];
			out[(size_t)yy * w * 3 + x] = clip8(ss);
		}
	}
	coeffs_free(&c);
}

/* Python's round(): halves to even. */
static int round_half_even(double v)
{
	double r = nearbyint(v); /* default rounding mode is to-nearest-even */
	return (int)r;
}

int image_from_jpeg(const unsigned char *jpeg, size_t len, float *out, char *err, size_t errlen)
{
	tjhandle tj = tjInitDecompress();
	unsigned char *rgb = NULL, *tmp = NULL, *rs = NULL;
	int w, h, sub, cs, nw, nh, ret = -EINVAL;

	if (!tj) {
		util_seterr(err, errlen, "cannot start the JPEG decoder");
		return -ENOMEM;
	}
	if (len > (1ul << 30) ||
	    tjDecompressHeader3(tj, jpeg, (unsigned long)len, &w, &h, &sub, &cs)) {
		util_seterr(err, errlen, "not a JPEG image (%s)", tjGetErrorStr2(tj));
		goto out;
	}
	if (w < 1 || h < 1) { /* a header cut short: no frame with a size in it */
		util_seterr(err, errlen,
			    "truncated or corrupt JPEG: its header gives no image size");
		goto out;
	}
	if ((uint64_t)w * h > IMAGE_MAX_PIXELS) {
		util_seterr(err, errlen, "image %dx%d is larger than %u pixels", w, h,
			    IMAGE_MAX_PIXELS);
		goto out;
	}
	rgb = malloc((size_t)w * h * 3);
	if (!rgb) {
		ret = -ENOMEM;
		util_seterr(err, errlen, "out of memory for a %dx%d image", w, h);
		goto out;
	}
	/* Strict: a warning (a truncated file, say) is an error too, rather than
	 * classifying an image that is partly grey. */
	if (tjDecompress2(tj, jpeg, (unsigned long)len, rgb, w, 0, h, TJPF_RGB,
			  TJFLAG_STOPONWARNING)) {
		util_seterr(err, errlen, "corrupt JPEG: %s", tjGetErrorStr2(tj));
		goto out;
	}
	/* torchvision Resize(256): short side to 256, long side truncated. */
	if (w <= h) {
		nw = RESIZE_SHORT;
		nh = (int)((int64_t)RESIZE_SHORT * h / w);
	} else {
		nh = RESIZE_SHORT;
		nw = (int)((int64_t)RESIZE_SHORT * w / h);
	}
	if ((uint64_t)nw * nh > IMAGE_MAX_PIXELS) {
		util_seterr(err, errlen, "image %dx%d has an extreme aspect ratio", w, h);
		goto out;
	}
	tmp = xmalloc((size_t)nw * h * 3);
	rs = xmalloc((size_t)nw * nh * 3);
	if (nw != w)
		resample_h(rgb, w, h, tmp, nw);
	else
		memcpy(tmp, rgb, (size_t)w * h * 3);
	if (nh != h)
		resample_v(tmp, nw, h, rs, nh);
	else
		memcpy(rs, tmp, (size_t)nw * nh * 3);
	{
		int top = round_half_even((nh - MODEL_IN_H) / 2.0);
		int left = round_half_even((nw - MODEL_IN_W) / 2.0);
		for (int ch = 0; ch < 3; ch++)
			for (int y = 0; y < MODEL_IN_H; y++)
				for (int x = 0; x < MODEL_IN_W; x++) {
					unsigned char v =
						rs[((size_t)(top + y) * nw + left + x) * 3 + ch];
					out[((size_t)ch * MODEL_IN_H + y) * MODEL_IN_W + x] =
						(v / 255.0f - mean[ch]) / stdv[ch];
				}
	}
	ret = 0;
out:
	free(rgb);
	free(tmp);
	free(rs);
	tjDestroy(tj);
	return ret;
}

int image_load(const char *path, int raw, float *out, char *err, size_t errlen)
{
	const size_t want = MODEL_IN_ELEMS * sizeof(float);
	char *buf = NULL, sub[256];
	size_t len;
	int ret;

	ret = util_read_file(path, raw ? want : (256u << 20), &buf, &len);
	if (ret) {
		util_seterr(err, errlen, "%s: %s", path,
			    ret == -EFBIG ? (raw ? "not a 3x224x224 float32 tensor (too large)"
						 : "larger than 256 MiB")
					  : strerror(-ret));
		return ret;
	}
	if (raw) {
		if (len != want) {
			util_seterr(err, errlen,
				    "%s: %zu bytes, a raw 3x224x224 float32 tensor has %zu", path,
				    len, want);
			ret = -EINVAL;
		} else {
			memcpy(out, buf, want);
			for (size_t i = 0; i < MODEL_IN_ELEMS && !ret; i++)
				if (!isfinite(out[i])) {
					util_seterr(
						err, errlen,
						"%s: element %zu is %s: an input must hold finite "
						"numbers",
						path, i, isnan(out[i]) ? "NaN" : "infinite");
					ret = -EDOM;
				}
		}
	} else {
		ret = image_from_jpeg((unsigned char *)buf, len, out, sub, sizeof(sub));
		if (ret)
			util_seterr(err, errlen, "%s: %s", path, sub);
	}
	free(buf);
	return ret;
}
