/*
 * resize.h - PIL's antialiased bilinear resampling of 8-bit RGB images
 * (ImagingResample): a triangle filter whose support grows with the
 * reduction, coefficients normalised and held in 22-bit fixed point, a
 * horizontal pass then a vertical one, each rounded to 8 bits.  Pure: no
 * I/O.  Each pass computes only the output pixels asked for.
 */
#ifndef IDUNNO_RESIZE_H
#define IDUNNO_RESIZE_H

#include <stddef.h>

/* Per output pixel: first input index, count, fixed-point weights. */
struct resize_coeffs {
	int ksize;
	int *start, *count;
	int *k; /* out x ksize */
};

/* The coefficients for in -> out pixels along one axis. */
void resize_coeffs_make(int in, int out, struct resize_coeffs *c);
void resize_coeffs_free(struct resize_coeffs *c);

/*
 * Horizontal pass over nrows RGBX rows (4 bytes a pixel, stride istride)
 * holding input columns in_x0..in_x0+in_w (in points at column in_x0):
 * output columns x0..x0+ncols of c (which must read only columns present),
 * into out as packed RGB, ncols x 3 bytes a row.  One byte past the last
 * pixel is written: out must have room for it.
 */
void resize_h(const unsigned char *in, size_t istride, int in_x0, int in_w, int nrows,
	      const struct resize_coeffs *c, int x0, int ncols, unsigned char *out);

/*
 * Vertical pass over packed RGB rows of w pixels (stride istride), in
 * holding input rows from in_y0 on: output rows y0..y0+nrows of c, into
 * out (packed, w x 3 bytes a row).
 */
void resize_v(const unsigned char *in, size_t istride, int in_y0, int w,
	      const struct resize_coeffs *c, int y0, int nrows, unsigned char *out);

#endif
