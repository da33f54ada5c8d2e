/*
 * Description: bad weight files and bad images are clear errors, never
 * crashes: truncated, oversized, wrong dtype, wrong shape, missing and
 * unexpected tensors, huge and malformed headers, overlapping data, data
 * no tensor holds (a tensor left out of the header: its neighbours named),
 * names that are not UTF-8 (refused, never printed raw),
 * another model's weights, a NaN or infinite weight, a negative
 * batch-norm variance, a weight that overflows when batch-norm is folded
 * into it (each named); non-JPEG bytes, truncated JPEGs, images with
 * huge dimensions and raw tensors of the wrong size; metadata naming
 * another architecture.  A 1x1 image and a
 * file without the optional num_batches_tracked tensors load fine.
 */
#include "check.h"
#include "image.h"
#include "model.h"
#include "safetensors.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <turbojpeg.h>
#include <unistd.h>

static char dir[256], good[512];

static void path_of(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

/* Loads path as resnet18; expects failure with every needle in the message. */
static void expect_bad(const char *what, const char *path, const char *needle1, const char *needle2)
{
	struct model *m = NULL;
	char err[1024] = "";
	int ret = model_load(MODEL_RESNET18, path, &m, err, sizeof(err));

	CHECK(ret < 0 && !m, "%s: loaded", what);
	CHECK(strstr(err, needle1) != NULL, "%s: message '%s' lacks '%s'", what, err, needle1);
	if (needle2)
		CHECK(strstr(err, needle2) != NULL, "%s: message '%s' lacks '%s'", what, err,
		      needle2);
	printf("ok  %-22s -> %s\n", what, err);
}

/* Rewrites the good file with tensor `name` changed by fn (or dropped). */
static void variant(const char *out, const char *name, int drop, enum st_dtype dtype,
		    const int64_t *dims, int ndims, const char *extra)
{
	struct st_file f;
	struct st_out *o;
	char err[512];
	int n = 0;
	void *scratch = NULL;

	REQUIRE(st_open(good, &f, err, sizeof(err)) == 0, "%s", err);
	o = xcalloc((size_t)f.ntensors + 1, sizeof(*o));
	for (int i = 0; i < f.ntensors; i++) {
		const struct st_tensor *t = &f.tensors[i];
		if (drop && (!strcmp(t->name, name) ||
			     (!strcmp(name, "*count") && strstr(t->name, "num_batches_tracked"))))
			continue;
		o[n] = (struct st_out){t->name, t->dtype, t->ndims, {0}, t->data};
		memcpy(o[n].dims, t->dims, sizeof(t->dims));
		if (!drop && name && !strcmp(t->name, name)) {
			size_t numel = 1;
			o[n].dtype = dtype;
			o[n].ndims = ndims;
			for (int k = 0; k < ndims; k++)
				numel *= (size_t)(o[n].dims[k] = dims[k]);
			scratch = xcalloc(numel, dtype == ST_I64 ? 8 : 4);
			o[n].data = scratch;
		}
		n++;
	}
	if (extra) {
		static float v[4];
		o[n++] = (struct st_out){extra, ST_F32, 1, {4}, v};
	}
	REQUIRE(st_write(out, o, n, err, sizeof(err)) == 0, "%s", err);
	st_close(&f);
	free(o);
	free(scratch);
}

static void write_bytes(const char *path, const void *buf, size_t len)
{
	REQUIRE(util_write_file_atomic(path, buf, len) == 0, "write %s", path);
}

/* A file of a hand-written safetensors header and extra zero data bytes. */
static void write_header_file(const char *path, const char *hdr, size_t extra)
{
	size_t hl = strlen(hdr);
	char *f = xcalloc(1, 8 + hl + extra);

	for (int i = 0; i < 8; i++)
		f[i] = (char)((uint64_t)hl >> (8 * i));
	memcpy(f + 8, hdr, hl);
	write_bytes(path, f, 8 + hl + extra);
	free(f);
}

/* One element to overwrite in a copy of the good file. */
struct edit {
	const char *tensor;
	size_t elem;
	float v;
};

/* Writes a copy of the good file (buf) with n elements changed. */
static void poke(char *p, size_t plen, const char *buf, size_t len, const char *file,
		 const struct edit *e, int n)
{
	struct st_file f;
	char err[512], *copy = xmalloc(len);

	REQUIRE(st_open(good, &f, err, sizeof(err)) == 0, "%s", err);
	memcpy(copy, buf, len);
	for (int i = 0; i < n; i++) {
		const struct st_tensor *t = st_find(&f, e[i].tensor);
		size_t at;
		REQUIRE(t && (e[i].elem + 1) * sizeof(float) <= t->nbytes, "tensor %s",
			e[i].tensor);
		at = (size_t)((const char *)t->data - (const char *)f.map) +
		     e[i].elem * sizeof(float);
		memcpy(copy + at, &e[i].v, sizeof(e[i].v));
	}
	path_of(p, plen, file);
	write_bytes(p, copy, len);
	st_close(&f);
	free(copy);
}

static void weights_cases(void)
{
	char p[600], err[512], *buf;
	size_t len;
	struct model *m;

	path_of(good, sizeof(good), "good.safetensors");
	REQUIRE(model_generate_weights(MODEL_RESNET18, 3, good, err, sizeof(err)) == 0, "%s", err);
	REQUIRE(model_load(MODEL_RESNET18, good, &m, err, sizeof(err)) == 0, "good file: %s", err);
	model_free(m);
	REQUIRE(util_read_file(good, 1u << 30, &buf, &len) == 0, "read good");

	path_of(p, sizeof(p), "truncated");
	write_bytes(p, buf, len - 4096);
	expect_bad("truncated", p, "truncated", "fc.");

	path_of(p, sizeof(p), "oversized");
	{
		char *big = xmalloc(len + 100);
		memcpy(big, buf, len);
		memset(big + len, 0, 100);
		write_bytes(p, big, len + 100);
		free(big);
	}
	expect_bad("oversized", p, "100 bytes after the last tensor", NULL);

	path_of(p, sizeof(p), "dtype");
	variant(p, "fc.bias", 0, ST_I64, (int64_t[]){1000}, 1, NULL);
	expect_bad("wrong dtype", p, "fc.bias", "dtype I64");

	path_of(p, sizeof(p), "shape");
	variant(p, "layer1.0.conv1.weight", 0, ST_F32, (int64_t[]){64, 64, 9, 1}, 4, NULL);
	expect_bad("wrong shape", p, "layer1.0.conv1.weight", "[64x64x3x3]");

	path_of(p, sizeof(p), "missing");
	variant(p, "layer4.1.bn2.running_var", 1, ST_F32, NULL, 0, NULL);
	expect_bad("missing tensor", p, "layer4.1.bn2.running_var", "missing");

	path_of(p, sizeof(p), "extra");
	variant(p, NULL, 0, ST_F32, NULL, 0, "classifier.9.weight");
	expect_bad("unexpected tensor", p, "classifier.9.weight", "unexpected");

	{
		/* resnet18's tensors, metadata naming another architecture */
		struct st_file f;
		struct st_out *o;
		struct st_meta meta = {"arch", "alexnet"};
		REQUIRE(st_open(good, &f, err, sizeof(err)) == 0, "%s", err);
		CHECK(st_metadata(&f, "arch") && !strcmp(st_metadata(&f, "arch"), "resnet18"),
		      "generated weights name their arch: %s", st_metadata(&f, "arch"));
		o = xcalloc((size_t)f.ntensors, sizeof(*o));
		for (int i = 0; i < f.ntensors; i++) {
			o[i] = (struct st_out){f.tensors[i].name,
					       f.tensors[i].dtype,
					       f.tensors[i].ndims,
					       {0},
					       f.tensors[i].data};
			memcpy(o[i].dims, f.tensors[i].dims, sizeof(o[i].dims));
		}
		path_of(p, sizeof(p), "wrongarch");
		REQUIRE(st_write_meta(p, &meta, 1, o, f.ntensors, err, sizeof(err)) == 0, "%s",
			err);
		free(o);
		st_close(&f);
		expect_bad("metadata of another", p, "names architecture 'alexnet'", NULL);
	}

	path_of(p, sizeof(p), "nocount");
	variant(p, "*count", 1, ST_F32, NULL, 0, NULL);
	CHECK(model_load(MODEL_RESNET18, p, &m, err, sizeof(err)) == 0,
	      "file without num_batches_tracked refused: %s", err);
	if (!t_failures)
		model_free(m);

	{
		/* header length 2^40: refused before anything is read */
		unsigned char h[64] = {0, 0, 0, 0, 0, 1, 0, 0};
		path_of(p, sizeof(p), "hugeheader");
		write_bytes(p, h, sizeof(h));
		expect_bad("huge header", p, "header", NULL);
	}
	path_of(p, sizeof(p), "garbage");
	write_header_file(p, "{\"fc.bias\": {\"dtype\": \"F32\", \"shape\": [2], nope", 0);
	expect_bad("malformed header", p, "bad safetensors header", NULL);
	path_of(p, sizeof(p), "overlap");
	write_header_file(p,
			  "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
			  "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
			  12);
	expect_bad("overlapping tensors", p, "overlaps", NULL);
	path_of(p, sizeof(p), "notutf8");
	write_header_file(
		p, "{\"a\xff\xfe\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
	expect_bad("a name not UTF-8", p, "not valid UTF-8", NULL);
	path_of(p, sizeof(p), "hole");
	write_header_file(p,
			  "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
			  "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}",
			  20);
	expect_bad("a tensor left out", p, "bytes 8..12 (after tensor a, before tensor b)",
		   "missing from the header");
	path_of(p, sizeof(p), "empty");
	write_header_file(p, "{\"__metadata__\":{\"format\":\"pt\"}}", 0);
	expect_bad("no tensors", p, "conv1.weight is missing", NULL);
	path_of(p, sizeof(p), "tiny");
	write_bytes(p, "abc", 3);
	expect_bad("3-byte file", p, "too short", NULL);
	path_of(p, sizeof(p), "nosuchfile");
	expect_bad("missing file", p, "No such file", NULL);

	poke(p, sizeof(p), buf, len, "nan", (struct edit[]){{"layer2.1.conv2.weight", 7, NAN}}, 1);
	expect_bad("nan weight", p, "layer2.1.conv2.weight", "non-finite value (nan at element 7)");
	poke(p, sizeof(p), buf, len, "inf", (struct edit[]){{"fc.bias", 999, -INFINITY}}, 1);
	expect_bad("inf bias", p, "fc.bias", "non-finite value (inf at element 999)");
	poke(p, sizeof(p), buf, len, "negvar", (struct edit[]){{"bn1.running_var", 3, -0.5f}}, 1);
	expect_bad("negative variance", p, "bn1.running_var", "negative variance");
	/* finite everywhere, but w * g / sqrt(0 + eps) overflows a float */
	poke(p, sizeof(p), buf, len, "overflow",
	     (struct edit[]){{"layer1.0.conv1.weight", 0, 3e38f},
			     {"layer1.0.bn1.running_var", 0, 0}},
	     2);
	expect_bad("folding overflows", p, "layer1.0.bn1", "non-finite");

	path_of(p, sizeof(p), "alexnet.safetensors");
	REQUIRE(model_generate_weights(MODEL_ALEXNET, 3, p, err, sizeof(err)) == 0, "%s", err);
	expect_bad("another model's file", p, "resnet18 weights", NULL);
	free(buf);
}

static unsigned char *make_jpeg(int w, int h, unsigned long *len)
{
	tjhandle tj = tjInitCompress();
	unsigned char *rgb = xmalloc((size_t)w * h * 3), *out = NULL;

	for (size_t i = 0; i < (size_t)w * h * 3; i++)
		rgb[i] = (unsigned char)(i * 31 % 251);
	REQUIRE(tjCompress2(tj, rgb, w, 0, h, TJPF_RGB, &out, len, TJSAMP_420, 90, 0) == 0,
		"encode");
	tjDestroy(tj);
	free(rgb);
	return out;
}

static void expect_image(const char *what, const unsigned char *b, size_t len, int ok,
			 const char *needle)
{
	float *t = xmalloc(MODEL_IN_ELEMS * sizeof(float));
	char err[512] = "";
	int ret = image_from_jpeg(b, len, t, err, sizeof(err));

	if (ok)
		CHECK(ret == 0, "%s: refused: %s", what, err);
	else
		CHECK(ret < 0 && strstr(err, needle), "%s: ret %d, message '%s' (want '%s')", what,
		      ret, err, needle);
	printf("ok  %-22s -> %s\n", what, ret ? err : "accepted");
	free(t);
}

static void image_cases(void)
{
	unsigned long len;
	unsigned char *j = make_jpeg(640, 480, &len), junk[4096];
	char p[600], err[512];
	float *t = xmalloc(MODEL_IN_ELEMS * sizeof(float));

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(i * 7919 % 256);
	expect_image("640x480 JPEG", j, len, 1, NULL);
	expect_image("random bytes", junk, sizeof(junk), 0, "not a JPEG");
	expect_image("empty input", junk, 0, 0, "not a JPEG");
	expect_image("truncated JPEG", j, len / 2, 0, "corrupt JPEG");
	{
		/* The same JPEG claiming to be 60000x60000: refused before decoding. */
		unsigned char *big = xmalloc(len);
		memcpy(big, j, len);
		for (unsigned long i = 0; i + 9 < len; i++)
			if (big[i] == 0xff && (big[i + 1] == 0xc0 || big[i + 1] == 0xc2)) {
				big[i + 5] = big[i + 7] = 0xea;
				big[i + 6] = big[i + 8] = 0x60;
				break;
			}
		expect_image("60000x60000 JPEG", big, len, 0, "larger than");
		free(big);
	}
	tjFree(j);
	j = make_jpeg(1, 1, &len);
	expect_image("1x1 JPEG", j, len, 1, NULL);
	tjFree(j);

	path_of(p, sizeof(p), "short.raw");
	write_bytes(p, junk, 1000);
	CHECK(image_load(p, 1, t, err, sizeof(err)) < 0 && strstr(err, "1000 bytes"),
	      "short raw tensor: %s", err);
	printf("ok  %-22s -> %s\n", "1000-byte raw tensor", err);
	free(t);
}

int main(void)
{
	char cmd[300];

	snprintf(dir, sizeof(dir), "/tmp/idunno-bad-XXXXXX");
	REQUIRE(mkdtemp(dir), "mkdtemp");
	weights_cases();
	image_cases();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "could not remove %s\n", dir);
	return t_result();
}
