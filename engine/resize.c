/*
 * resize.c - PIL's 8-bit resampling (see resize.h), with SSE2 where the
 * compiler offers it and the same integer arithmetic either way.
 */
#include "resize.h"
#include "util.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define PRECISION_BITS (32 - 8 - 2)

static double triangle(double x)
{
	x = fabs(x);
	return x < 1.0 ? 1.0 - x : 0.0;
}

void resize_coeffs_make(int in, int out, struct resize_coeffs *c)
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

void resize_coeffs_free(struct resize_coeffs *c)
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
 * With SSE2 each output pixel sums a window of an even number K of taps
 * (the most any column uses), clamped inside the columns present, with
 * zero weights for the taps it does not use, two taps at a time with
 * 16-bit multiplies: a 22-bit weight k is split into K_HI and K_LO and the
 * two sums put back together as (hi << 11) + lo.  The sums are integers,
 * so the result is exactly the scalar loop's (the tensors of
 * tests/model_oracle.py stay identical to torchvision's).
 */
void resize_h(const unsigned char *in, size_t istride, int in_x0, int in_w, int nrows,
	      const struct resize_coeffs *c, int x0, int ncols, unsigned char *out)
{
	const size_t ostride = (size_t)ncols * 3;

#ifdef __SSE2__
	int K = 0; /* the most taps an output column uses, made even */
	for (int xx = x0; xx < x0 + ncols; xx++)
		K = c->count[xx] > K ? c->count[xx] : K;
	K = (K + 1) & ~1;
	if (in_w >= K) {
		int *ws = xmalloc((size_t)ncols * sizeof(*ws));
		uint32_t *wp = xcalloc((size_t)ncols * K, sizeof(*wp)); /* hi, lo pairs */
		const __m128i zero = _mm_setzero_si128(), half = _mm_set1_epi32(1 << 21);

		for (int j = 0; j < ncols; j++) {
			int xx = x0 + j, s = c->start[xx] - in_x0, w0 = s > in_w - K ? in_w - K : s;
			ws[j] = w0;
			for (int i = 0; i < c->count[xx]; i++) {
				uint32_t k = (uint32_t)c->k[xx * c->ksize + i],
					 t = (uint32_t)(s - w0 + i);
				uint32_t *p = &wp[(size_t)j * K + (t & ~1u)];
				p[0] |= K_HI(k) << (16 * (t & 1));
				p[1] |= K_LO(k) << (16 * (t & 1));
			}
		}
		for (int y = 0; y < nrows; y++) {
			const unsigned char *row = in + (size_t)y * istride;
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
		return;
	}
#endif
	for (int y = 0; y < nrows; y++)
		for (int xx = x0; xx < x0 + ncols; xx++) {
			const int *k = &c->k[xx * c->ksize];
			const unsigned char *row =
				in + (size_t)y * istride + (size_t)(c->start[xx] - in_x0) * 4;
			int32_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
			for (int x = 0; x < c->count[xx]; x++) {
				s0 += row[x * 4] * k[x];
				s1 += row[x * 4 + 1] * k[x];
				s2 += row[x * 4 + 2] * k[x];
			}
			unsigned char *o = out + (size_t)y * ostride + (size_t)(xx - x0) * 3;
			o[0] = clip8(s0);
			o[1] = clip8(s1);
			o[2] = clip8(s2);
		}
}

/* With SSE2, 16 bytes of a row at a time, two input rows per 16-bit
 * multiply (the weights split as in the horizontal pass); the same sums. */
void resize_v(const unsigned char *in, size_t istride, int in_y0, int w,
	      const struct resize_coeffs *c, int y0, int nrows, unsigned char *out)
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
