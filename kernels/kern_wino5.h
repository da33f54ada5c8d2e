/*
 * kern_wino5.h - 5x5 stride-1 convolution by Winograd F(4x4, 5x5) on
 * channel-blocked activations (oneDNN's nChw16c), for the onednn backend
 * (not for users).  oneDNN 2.6 has Winograd for 3x3 only; AlexNet's conv2
 * (5x5, 64 -> 192 on 27x27) was a third of its time at batch 16 and 64.
 */
#ifndef IDUNNO_KERN_WINO5_H
#define IDUNNO_KERN_WINO5_H

#include "kern.h"

#include <stddef.h>

/* Transformed weights (and bias), shared by the plans of every batch size. */
struct wino5_weights;
/* One layer at one batch size: the weights and per-thread scratch. */
struct wino5;

/*
 * 1 when layer l (input is, output os) can run here: 5x5, stride 1, one
 * group, no residual, channels multiples of 16, a CPU with AVX-512, and
 * IDUNNO_WINO5 not "0" in the environment.
 */
int wino5_eligible(const struct kern_layer *l, const struct kern_shape *is,
		   const struct kern_shape *os);

/* Transforms l's weights (OIHW, ic x oc channels) once. */
struct wino5_weights *wino5_weights_new(const struct kern_layer *l, int ic, int oc);
size_t wino5_weights_bytes(const struct wino5_weights *w);
void wino5_weights_free(void *w);

/* A runner for batch n on weights w (which must outlive it). */
struct wino5 *wino5_new(const struct wino5_weights *w, const struct kern_layer *l, int n,
			const struct kern_shape *is, const struct kern_shape *os);
/* src: n x ic/16 x ih x iw x 16 floats; dst likewise with oc, oh, ow. */
void wino5_run(const struct wino5 *c, const float *src, float *dst);
size_t wino5_scratch_bytes(const struct wino5 *c);
void wino5_free(void *c);

#endif
