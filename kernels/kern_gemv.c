/*
 * kern_gemv.c - one image through a fully connected layer, on the weights
 * the oneDNN plan prepared for its own inner product at every batch size,
 * as [ic][oc] (so no second copy is held): for 4-D weights the layout
 * oneDNN picks itself (bcda), for 2-D ones the one the planner asks for
 * (ba) when this GEMV is available.
 *
 * Two things make it faster than oneDNN's GEMM at batch 1, both exact:
 * each thread streams its own contiguous columns of the weights with
 * AVX-512 loads, and the row of weights of an input that is zero is never
 * read.  The
 * inputs of AlexNet's FC layers come out of ReLU (and max pooling), so a
 * large part of them is zero, and the layer is bound by memory bandwidth:
 * skipping a zero input skips its row of weights (16 KB in fc6), which
 * would have added +0 to every output.
 */
#include "kern_gemv.h"
#include "kern_impl.h"
#include "util.h"

#include <immintrin.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define AVX512 __attribute__((target("avx512f,fma")))
#define ROWS   8 /* weight rows summed per pass over the outputs */

int gemv_available(void)
{
	static int ok = -1;

	if (ok < 0) {
		__builtin_cpu_init();
		ok = kern_switch("IDUNNO_GEMV") && __builtin_cpu_supports("avx512f") &&
		     __builtin_cpu_supports("fma");
	}
	return ok;
}

/* Lanes of the 16 outputs from o that are below o1. */
static inline __mmask16 lanes(int o, int o1)
{
	return o1 - o >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (o1 - o)) - 1);
}

/* y[o0, o1) += sum over the nonzero inputs of x[i] * w[i][o], w [ic][oc]. */
AVX512 static void kn_part(const float *w, int oc, const int *nz, int nnz, const float *x, int o0,
			   int o1, float *y)
{
	int k = 0;

	for (; k + ROWS <= nnz; k += ROWS) {
		const float *r[ROWS];
		__m512 xv[ROWS];
#pragma GCC unroll 8
		for (int j = 0; j < ROWS; j++) {
			r[j] = w + (size_t)nz[k + j] * oc;
			xv[j] = _mm512_set1_ps(x[nz[k + j]]);
		}
		for (int o = o0; o < o1; o += 16) {
			__mmask16 m = lanes(o, o1);
			__m512 a = _mm512_maskz_loadu_ps(m, y + o), b = _mm512_setzero_ps();
#pragma GCC unroll 8
			for (int j = 0; j < ROWS; j += 2) {
				a = _mm512_fmadd_ps(xv[j], _mm512_maskz_loadu_ps(m, r[j] + o), a);
				b = _mm512_fmadd_ps(xv[j + 1],
						    _mm512_maskz_loadu_ps(m, r[j + 1] + o), b);
			}
			_mm512_mask_storeu_ps(y + o, m, _mm512_add_ps(a, b));
		}
	}
	for (; k < nnz; k++) {
		const float *r = w + (size_t)nz[k] * oc;
		__m512 xv = _mm512_set1_ps(x[nz[k]]);
		for (int o = o0; o < o1; o += 16) {
			__mmask16 m = lanes(o, o1);
			_mm512_mask_storeu_ps(y + o, m,
					      _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(m, r + o),
							      _mm512_maskz_loadu_ps(m, y + o)));
		}
	}
}

void gemv_run(const float *w, int ic, int oc, const float *bias, int relu, const float *x, float *y)
{
	int *nz = xmalloc((size_t)ic * sizeof(*nz)), nnz = 0;
	float *acc = xaligned_alloc((size_t)oc * sizeof(float));

	for (int i = 0; i < ic; i++)
		if (x[i] != 0)
			nz[nnz++] = i;
#pragma omp parallel
	{
		/* Each thread its own columns, in whole vectors. */
		int t = omp_get_thread_num(), n = omp_get_num_threads();
		int per = ((oc + 15) / 16 + n - 1) / n * 16;
		int o0 = MIN(oc, t * per), o1 = MIN(oc, o0 + per);
		kn_part(w, oc, nz, nnz, x, o0, o1, acc);
	}
	for (int o = 0; o < oc; o++) {
		float v = acc[o] + (bias ? bias[o] : 0);
		y[o] = relu && v < 0 ? 0 : v;
	}
	free(acc);
	free(nz);
}
