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
#ifdef __SSE2__
#include <emmintrin.h>
#endif

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

/* A weight's high and low part, each a 16-bit multiplier (weights are at
 * most 1 << 22): k = K_HI(k) << 11 | K_LO(k). */
#define K_HI(k) ((uint32_t)(k) >> 11)
#define K_LO(k) ((uint32_t)(k)&2047)

/*
 * The horizontal pass over RGBX rows (4 bytes a pixel, stride istride):
 * row y0 + y of in (y < nrows) resized from iw to ow pixels, only output
 * columns x0..x0+ncols computed, into out as packed RGB (ncols x 3 bytes a
 * row; one byte past the last pixel is written, the caller leaves room).
 *
 * With SSE2 each output pixel sums a window of an even number K of taps,
 * clamped inside the row, with zero weights for the taps it does not use,
 * two taps at a time with 16-bit multiplies: a 22-bit weight k is split
 * into k >> 11 and k & 2047, and the two sums are put back together as
 * (hi << 11) + lo.  The sums are integers, so the result is exactly the
 * scalar loop's (the tensors of tests/model_oracle.py stay identical).
 */
static void resample_h(const unsigned char *in, size_t istride, int iw, int y0, int nrows, int ow,
		       int x0, int ncols, unsigned char *out)
{
	struct coeffs c;
	const size_t ostride = (size_t)ncols * 3;

	coeffs_make(iw, ow, &c);
#ifdef __SSE2__
	int K = 0; /* the most taps an output column uses, made even */
	for (int xx = x0; xx < x0 + ncols; xx++)
		K = c.count[xx] > K ? c.count[xx] : K;
	K = (K + 1) & ~1;
	if (iw >= K) {
		int *ws = xmalloc((size_t)ncols * sizeof(*ws));
		uint32_t *wp = xcalloc((size_t)ncols * K, sizeof(*wp)); /* hi, lo pairs */
		const __m128i zero = _mm_setzero_si128(), half = _mm_set1_epi32(1 << 21);

		for (int j = 0; j < ncols; j++) {
			int xx = x0 + j, s = c.start[xx], w0 = s > iw - K ? iw - K : s;
			ws[j] = w0;
			for (int i = 0; i < c.count[xx]; i++) {
				uint32_t k = (uint32_t)c.k[xx * c.ksize + i],
					 t = (uint32_t)(s - w0 + i);
				uint32_t *p = &wp[(size_t)j * K + (t & ~1u)];
				p[0] |= K_HI(k) << (16 * (t & 1));
				p[1] |= K_LO(k) << (16 * (t & 1));
			}
		}
		for (int y = 0; y < nrows; y++) {
			const unsigned char *row = in + (size_t)(y0 + y) * istride;
			unsigned char *o = out + (size_t)y * ostride;
			for (int j = 0; j < ncols; j++) {
				const unsigned char *p = row + (size_t)ws[j] * 4;
				const uint32_t *w = &wp[(size_t)j * K];
				__m128i hi = zero, lo = zero, v;
				for (int t = 0; t < K; t += 2) {
					/* R0 R1 G0 G1 B0 B1 X0 X1 as 16-bit lanes */
					v = _mm_loadl_epi64((const __m128i *)(p + t * 4));
					v = _mm_unpacklo_epi8(v, _mm_srli_si128(v, 4));
					v = _mm_unpacklo_epi8(v, zero);
					hi = _mm_add_epi32(
						hi, _mm_madd_epi16(v, _mm_set1_epi32((int)w[t])));
					lo = _mm_add_epi32(
						lo,
						_mm_madd_epi16(v, _mm_set1_epi32((int)w[t + 1])));
				}
				v = _mm_add_epi32(_mm_add_epi32(_mm_slli_epi32(hi, 11), lo), half);
				v = _mm_srai_epi32(v, PRECISION_BITS);
				v = _mm_packus_epi16(_mm_packs_epi32(v, v), zero); /* clip8 */
				uint32_t px = (uint32_t)_mm_cvtsi128_si32(v);
				memcpy(o + (size_t)j * 3, &px, 4);
			}
		}
		free(ws);
		free(wp);
		coeffs_free(&c);
		return;
	}
#endif
	for (int y = 0; y < nrows; y++)
		for (int xx = x0; xx < x0 + ncols; xx++) {
			const int *k = &c.k[xx * c.ksize];
			const unsigned char *row =
				in + (size_t)(y0 + y) * istride + (size_t)c.start[xx] * 4;
			int32_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
			for (int x = 0; x < c.count[xx]; x++) {
				s0 += row[x * 4] * k[x];
				s1 += row[x * 4 + 1] * k[x];
				s2 += row[x * 4 + 2] * k[x];
			}
			unsigned char *o = out + (size_t)y * ostride + (size_t)(xx - x0) * 3;
			o[0] = clip8(s0);
			o[1] = clip8(s1);
			o[2] = clip8(s2);
		}
	coeffs_free(&c);
}

/* The same vertically, with c made for ih -> oh rows: rows y0..y0+nrows
 * of the output, from w packed RGB pixels a row (stride istride) whose
 * first row is input row in_y0, into out (packed).  With SSE2, 16 bytes
 * of a row at a time, two input rows per 16-bit multiply (the weights
 * split as in the horizontal pass); the same integer sums. */
static void resample_v(const unsigned char *in, size_t istride, int in_y0, int w,
		       const struct coeffs *c, int y0, int nrows, unsigned char *out)
{
	const int n = w * 3;

	for (int yy = y0; yy < y0 + nrows; yy++) {
		const int *k = &c->k[yy * c->ksize];
		const unsigned char *rows = in + (size_t)(c->start[yy] - in_y0) * istride;
		unsigned char *o = out + (size_t)(yy - y0) * n;
		int x = 0;
#ifdef __SSE2__
		const __m128i zero = _mm_setzero_si128(), half = _mm_set1_epi32(1 << 21);
		for (; x + 16 <= n; x += 16) {
			__m128i h0 = zero, h1 = zero, h2 = zero, h3 = zero;
			__m128i l0 = zero, l1 = zero, l2 = zero, l3 = zero, v;
			for (int y = 0; y < c->count[yy]; y += 2) {
				/* the last row of an odd count pairs with itself, weight 0 */
				int y1 = y + 1 < c->count[yy] ? y + 1 : y;
				uint32_t k1 = y + 1 < c->count[yy] ? (uint32_t)k[y + 1] : 0;
				__m128i wh = _mm_set1_epi32((int)(K_HI(k[y]) | K_HI(k1) << 16));
				__m128i wl = _mm_set1_epi32((int)(K_LO(k[y]) | K_LO(k1) << 16));
				__m128i a =
					_mm_loadu_si128((const __m128i *)(rows + y * istride + x));
				__m128i b =
					_mm_loadu_si128((const __m128i *)(rows + y1 * istride + x));
				__m128i ab = _mm_unpacklo_epi8(a, b);
#define VMADD(h, l, src)                                                                           \
	do {                                                                                       \
		h = _mm_add_epi32(h, _mm_madd_epi16(src, wh));                                     \
		l = _mm_add_epi32(l, _mm_madd_epi16(src, wl));                                     \
	} while (0)
				VMADD(h0, l0, _mm_unpacklo_epi8(ab, zero));
				VMADD(h1, l1, _mm_unpackhi_epi8(ab, zero));
				ab = _mm_unpackhi_epi8(a, b);
				VMADD(h2, l2, _mm_unpacklo_epi8(ab, zero));
				VMADD(h3, l3, _mm_unpackhi_epi8(ab, zero));
#undef VMADD
			}
#define VSUM(h, l)                                                                                 \
	_mm_srai_epi32(_mm_add_epi32(_mm_add_epi32(_mm_slli_epi32(h, 11), l), half), PRECISION_BITS)
			v = _mm_packus_epi16(_mm_packs_epi32(VSUM(h0, l0), VSUM(h1, l1)),
					     _mm_packs_epi32(VSUM(h2, l2), VSUM(h3, l3)));
#undef VSUM
			_mm_storeu_si128((__m128i *)(o + x), v);
		}
#endif
		for (; x < n; x++) {
			int32_t acc = 1 << (PRECISION_BITS - 1);
			for (int y = 0; y < c->count[yy]; y++)
				acc += rows[y * istride + x] * k[y];
			o[x] = clip8(acc);
		}
	}
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
	const unsigned char *vs; /* the crop, after both passes */
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
	rgb = malloc((size_t)w * h * 4);
	if (!rgb) {
		ret = -ENOMEM;
		util_seterr(err, errlen, "out of memory for a %dx%d image", w, h);
		goto out;
	}
	/* Strict: a warning (a truncated file, say) is an error too, rather than
	 * classifying an image that is partly grey. */
	if (tjDecompress2(tj, jpeg, (unsigned long)len, rgb, w, 0, h, TJPF_RGBX,
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
	/* Only the centre crop is computed: the horizontal pass its 224
	 * columns of the rows the vertical pass reads, the vertical pass its
	 * 224 rows (skipped when it would change nothing). */
	{
		int top = round_half_even((nh - MODEL_IN_H) / 2.0);
		int left = round_half_even((nw - MODEL_IN_W) / 2.0);
		int ylo = top, yhi = top + MODEL_IN_H; /* the input rows the crop needs */
		const size_t cw = (size_t)MODEL_IN_W * 3;
		struct coeffs vc;

		if (nh != h) {
			coeffs_make(h, nh, &vc);
			ylo = vc.start[top]; /* the starts never decrease */
			yhi = 0;
			for (int yy = top; yy < top + MODEL_IN_H; yy++)
				if (vc.start[yy] + vc.count[yy] > yhi)
					yhi = vc.start[yy] + vc.count[yy];
		}
		tmp = xmalloc(cw * (size_t)(yhi - ylo) + 1);
		resample_h(rgb, (size_t)w * 4, w, ylo, yhi - ylo, nw, left, MODEL_IN_W, tmp);
		vs = tmp;
		if (nh != h) {
			rs = xmalloc(cw * MODEL_IN_H);
			resample_v(tmp, cw, ylo, MODEL_IN_W, &vc, top, MODEL_IN_H, rs);
			coeffs_free(&vc);
			vs = rs;
		}
		/* The 256 values each channel can take, computed as before. */
		float lut[3][256];
		for (int ch = 0; ch < 3; ch++)
			for (int v = 0; v < 256; v++)
				lut[ch][v] = (v / 255.0f - mean[ch]) / stdv[ch];
		/* One pass over the packed crop, one store per plane. */
		const size_t plane = (size_t)MODEL_IN_H * MODEL_IN_W;
		for (size_t i = 0; i < plane; i++) {
			out[i] = lut[0][vs[i * 3]];
			out[plane + i] = lut[1][vs[i * 3 + 1]];
			out[2 * plane + i] = lut[2][vs[i * 3 + 2]];
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
