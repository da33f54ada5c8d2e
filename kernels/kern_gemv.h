/*
 * kern_gemv.h - a fully connected layer on one image (a matrix-vector
 * product) over the weights oneDNN prepacked, for the onednn backend (not
 * for users).  At batch 1 AlexNet's FC layers stream 234 MB of weights per
 * image and are bound by memory bandwidth; oneDNN's GEMM and brgemm read
 * them at about 19-22 GB/s here, below what the machine gives two threads.
 */
#ifndef IDUNNO_KERN_GEMV_H
#define IDUNNO_KERN_GEMV_H

/* 1 when the CPU can (AVX-512) and IDUNNO_GEMV is not "0". */
int gemv_available(void);

/* y[oc] = relu?(W x + bias) for W given as w[ic][oc] (oneDNN's bcda for
 * 4-D weights, ba for 2-D); bias may be NULL. */
void gemv_run(const float *w, int ic, int oc, const float *bias, int relu, const float *x,
	      float *y);

#endif
