/*
 * image.c - JPEG decoding and ImageNet preprocessing (see image.h).
 *
 * Only what the centre crop needs is computed: the horizontal pass its 224
 * columns of the rows the vertical pass reads, the vertical pass its 224
 * rows (skipped when it would change nothing).  The exact path decodes
 * the whole image with TurboJPEG, as torchvision's PIL does; the fast path
 * decodes, with libjpeg's own interface, only the rectangle the two passes
 * read (jpeg_crop_scanline, jpeg_skip_scanlines), and a large image at a
 * smaller scale in the DCT domain.  Its IDCT and chroma upsampling are the
 * accurate ones: the fast ones saved 1-5 % more for 100 to 1000 times the
 * difference (docs/engine.md); FAST_DCT and FAST_FANCY rebuild them.
 */
#include "image.h"
#include "model.h"
#include "resize.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h> /* jpeglib.h needs FILE */
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <turbojpeg.h>

#define RESIZE_SHORT 256

#ifndef FAST_DCT
#define FAST_DCT JDCT_ISLOW
#endif
#ifndef FAST_FANCY
#define FAST_FANCY TRUE
#endif

static const float mean[3] = {0.485f, 0.456f, 0.406f};
static const float stdv[3] = {0.229f, 0.224f, 0.225f};

/* Python's round(): halves to even. */
static int round_half_even(double v)
{
	double r = nearbyint(v); /* default rounding mode is to-nearest-even */
	return (int)r;
}

/* The resize and crop of a w x h image, and the input rectangle (columns
 * xlo..xhi, rows ylo..yhi) the two passes read. */
struct geom {
	int w, h, nw, nh, top, left;
	struct resize_coeffs hc, vc; /* vc only when nh != h */
	int xlo, xhi, ylo, yhi;
};

static int geom_make(int w, int h, struct geom *g, char *err, size_t errlen)
{
	/* torchvision Resize(256): short side to 256, long side truncated. */
	g->w = w;
	g->h = h;
	g->nw = w <= h ? RESIZE_SHORT : (int)((int64_t)RESIZE_SHORT * w / h);
	g->nh = w <= h ? (int)((int64_t)RESIZE_SHORT * h / w) : RESIZE_SHORT;
	if ((uint64_t)g->nw * g->nh > IMAGE_MAX_PIXELS) {
		util_seterr(err, errlen, "image %dx%d has an extreme aspect ratio", w, h);
		return -EINVAL;
	}
	g->top = round_half_even((g->nh - MODEL_IN_H) / 2.0);
	g->left = round_half_even((g->nw - MODEL_IN_W) / 2.0);
	resize_coeffs_make(w, g->nw, &g->hc);
	g->xlo = g->hc.start[g->left]; /* the starts never decrease */
	g->xhi = 0;
	for (int x = g->left; x < g->left + MODEL_IN_W; x++)
		if (g->hc.start[x] + g->hc.count[x] > g->xhi)
			g->xhi = g->hc.start[x] + g->hc.count[x];
	g->ylo = g->top;
	g->yhi = g->top + MODEL_IN_H;
	if (g->nh != h) {
		resize_coeffs_make(h, g->nh, &g->vc);
		g->ylo = g->vc.start[g->top];
		g->yhi = 0;
		for (int y = g->top; y < g->top + MODEL_IN_H; y++)
			if (g->vc.start[y] + g->vc.count[y] > g->yhi)
				g->yhi = g->vc.start[y] + g->vc.count[y];
	}
	return 0;
}

/* g zeroed first, then made or not: frees what it holds. */
static void geom_free(struct geom *g)
{
	resize_coeffs_free(&g->hc);
	resize_coeffs_free(&g->vc);
}

/* Decoded RGBX pixels: columns x0..x0+w of rows ylo..yhi of the image. */
struct pixels {
	unsigned char *buf;  /* the allocation */
	unsigned char *data; /* row ylo, column x0 */
	size_t stride;
	int x0, w;
};

/*
 * One buffer per thread for the decoded pixels and both passes' output,
 * kept between images up to SCRATCH_KEEP bytes: allocating a new one for
 * each image cost a page fault per 4 KiB touched (an eighth of the time of
 * a 500x375 image).
 */
#define SCRATCH_KEEP (16u << 20)
static _Thread_local struct {
	unsigned char *p;
	size_t cap;
} scratch;

#define ALIGN64(n) ALIGN_UP(n, 64)
/* The passes' output after the pixels, as image_from_jpeg_mode carves it. */
#define HS_BYTES(g) ALIGN64((size_t)MODEL_IN_W * 3 * (size_t)((g)->yhi - (g)->ylo) + 1)
#define VS_BYTES    ((size_t)MODEL_IN_W * 3 * MODEL_IN_H)

/* Room for px_bytes of pixels and the passes' output, at px->buf. */
static int scratch_get(const struct geom *g, size_t px_bytes, struct pixels *px)
{
	size_t n = ALIGN64(px_bytes) + HS_BYTES(g) + VS_BYTES;

	if (scratch.cap < n) {
		free(scratch.p);
		scratch.p = malloc(n);
		scratch.cap = scratch.p ? n : 0;
	}
	px->buf = scratch.p;
	return px->buf ? 0 : -ENOMEM;
}

/* The exact path: the whole image, as PIL decodes it. */
static int decode_exact(const unsigned char *jpeg, size_t len, struct geom *g, struct pixels *px,
			char *err, size_t errlen)
{
	tjhandle tj = tjInitDecompress();
	int w = 0, h = 0, sub = 0, cs = 0, ret = -EINVAL;

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
	if ((ret = geom_make(w, h, g, err, errlen)))
		goto out;
	ret = -EINVAL;
	px->stride = (size_t)w * 4;
	px->x0 = 0;
	px->w = w;
	if (scratch_get(g, px->stride * h, px)) {
		ret = -ENOMEM;
		util_seterr(err, errlen, "out of memory for a %dx%d image", w, h);
		goto out;
	}
	/* Strict: a warning (a truncated file, say) is an error too, rather than
	 * classifying an image that is partly grey. */
	if (tjDecompress2(tj, jpeg, (unsigned long)len, px->buf, w, 0, h, TJPF_RGBX,
			  TJFLAG_STOPONWARNING)) {
		util_seterr(err, errlen, "corrupt JPEG: %s", tjGetErrorStr2(tj));
		goto out;
	}
	px->data = px->buf + (size_t)g->ylo * px->stride;
	ret = 0;
out:
	tjDestroy(tj);
	return ret;
}

/* libjpeg's errors, and (as TJFLAG_STOPONWARNING) its warnings, end the
 * decoding through longjmp with the message kept. */
struct jerr {
	struct jpeg_error_mgr mgr;
	jmp_buf jb;
	char msg[JMSG_LENGTH_MAX];
};

static void jerr_exit(j_common_ptr c)
{
	struct jerr *e = (struct jerr *)c->err;

	c->err->format_message(c, e->msg);
	longjmp(e->jb, 1);
}

static void jerr_emit(j_common_ptr c, int level)
{
	if (level < 0)
		jerr_exit(c);
}

/*
 * The fast path's DCT-domain scale (1/denom): the largest 1/2, 1/4 or 1/8
 * that keeps the short side at least twice the 256 it is resized to (so
 * the antialiased filter still does part of the reduction), or 1.
 */
static unsigned dct_denom(unsigned w, unsigned h)
{
	unsigned s = w < h ? w : h, d = 8;

	while (d > 1 && (s + d - 1) / d < 2 * RESIZE_SHORT)
		d /= 2;
	return d;
}

/* Decodes the rows and columns g's passes read, into px->data. */
static int fast_rows(struct jpeg_decompress_struct *d, const struct geom *g, struct pixels *px)
{
	JDIMENSION x0 = (JDIMENSION)g->xlo, w = (JDIMENSION)(g->xhi - g->xlo);
	JSAMPROW rows[16];

	jpeg_start_decompress(d);
	jpeg_crop_scanline(d, &x0, &w); /* widened to whole blocks */
	px->x0 = (int)x0;
	px->w = (int)w;
	px->stride = (size_t)w * 4;
	if (scratch_get(g, px->stride * (size_t)(g->yhi - g->ylo + 1), px))
		return -ENOMEM;
	px->data = px->buf;
	if (g->ylo > 0)
		jpeg_skip_scanlines(d, (JDIMENSION)g->ylo);
	while (d->output_scanline < (JDIMENSION)g->yhi) {
		int n = g->yhi - (int)d->output_scanline;
		n = n > 16 ? 16 : n;
		for (int i = 0; i < n; i++)
			rows[i] = px->data + (d->output_scanline - g->ylo + i) * px->stride;
		jpeg_read_scanlines(d, rows, (JDIMENSION)n);
	}
	/* The rest is read too (skipping to the very end reads nothing), so that
	 * a file cut short is an error here as on the exact path. */
	if (d->output_scanline + 1 < d->output_height)
		jpeg_skip_scanlines(d, d->output_height - 1 - d->output_scanline);
	rows[0] = px->data + (size_t)(g->yhi - g->ylo) * px->stride; /* a spare row */
	while (d->output_scanline < d->output_height)
		jpeg_read_scanlines(d, rows, 1);
	jpeg_finish_decompress(d);
	return 0;
}

static int decode_fast(const unsigned char *jpeg, size_t len, struct geom *g, struct pixels *px,
		       char *err, size_t errlen)
{
	struct jpeg_decompress_struct d;
	struct jerr je;
	volatile int stage = 0; /* 0 header, 1 sized, 2 decoding */
	volatile int ret = -EINVAL;

	if (len > (1ul << 30)) {
		util_seterr(err, errlen, "not a JPEG image (larger than 1 GiB)");
		return -EINVAL;
	}
	d.err = jpeg_std_error(&je.mgr);
	je.mgr.error_exit = jerr_exit;
	je.mgr.emit_message = jerr_emit;
	jpeg_create_decompress(&d);
	if (setjmp(je.jb)) {
		util_seterr(err, errlen, stage == 2 ? "corrupt JPEG: %s" : "not a JPEG image (%s)",
			    je.msg);
		ret = -EINVAL;
		goto out;
	}
	jpeg_mem_src(&d, jpeg, (unsigned long)len);
	jpeg_read_header(&d, TRUE);
	if ((uint64_t)d.image_width * d.image_height > IMAGE_MAX_PIXELS) {
		util_seterr(err, errlen, "image %ux%u is larger than %u pixels", d.image_width,
			    d.image_height, IMAGE_MAX_PIXELS);
		goto out;
	}
	d.out_color_space = JCS_EXT_RGBX;
	d.dct_method = FAST_DCT;
	d.do_fancy_upsampling = FAST_FANCY;
	d.scale_num = 1;
	d.scale_denom = dct_denom(d.image_width, d.image_height);
	jpeg_calc_output_dimensions(&d);
	if ((ret = geom_make((int)d.output_width, (int)d.output_height, g, err, errlen)))
		goto out;
	stage = 2;
	ret = fast_rows(&d, g, px);
	if (ret)
		util_seterr(err, errlen, "out of memory for a %ux%u image", d.output_width,
			    d.output_height);
out:
	jpeg_destroy_decompress(&d);
	return ret;
}

int image_from_jpeg(const unsigned char *jpeg, size_t len, float *out, char *err, size_t errlen)
{
	return image_from_jpeg_mode(jpeg, len, 0, out, err, errlen);
}

int image_from_jpeg_mode(const unsigned char *jpeg, size_t len, int fast, float *out, char *err,
			 size_t errlen)
{
	struct geom g = {0};
	struct pixels px = {0};
	unsigned char *hs = NULL, *vs = NULL; /* after the horizontal, the vertical pass */
	float lut[3][256];
	int ret = fast ? decode_fast(jpeg, len, &g, &px, err, errlen)
		       : decode_exact(jpeg, len, &g, &px, err, errlen);

	if (ret)
		goto out;
	hs = px.buf + ALIGN64((size_t)(px.data - px.buf) + (size_t)(g.yhi - g.ylo) * px.stride);
	resize_h(px.data, px.stride, px.x0, px.w, g.yhi - g.ylo, &g.hc, g.left, MODEL_IN_W, hs);
	if (g.nh != g.h) {
		vs = hs + HS_BYTES(&g);
		resize_v(hs, (size_t)MODEL_IN_W * 3, g.ylo, MODEL_IN_W, &g.vc, g.top, MODEL_IN_H,
			 vs);
	}
	/* The 256 values each channel can take, computed as before; one pass
	 * over the packed crop, one store per plane. */
	for (int ch = 0; ch < 3; ch++)
		for (int v = 0; v < 256; v++)
			lut[ch][v] = (v / 255.0f - mean[ch]) / stdv[ch];
	{
		const unsigned char *c = vs ? vs : hs;
		const size_t plane = (size_t)MODEL_IN_H * MODEL_IN_W;
		for (size_t i = 0; i < plane; i++) {
			out[i] = lut[0][c[i * 3]];
			out[plane + i] = lut[1][c[i * 3 + 1]];
			out[2 * plane + i] = lut[2][c[i * 3 + 2]];
		}
	}
out:
	geom_free(&g);
	if (scratch.cap > SCRATCH_KEEP) {
		free(scratch.p);
		scratch.p = NULL;
		scratch.cap = 0;
	}
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
