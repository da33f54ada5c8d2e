/*
 * image.h - model input from JPEG files or raw float32 tensors.
 *
 * JPEG: decoded to RGB with libjpeg-turbo, the short side resized to 256
 * with an antialiased bilinear filter computed the way PIL does (so the
 * result tracks torchvision's transforms), centre-cropped to 224x224,
 * scaled to [0,1] and normalised with the ImageNet mean and std, as NCHW
 * float32.
 */
#ifndef IDUNNO_IMAGE_H
#define IDUNNO_IMAGE_H

#include <stddef.h>

#define IMAGE_MAX_PIXELS (64u << 20) /* larger images are refused */

/*
 * Preprocesses JPEG bytes into out (3x224x224 floats).  Returns 0 or a
 * negative errno with err filled (not a JPEG, corrupt, too large).
 */
int image_from_jpeg(const unsigned char *jpeg, size_t len, float *out, char *err, size_t errlen);

/* Reads a file: JPEG, or with raw set a float32 3x224x224 tensor. */
int image_load(const char *path, int raw, float *out, char *err, size_t errlen);

#endif
