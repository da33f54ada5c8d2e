/*
 * image.h - model input from JPEG files or raw float32 tensors.
 *
 * JPEG: decoded to RGB with libjpeg-turbo, the short side resized to 256
 * with an antialiased bilinear filter computed the way PIL does (so the
 * result tracks torchvision's transforms), centre-cropped to 224x224,
 * scaled to [0,1] and normalised with the ImageNet mean and std, as NCHW
 * float32.
 *
 * The fast path (opt-in) decodes only the rectangle of the image the
 * resize of the centre crop reads (which changes a few pixels at its
 * edges), and an image whose short side is at least 1024 straight to 1/2,
 * 1/4 or 1/8 of its size in the DCT domain (the largest that keeps the
 * short side >= 512, so the antialiased resize after it still reduces by
 * 2x or more).  Its effect on the tensor and the logits is measured in
 * tests/jpeg_fast.py and docs/engine.md.
 */
#ifndef IDUNNO_IMAGE_H
#define IDUNNO_IMAGE_H

#include <stddef.h>

#define IMAGE_MAX_PIXELS (64u << 20) /* larger images are refused */

/*
 * Preprocesses JPEG bytes into out (3x224x224 floats).  Returns 0 or a
 * negative errno with err filled (not a JPEG, corrupt, too large).
 * Each thread keeps one work buffer between calls (freed after an image
 * that needed more than 16 MiB).
 */
int image_from_jpeg(const unsigned char *jpeg, size_t len, float *out, char *err, size_t errlen);
/* The same, on the fast path when fast is set. */
int image_from_jpeg_mode(const unsigned char *jpeg, size_t len, int fast, float *out, char *err,
			 size_t errlen);

#define IMAGE_RAW  1 /* the file is a float32 3x224x224 tensor */
#define IMAGE_FAST 2 /* a JPEG, on the fast path */
/* Reads a file: a JPEG, or with IMAGE_RAW a float32 3x224x224 tensor. */
int image_load(const char *path, int flags, float *out, char *err, size_t errlen);

#endif
