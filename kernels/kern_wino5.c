/*
 * kern_wino5.c - 5x5 stride-1 convolution by Winograd F(4x4, 5x5).
 *
 * Each 4x4 block of output comes from an 8x8 tile of input: the tile is
 * transformed (V = B^T d B), multiplied elementwise by the transformed
 * weights (U = G g G^T) and summed over input channels, which for each of
 * the 64 tile elements is a small matrix product (tiles x ic) (ic x oc),
 * and transformed back (Y = A^T M A).  That is 64 x ic x oc multiply-adds
 * per 16 outputs against 25 x ic x oc per output directly: 6.25x fewer.
 *
 * The points are 0, +-1, +-2, +-1/2 and infinity; the rows of B^T are
 * scaled so that every entry of B^T and A^T is exact in float (multiples
 * of 1/8), and the scale goes into G, which is applied once, in double, at
 * plan time.
 *
 * Activations are oneDNN's nChw16c: the transforms run on 16 channels at
 * a time in AVX-512 registers.  The work is split into units of 7 tiles
 * of one image (one row of AlexNet's 27x27 map), each unit's transformed
 * input (64 x 7 x ic) and products (64 x 7 x one block of oc) staying in
 * the core's L2; units are shared among the OpenMP threads.
 */
#include "kern_impl.h"
#include "kern_wino5.h"
#include "util.h"

#include <immintrin.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define AVX512 __attribute__((target("avx512f,fma")))
#define INLINE __attribute__((always_inline)) inline
#define T      8  /* tile side */
#define E      64 /* tile elements */
#define OUT    4  /* output block side */
#define GROUP  7  /* tiles per unit and per micro-kernel call */

static const float BT[T][T] = {
	{1, 0, -21.f / 4, 0, 21.f / 4, 0, -1, 0},
	{0, 1, 1, -17.f / 4, -17.f / 4, 1, 1, 0},
	{0, 1, -1, -17.f / 4, 17.f / 4, 1, -1, 0},
	{0, 1, 1.f / 2, -5, -5.f / 2, 4, 2, 0},
	{0, -1, 1.f / 2, 5, -5.f / 2, -4, 2, 0},
	{0, 1, 2, -5.f / 4, -5.f / 2, 1.f / 4, 1.f / 2, 0},
	{0, -1, 2, 5.f / 4, -5.f / 2, -1.f / 4, 1.f / 2, 0},
	{0, 1, 0, -21.f / 4, 0, 21.f / 4, 0, -1},
};
static const float AT[OUT][T] = {
	{1, 1, 1, 1, 1, 1, 1, 0},
	{0, 1, -1, 2, -2, 1.f / 2, -1.f / 2, 0},
	{0, 1, 1, 4, 4, 1.f / 4, 1.f / 4, 0},
	{0, 1, -1, 8, -8, 1.f / 8, -1.f / 8, 1},
};
/* G row j is p_j^k (infinity: the last coefficient) divided by the factor
 * B^T's row j was multiplied by to make it as above (the rows of the
 * inverse Vandermonde matrix of the points, transposed). */
static const double G_SCALE[T] = {1, -9.0 / 2, 9.0 / 2, 180, 180, 45.0 / 64, 45.0 / 64, -1};
static const double POINT[T - 1] = {0, 1, -1, 2, -2, 0.5, -0.5};

struct wino5_weights {
	float *u; /* [E][oc / ocb][ic][ocb] */
	float *bias;
	int ic, oc, nv; /* nv: 16-wide vectors per block of oc */
};

struct wino5 {
	const struct wino5_weights *w;
	int n, ih, iw, oh, ow, pad, relu;
	int th, tw, ngroups, ocparts, nthr;
	float *scratch; /* per thread: V [E][GROUP][ic], then M [E][GROUP][ocb] */
	size_t per_thread;
};

int wino5_eligible(const struct kern_layer *l, const struct kern_shape *is,
		   const struct kern_shape *os)
{
	static int enabled = -1;

	if (enabled < 0) {
		__builtin_cpu_init();
		enabled = kern_switch("IDUNNO_WINO5") && __builtin_cpu_supports("avx512f") &&
			  __builtin_cpu_supports("fma");
	}
	return enabled && l->op == KERN_OP_CONV && l->k_h == 5 && l->k_w == 5 && l->stride == 1 &&
	       (l->groups ? l->groups : 1) == 1 && !l->accumulate && is->c % 16 == 0 &&
	       os->c % 16 == 0 && os->h == is->h + 2 * l->pad - 4 &&
	       os->w == is->w + 2 * l->pad - 4;
}

struct wino5_weights *wino5_weights_new(const struct kern_layer *l, int ic, int oc)
{
	struct wino5_weights *w = xcalloc(1, sizeof(*w));
	double g[T][5];
	int ocb;

	for (int j = 0; j < T; j++)
		for (int k = 0; k < 5; k++) {
			double v = j < T - 1 ? 1 : (k == 4);
			for (int q = 0; j < T - 1 && q < k; q++)
				v *= POINT[j];
			g[j][k] = v / G_SCALE[j];
		}
	w->ic = ic;
	w->oc = oc;
	w->nv = oc % 48 == 0 ? 3 : oc % 32 == 0 ? 2 : 1;
	ocb = w->nv * 16;
	w->u = xaligned_alloc((size_t)E * ic * oc * sizeof(float));
	w->bias = xaligned_alloc((size_t)oc * sizeof(float));
	for (int o = 0; o < oc; o++) {
		w->bias[o] = l->bias ? l->bias[o] : 0;
		for (int c = 0; c < ic; c++) {
			const float *k = l->weight + ((size_t)o * ic + c) * 25;
			double t[T][5];
			for (int a = 0; a < T; a++)
				for (int x = 0; x < 5; x++) {
					t[a][x] = 0;
					for (int y = 0; y < 5; y++)
						t[a][x] += g[a][y] * k[y * 5 + x];
				}
			for (int a = 0; a < T; a++)
				for (int b = 0; b < T; b++) {
					double s = 0;
					for (int x = 0; x < 5; x++)
						s += t[a][x] * g[b][x];
					w->u[(((size_t)(a * T + b) * (oc / ocb) + o / ocb) * ic +
					      c) * ocb +
					     o % ocb] = (float)s;
				}
		}
	}
	return w;
}

size_t wino5_weights_bytes(const struct wino5_weights *w)
{
	return ((size_t)E * w->ic * w->oc + (size_t)w->oc) * sizeof(float);
}

void wino5_weights_free(void *p)
{
	struct wino5_weights *w = p;

	if (w) {
		free(w->u);
		free(w->bias);
		free(w);
	}
}

/* acc + c x, with c a constant after unrolling: an add or a subtract for +-1. */
AVX512 static INLINE __m512 madd(__m512 acc, float c, __m512 x, int first)
{
	if (first)
		return c == 1	 ? x
		       : c == -1 ? _mm512_sub_ps(_mm512_setzero_ps(), x)
				 : _mm512_mul_ps(_mm512_set1_ps(c), x);
	return c == 1	 ? _mm512_add_ps(acc, x)
	       : c == -1 ? _mm512_sub_ps(acc, x)
			 : _mm512_fmadd_ps(_mm512_set1_ps(c), x, acc);
}

/* V[e] (e = i*8+k, stride es floats) of the 8x8 tile at (y0, x0) of one
 * 16-channel plane src (h x w x 16), zero outside. */
AVX512 static void in_tile(const float *src, int h, int w, int y0, int x0, float *v, size_t es)
{
	__m512 d[T][T], t[T][T];

#pragma GCC unroll 8
	for (int j = 0; j < T; j++)
#pragma GCC unroll 8
		for (int x = 0; x < T; x++) {
			int y = y0 + j, xx = x0 + x;
			d[j][x] = (unsigned)y < (unsigned)h && (unsigned)xx < (unsigned)w
					  ? _mm512_loadu_ps(src + ((size_t)y * w + xx) * 16)
					  : _mm512_setzero_ps();
		}
#pragma GCC unroll 8
	for (int i = 0; i < T; i++)
#pragma GCC unroll 8
		for (int x = 0; x < T; x++) {
			int first = 1;
			t[i][x] = _mm512_setzero_ps();
#pragma GCC unroll 8
			for (int j = 0; j < T; j++)
				if (BT[i][j] != 0) {
					t[i][x] = madd(t[i][x], BT[i][j], d[j][x], first);
					first = 0;
				}
		}
#pragma GCC unroll 8
	for (int i = 0; i < T; i++)
#pragma GCC unroll 8
		for (int k = 0; k < T; k++) {
			__m512 s = _mm512_setzero_ps();
			int first = 1;
#pragma GCC unroll 8
			for (int x = 0; x < T; x++)
				if (BT[k][x] != 0) {
					s = madd(s, BT[k][x], t[i][x], first);
					first = 0;
				}
			_mm512_storeu_ps(v + (size_t)(i * T + k) * es, s);
		}
}

/* The 4x4 outputs of one tile and 16 channels from M[e] (stride es):
 * + bias, ReLU, stored where inside the h x w plane dst. */
AVX512 static void out_tile(const float *m, size_t es, __m512 bias, int relu, float *dst, int h,
			    int w, int y0, int x0)
{
	__m512 t[OUT][T];

#pragma GCC unroll 8
	for (int b = 0; b < T; b++) {
		__m512 col[T];
#pragma GCC unroll 8
		for (int a = 0; a < T; a++)
			col[a] = _mm512_loadu_ps(m + (size_t)(a * T + b) * es);
#pragma GCC unroll 4
		for (int i = 0; i < OUT; i++) {
			int first = 1;
			t[i][b] = _mm512_setzero_ps();
#pragma GCC unroll 8
			for (int a = 0; a < T; a++)
				if (AT[i][a] != 0) {
					t[i][b] = madd(t[i][b], AT[i][a], col[a], first);
					first = 0;
				}
		}
	}
#pragma GCC unroll 4
	for (int i = 0; i < OUT; i++)
#pragma GCC unroll 4
		for (int k = 0; k < OUT; k++) {
			__m512 s = bias;
			int y = y0 + i, x = x0 + k;
#pragma GCC unroll 8
			for (int b = 0; b < T; b++)
				if (AT[k][b] != 0)
					s = madd(s, AT[k][b], t[i][b], 0);
			if (relu)
				s = _mm512_max_ps(s, _mm512_setzero_ps());
			if (y < h && x < w)
				_mm512_storeu_ps(dst + ((size_t)y * w + x) * 16, s);
		}
}

/* m[r][nv*16] = sum_c v[r][c] u[c][nv*16] for the 7 tiles r of a group. */
AVX512 static INLINE void micro(const float *v, const float *u, float *m, int ic, int nv)
{
	__m512 acc[GROUP][3];

#pragma GCC unroll 7
	for (int r = 0; r < GROUP; r++)
#pragma GCC unroll 3
		for (int j = 0; j < nv; j++)
			acc[r][j] = _mm512_setzero_ps();
	for (int c = 0; c < ic; c++) {
		__m512 b[3];
#pragma GCC unroll 3
		for (int j = 0; j < nv; j++)
			b[j] = _mm512_load_ps(u + ((size_t)c * nv + j) * 16);
#pragma GCC unroll 7
		for (int r = 0; r < GROUP; r++) {
			__m512 a = _mm512_set1_ps(v[(size_t)r * ic + c]);
#pragma GCC unroll 3
			for (int j = 0; j < nv; j++)
				acc[r][j] = _mm512_fmadd_ps(a, b[j], acc[r][j]);
		}
	}
#pragma GCC unroll 7
	for (int r = 0; r < GROUP; r++)
#pragma GCC unroll 3
		for (int j = 0; j < nv; j++)
			_mm512_storeu_ps(m + ((size_t)r * nv + j) * 16, acc[r][j]);
}

AVX512 static void micro_nv(const float *v, const float *u, float *m, int ic, int nv)
{
	if (nv == 3)
		micro(v, u, m, ic, 3);
	else if (nv == 2)
		micro(v, u, m, ic, 2);
	else
		micro(v, u, m, ic, 1);
}

/* One unit: image n, tiles [g*7, g*7+7), blocks of oc [ob0, ob1). */
AVX512 static void unit(const struct wino5 *c, const float *src, float *dst, int n, int g, int ob0,
			int ob1, float *scratch)
{
	const struct wino5_weights *w = c->w;
	int ic = w->ic, nv = w->nv, ocb = nv * 16, nob = w->oc / ocb;
	int t0 = g * GROUP, cnt = MIN(GROUP, c->th * c->tw - t0);
	float *v = scratch, *m = scratch + (size_t)E * GROUP * ic;
	size_t in_plane = (size_t)c->ih * c->iw * 16, out_plane = (size_t)c->oh * c->ow * 16;
	const float *img = src + (size_t)n * (ic / 16) * in_plane;
	float *out = dst + (size_t)n * (w->oc / 16) * out_plane;

	for (int r = 0; r < GROUP; r++) {
		int ty = (t0 + r) / c->tw, tx = (t0 + r) % c->tw;
		for (int cb = 0; cb < ic / 16; cb++) {
			float *vr = v + (size_t)r * ic + cb * 16;
			if (r < cnt)
				in_tile(img + cb * in_plane, c->ih, c->iw, ty * OUT - c->pad,
					tx * OUT - c->pad, vr, (size_t)GROUP * ic);
			else
				for (int e = 0; e < E; e++)
					memset(vr + (size_t)e * GROUP * ic, 0, 16 * sizeof(float));
		}
	}
	for (int ob = ob0; ob < ob1; ob++) {
		for (int e = 0; e < E; e++)
			micro_nv(v + (size_t)e * GROUP * ic,
				 w->u + ((size_t)e * nob + ob) * ic * ocb,
				 m + (size_t)e * GROUP * ocb, ic, nv);
		for (int r = 0; r < cnt; r++) {
			int ty = (t0 + r) / c->tw, tx = (t0 + r) % c->tw;
			for (int j = 0; j < nv; j++) {
				int cb = ob * nv + j;
				out_tile(m + (size_t)r * ocb + j * 16, (size_t)GROUP * ocb,
					 _mm512_load_ps(w->bias + cb * 16), c->relu,
					 out + cb * out_plane, c->oh, c->ow, ty * OUT, tx * OUT);
			}
		}
	}
}

struct wino5 *wino5_new(const struct wino5_weights *w, const struct kern_layer *l, int n,
			const struct kern_shape *is, const struct kern_shape *os)
{
	struct wino5 *c = xcalloc(1, sizeof(*c));
	int nob = w->oc / (w->nv * 16);

	c->w = w;
	c->n = n;
	c->ih = is->h;
	c->iw = is->w;
	c->oh = os->h;
	c->ow = os->w;
	c->pad = l->pad;
	c->relu = l->relu;
	c->th = (os->h + OUT - 1) / OUT;
	c->tw = (os->w + OUT - 1) / OUT;
	c->ngroups = (c->th * c->tw + GROUP - 1) / GROUP;
	c->nthr = MAX(omp_get_max_threads(), 1);
	/* Too few units to keep every thread busy: split the blocks of oc too
	 * (each part then transforms the same input again, a small cost). */
	c->ocparts = 1;
	while (c->ocparts < nob && n * c->ngroups * c->ocparts < 4 * c->nthr)
		c->ocparts++;
	c->per_thread = (size_t)E * GROUP * (w->ic + w->nv * 16);
	c->scratch = xaligned_alloc((size_t)c->nthr * c->per_thread * sizeof(float));
	return c;
}

void wino5_run(const struct wino5 *c, const float *src, float *dst)
{
	int units = c->n * c->ngroups * c->ocparts;
	int nob = c->w->oc / (c->w->nv * 16);
	int nthr = MIN(MAX(omp_get_max_threads(), 1), c->nthr);

#pragma omp parallel for num_threads(nthr) schedule(static)
	for (int i = 0; i < units; i++) {
		int part = i % c->ocparts, g = i / c->ocparts % c->ngroups;
		int n = i / c->ocparts / c->ngroups;
		unit(c, src, dst, n, g, part * nob / c->ocparts, (part + 1) * nob / c->ocparts,
		     c->scratch + (size_t)omp_get_thread_num() * c->per_thread);
	}
}

size_t wino5_scratch_bytes(const struct wino5 *c)
{
	return (size_t)c->nthr * c->per_thread * sizeof(float);
}

void wino5_free(void *p)
{
	struct wino5 *c = p;

	if (c) {
		free(c->scratch);
		free(c);
	}
}
