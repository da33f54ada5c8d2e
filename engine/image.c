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

/* Every sum is at most 255 x 2^22 plus the rounding half: 32 bits hold it. */
static unsigned char clip8(int32_t v)
{
	v >>= PRECISION_BITS;
	return (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/*
 * RGB interleaved rows (ih of them, stride istride bytes) resized
 * horizontally from iw to ow pixels; only output columns x0..x0+ncols are
 * computed (the crop needs no others), into out (ncols x ih, packed).
 */
static void resample_h(const unsigned char *in, size_t istride, int iw, int ih, int ow, int x0,
		       int ncols, unsigned char *out)
{
	struct coeffs c;

	coeffs_make(iw, ow, &c);
	for (int y = 0; y < ih; y++)
		for (int xx = x0; xx < x0 + ncols; xx++) {
			const int *k = &c.k[xx * c.ksize];
			const unsigned char *row =
				in + (size_t)y * istride + (size_t)c.start[xx] * 3;
			int32_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
			for (int x = 0; x < c.count[xx]; x++) {
				s0 += row[x * 3] * k[x];
				s1 += row[x * 3 + 1] * k[x];
				s2 += row[x * 3 + 2] * k[x];
			}
			unsigned char *o = out + ((size_t)y * ncols + (xx - x0)) * 3;
			o[0] = clip8(s0);
			o[1] = clip8(s1);
			o[2] = clip8(s2);
		}
	coeffs_free(&c);
}

/* The same vertically: ih rows of w RGB pixels (stride istride) to oh rows,
 * computing only rows y0..y0+nrows into out (packed). */
static void resample_v(const unsigned char *in, size_t istride, int w, int ih, int oh, int y0,
		       int nrows, unsigned char *out)
{
	struct coeffs c;

	int32_t *restrict acc = xmalloc((size_t)w * 3 * sizeof(*acc));

	coeffs_make(ih, oh, &c);
	/* Row by row, so the inner loop runs along a row (and vectorises); the
	 * sums are the same, added in the same order. */
	for (int yy = y0; yy < y0 + nrows; yy++) {
		const int *k = &c.k[yy * c.ksize];
		for (int x = 0; x < w * 3; x++)
			acc[x] = 1 << (PRECISION_BITS - 1);
		for (int y = 0; y < c.count[yy]; y++) {
			const unsigned char *restrict row =
				in + (size_t)(c.start[yy] + y) * istride;
			const int32_t ky = k[y];
			for (int x = 0; x < w * 3; x++)
				acc[x] += row[x] * ky;
		}
		for (int x = 0; x < w * 3; x++)
			out[(size_t)(yy - y0) * w * 3 + x] = clip8(acc[x]);
	}
	free(acc);
	coeffs_free(&c);
}

/* Python's round(): halves to even. */
static int round_half_even(double v)
{
	double r = nearbyint(v); /* default rounding mode is to-nearest-even */
	return (int)r;
}

/*
 * The fast path's DCT-domain scale: the largest 1/2, 1/4 or 1/8 that keeps
 * the short side at least twice the 256 it is resized to (so the
 * antialiased filter still does part of the reduction), or 1.
 */
static tjscalingfactor dct_scale(int w, int h)
{
	tjscalingfactor best = {1, 1};
	int n = 0, shortside = w < h ? w : h;
	const tjscalingfactor *sf = tjGetScalingFactors(&n);

	for (int i = 0; sf && i < n; i++)
		if (sf[i].num == 1 && sf[i].denom > best.denom && sf[i].denom <= 8 &&
		    TJSCALED(shortside, sf[i]) >= 2 * RESIZE_SHORT)
			best = sf[i];
	return best;
}

int image_from_jpeg(const unsigned char *jpeg, size_t len, float *out, char *err, size_t errlen)
{
	return image_from_jpeg_mode(jpeg, len, 0, out, err, errlen);
}

int image_from_jpeg_mode(const unsigned char *jpeg, size_t len, int fast, float *out, char *err,
			 size_t errlen)
{
	tjhandle tj = tjInitDecompress();
	unsigned char *rgb = NULL, *tmp = NULL, *rs = NULL;
	const unsigned char *hs, *vs; /* after the horizontal and the vertical pass */
	tjscalingfactor sf = {1, 1};
	int w = 0, h = 0, sub = 0, cs = 0, nw, nh, ret = -EINVAL;

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
	if (fast) { /* decode straight to a smaller size: fewer IDCTs, less to resize */
		sf = dct_scale(w, h);
		w = TJSCALED(w, sf);
		h = TJSCALED(h, sf);
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
	/* Only the centre crop is computed, and a pass that changes nothing is
	 * skipped, not copied: hs/vs point at the crop's first pixel. */
	{
		int top = round_half_even((nh - MODEL_IN_H) / 2.0);
		int left = round_half_even((nw - MODEL_IN_W) / 2.0);
		const size_t cw = (size_t)MODEL_IN_W * 3;
		size_t hstride = (size_t)w * 3, vstride;

		hs = rgb + (size_t)left * 3;
		if (nw != w) {
			tmp = xmalloc(cw * h);
			resample_h(rgb, hstride, w, h, nw, left, MODEL_IN_W, tmp);
			hs = tmp;
			hstride = cw;
		}
		vs = hs + (size_t)top * hstride;
		vstride = hstride;
		if (nh != h) {
			rs = xmalloc(cw * MODEL_IN_H);
			resample_v(hs, hstride, MODEL_IN_W, h, nh, top, MODEL_IN_H, rs);
			vs = rs;
			vstride = cw;
		}
		/* The 256 values each channel can take, computed as before. */
		float lut[3][256];
		for (int ch = 0; ch < 3; ch++)
			for (int v = 0; v < 256; v++)
				lut[ch][v] = (v / 255.0f - mean[ch]) / stdv[ch];
		for (int ch = 0; ch < 3; ch++)
			for (int y = 0; y < MODEL_IN_H; y++)
				for (int x = 0; x < MODEL_IN_W; x++)
					out[((size_t)ch * MODEL_IN_H + y) * MODEL_IN_W + x] =
						lut[ch]
						   [vs[(size_t)y * vstride + (size_t)x * 3 + ch]];
	}
	ret = 0;
out:
	free(rgb);
	free(tmp);
	free(rs);
	tjDestroy(tj);
	return ret;
}

int image_load(const char *path, int flags, float *out, char *err, size_t errlen)
{
	const int raw = flags & IMAGE_RAW;
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
		ret = image_from_jpeg_mode((unsigned char *)buf, len, !!(flags & IMAGE_FAST), out,
					   sub, sizeof(sub));
		if (ret)
			util_seterr(err, errlen, "%s: %s", path, sub);
	}
	free(buf);
	return ret;
}
