/*
 * safetensors.c - a strict safetensors reader (mmap) and a writer.
 *
 * The header is parsed by a small recursive-descent JSON reader that knows
 * the shape of a safetensors header: an object whose values are tensor
 * descriptions, plus an optional "__metadata__" object of strings.
 */
#include "safetensors.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const dtype_names[ST_DTYPE_MAX] = {
	[ST_F32] = "F32",
	[ST_I64] = "I64",
	[ST_OTHER] = "?",
};

static const size_t dtype_size[ST_DTYPE_MAX] = {[ST_F32] = 4, [ST_I64] = 8, [ST_OTHER] = 0};

struct js {
	const char *p, *end;
	char *err;
	size_t errlen;
};

static int js_fail(struct js *j, const char *what)
{
	util_seterr(j->err, j->errlen, "bad safetensors header: %s", what);
	return -EINVAL;
}

static void js_ws(struct js *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t'))
		j->p++;
}

static int js_expect(struct js *j, char c)
{
	js_ws(j);
	if (j->p >= j->end || *j->p != c) {
		char msg[32];
		snprintf(msg, sizeof(msg), "expected '%c'", c);
		return js_fail(j, msg);
	}
	j->p++;
	return 0;
}

static int js_peek(struct js *j, char c)
{
	js_ws(j);
	return j->p < j->end && *j->p == c;
}

/* Whether s[0..n) is well-formed UTF-8 (no overlong forms, no surrogates). */
static int utf8_ok(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned c = s[i], len = c < 0x80	      ? 1
					 : (c & 0xe0) == 0xc0 ? 2
					 : (c & 0xf0) == 0xe0 ? 3
					 : (c & 0xf8) == 0xf0 ? 4
							      : 0;
		unsigned cp = len == 1 ? c : len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
		if (!len || i + len > n)
			return 0;
		for (unsigned k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
		    (len == 4 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += len;
	}
	return 1;
}

/* A string into out (escapes other than \" and \\ refused: names need none;
 * bytes that are not UTF-8 refused, so no message prints raw bytes). */
static int js_string(struct js *j, char *out, size_t outlen)
{
	size_t n = 0;

	if (js_expect(j, '"'))
		return -EINVAL;
	while (j->p < j->end && *j->p != '"') {
		char c = *j->p++;
		if (c == '\\') {
			if (j->p >= j->end || (*j->p != '"' && *j->p != '\\' && *j->p != '/'))
				return js_fail(j, "unsupported escape in string");
			c = *j->p++;
		} else if ((unsigned char)c < 0x20) {
			return js_fail(j, "control character in string");
		}
		if (n + 1 >= outlen)
			return js_fail(j, "string too long");
		out[n++] = c;
	}
	if (j->p >= j->end)
		return js_fail(j, "unterminated string");
	j->p++;
	out[n] = '\0';
	if (!utf8_ok((const unsigned char *)out, n))
		return js_fail(j, "string is not valid UTF-8");
	return 0;
}

static int js_int(struct js *j, int64_t *out)
{
	int64_t v = 0;
	const char *start;

	js_ws(j);
	start = j->p;
	while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
		if (v > (INT64_MAX - 9) / 10)
			return js_fail(j, "integer too large");
		v = v * 10 + (*j->p++ - '0');
	}
	if (j->p == start)
		return js_fail(j, "expected a non-negative integer");
	*out = v;
	return 0;
}

/* Skips any JSON value (used for __metadata__), depth-limited. */
static int js_skip(struct js *j, int depth)
{
	char buf[4096];

	if (depth > 16)
		return js_fail(j, "nesting too deep");
	js_ws(j);
	if (j->p >= j->end)
		return js_fail(j, "truncated");
	if (*j->p == '"')
		return js_string(j, buf, sizeof(buf));
	if (*j->p == '{' || *j->p == '[') {
		char close = *j->p == '{' ? '}' : ']';
		int obj = *j->p == '{';
		j->p++;
		if (js_peek(j, close)) {
			j->p++;
			return 0;
		}
		for (;;) {
			if (obj && (js_string(j, buf, sizeof(buf)) || js_expect(j, ':')))
				return -EINVAL;
			if (js_skip(j, depth + 1))
				return -EINVAL;
			if (js_peek(j, ',')) {
				j->p++;
				continue;
			}
			return js_expect(j, close);
		}
	}
	while (j->p < j->end && strchr("-+.eE0123456789truefalsn", *j->p))
		j->p++;
	return 0;
}

static int parse_tensor(struct js *j, struct st_tensor *t, int64_t *begin, int64_t *end)
{
	char key[32];
	int have = 0;

	if (js_expect(j, '{'))
		return -EINVAL;
	for (;;) {
		if (js_string(j, key, sizeof(key)) || js_expect(j, ':'))
			return -EINVAL;
		if (strcmp(key, "dtype") == 0) {
			if (js_string(j, t->dtype_name, sizeof(t->dtype_name)))
				return -EINVAL;
			t->dtype = ST_OTHER;
			for (int d = 0; d < ST_OTHER; d++)
				if (strcmp(t->dtype_name, dtype_names[d]) == 0)
					t->dtype = (enum st_dtype)d;
			have |= 1;
		} else if (strcmp(key, "shape") == 0) {
			if (js_expect(j, '['))
				return -EINVAL;
			t->ndims = 0;
			if (js_peek(j, ']'))
				j->p++;
			else
				for (;;) {
					if (t->ndims == ST_MAX_DIMS)
						return js_fail(j, "too many dimensions");
					if (js_int(j, &t->dims[t->ndims++]))
						return -EINVAL;
					if (js_peek(j, ',')) {
						j->p++;
						continue;
					}
					if (js_expect(j, ']'))
						return -EINVAL;
					break;
				}
			have |= 2;
		} else if (strcmp(key, "data_offsets") == 0) {
			if (js_expect(j, '[') || js_int(j, begin) || js_expect(j, ',') ||
			    js_int(j, end) || js_expect(j, ']'))
				return -EINVAL;
			have |= 4;
		} else if (js_skip(j, 1)) {
			return -EINVAL;
		}
		if (js_peek(j, ',')) {
			j->p++;
			continue;
		}
		if (js_expect(j, '}'))
			return -EINVAL;
		break;
	}
	if (have != 7)
		return js_fail(j, "tensor entry lacks dtype, shape or data_offsets");
	return 0;
}

/* "__metadata__": an object of strings; they are kept (up to ST_MAX_META). */
static int parse_meta(struct js *j, struct st_file *f)
{
	char key[256], val[4096];

	if (js_expect(j, '{'))
		return -EINVAL;
	if (js_peek(j, '}')) {
		j->p++;
		return 0;
	}
	for (;;) {
		if (js_string(j, key, sizeof(key)) || js_expect(j, ':'))
			return -EINVAL;
		if (js_peek(j, '"')) {
			if (js_string(j, val, sizeof(val)))
				return -EINVAL;
			if (f->nmeta < ST_MAX_META && !st_metadata(f, key))
				f->meta[f->nmeta++] = (struct st_meta){xstrdup(key), xstrdup(val)};
		} else if (js_skip(j, 2)) { /* not a string: tolerated, not kept */
			return -EINVAL;
		}
		if (js_peek(j, ',')) {
			j->p++;
			continue;
		}
		return js_expect(j, '}');
	}
}

struct range {
	int64_t begin, end;
	int idx;
};

static int cmp_range(const void *a, const void *b)
{
	const struct range *x = a, *y = b;
	return x->begin < y->begin ? -1 : x->begin > y->begin;
}

static int parse_header(struct st_file *f, const char *hdr, size_t hlen, const uint8_t *data,
			size_t dlen, char *err, size_t errlen)
{
	struct js j = {hdr, hdr + hlen, err, errlen};
	struct range *r = NULL;
	int cap = 0, ret = -EINVAL;
	char name[512];

	if (js_expect(&j, '{'))
		return -EINVAL;
	if (js_peek(&j, '}')) {
		j.p++;
		goto done;
	}
	for (;;) {
		if (js_string(&j, name, sizeof(name)) || js_expect(&j, ':'))
			goto err;
		if (strcmp(name, "__metadata__") == 0) {
			if (parse_meta(&j, f))
				goto err;
		} else {
			struct st_tensor *t;
			int64_t b, e, numel = 1;
			if (f->ntensors == cap) {
				cap = cap ? cap * 2 : 64;
				f->tensors = realloc(f->tensors, (size_t)cap * sizeof(*f->tensors));
				r = realloc(r, (size_t)cap * sizeof(*r));
				ASSERT(f->tensors && r);
			}
			t = &f->tensors[f->ntensors];
			memset(t, 0, sizeof(*t));
			if (parse_tensor(&j, t, &b, &e))
				goto err;
			t->name = xstrdup(name);
			f->ntensors++;
			for (int d = 0; d < t->ndims; d++) {
				if (t->dims[d] > (1ll << 40) / (numel ? numel : 1)) {
					util_seterr(err, errlen, "tensor %s: shape too large",
						    name);
					goto err;
				}
				numel *= t->dims[d];
			}
			if (b > e || e > (int64_t)dlen) {
				util_seterr(
					err, errlen,
					"tensor %s: data [%lld, %lld) outside the %zu data bytes "
					"(truncated file?)",
					name, (long long)b, (long long)e, dlen);
				goto err;
			}
			if (t->dtype != ST_OTHER &&
			    (int64_t)dtype_size[t->dtype] * numel != e - b) {
				util_seterr(err, errlen,
					    "tensor %s: %lld bytes do not match its %s shape (%lld "
					    "elements)",
					    name, (long long)(e - b), t->dtype_name,
					    (long long)numel);
				goto err;
			}
			t->data = data + b;
			t->nbytes = (size_t)(e - b);
			r[f->ntensors - 1] = (struct range){b, e, f->ntensors - 1};
		}
		if (js_peek(&j, ',')) {
			j.p++;
			continue;
		}
		if (js_expect(&j, '}'))
			goto err;
		break;
	}
	/* Ranges must not overlap and must cover the data exactly. */
	if (f->ntensors > 1)
		qsort(r, (size_t)f->ntensors, sizeof(*r), cmp_range);
	{
		int64_t at = 0;
		for (int i = 0; i < f->ntensors; i++) {
			if (r[i].begin < at) {
				util_seterr(err, errlen,
					    "tensor %s: data overlaps another at byte %lld",
					    f->tensors[r[i].idx].name, (long long)r[i].begin);
				goto err;
			}
			if (r[i].begin > at) { /* name what lies around it, not just a byte */
				util_seterr(err, errlen,
					    "no tensor holds data bytes %lld..%lld (%s%s%sbefore "
					    "tensor %s): a tensor missing from the header?",
					    (long long)at, (long long)r[i].begin,
					    i ? "after tensor " : "",
					    i ? f->tensors[r[i - 1].idx].name : "", i ? ", " : "",
					    f->tensors[r[i].idx].name);
				goto err;
			}
			at = r[i].end;
		}
		if (at != (int64_t)dlen) {
			util_seterr(err, errlen,
				    "%lld bytes after the last tensor (oversized file)",
				    (long long)dlen - at);
			goto err;
		}
	}
done:
	js_ws(&j);
	if (j.p != j.end) {
		util_seterr(err, errlen, "bad safetensors header: bytes after the header object");
		goto err;
	}
	ret = 0;
err:
	free(r);
	return ret;
}

int st_open(const char *path, struct st_file *f, char *err, size_t errlen)
{
	struct stat st;
	uint64_t hlen = 0;
	int fd, ret;

	memset(f, 0, sizeof(*f));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		util_seterr(err, errlen, "%s: %s", path, strerror(errno));
		return ret;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		ret = S_ISREG(st.st_mode) ? -errno : -EINVAL;
		util_seterr(err, errlen, "%s: not a regular file", path);
		goto err;
	}
	if (st.st_size < 8) {
		util_seterr(err, errlen, "%s: %lld bytes is too short for a safetensors file", path,
			    (long long)st.st_size);
		ret = -EINVAL;
		goto err;
	}
	f->map_len = (size_t)st.st_size;
	f->map = mmap(NULL, f->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (f->map == MAP_FAILED) {
		ret = -errno;
		f->map = NULL;
		util_seterr(err, errlen, "%s: mmap: %s", path, strerror(errno));
		goto err;
	}
	for (int i = 7; i >= 0; i--)
		hlen = hlen << 8 | ((const uint8_t *)f->map)[i];
	if (hlen > ST_MAX_HEADER || hlen > f->map_len - 8) {
		util_seterr(err, errlen, "%s: header of %llu bytes is %s", path,
			    (unsigned long long)hlen,
			    hlen > ST_MAX_HEADER ? "over the 16 MiB limit"
						 : "longer than the file");
		ret = -EINVAL;
		goto err;
	}
	{
		char sub[768];
		const char *h = (const char *)f->map + 8;
		ret = parse_header(f, h, hlen, (const uint8_t *)h + hlen, f->map_len - 8 - hlen,
				   sub, sizeof(sub));
		if (ret) {
			util_seterr(err, errlen, "%s: %s", path, sub);
			goto err;
		}
	}
	close(fd);
	return 0;
err:
	close(fd);
	st_close(f);
	return ret;
}

const struct st_tensor *st_find(const struct st_file *f, const char *name)
{
	for (int i = 0; i < f->ntensors; i++)
		if (strcmp(f->tensors[i].name, name) == 0)
			return &f->tensors[i];
	return NULL;
}

const char *st_metadata(const struct st_file *f, const char *key)
{
	for (int i = 0; i < f->nmeta; i++)
		if (strcmp(f->meta[i].key, key) == 0)
			return f->meta[i].value;
	return NULL;
}

void st_drop_pages(struct st_file *f)
{
	if (f->map)
		madvise(f->map, f->map_len, MADV_DONTNEED);
}

void st_close(struct st_file *f)
{
	for (int i = 0; i < f->ntensors; i++)
		free(f->tensors[i].name);
	free(f->tensors);
	for (int i = 0; i < f->nmeta; i++) {
		free((char *)f->meta[i].key);
		free((char *)f->meta[i].value);
	}
	if (f->map)
		munmap(f->map, f->map_len);
	memset(f, 0, sizeof(*f));
}

static int meta_string_ok(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e || *s == '"' || *s == '\\')
			return 0;
	return 1;
}

int st_write(const char *path, const struct st_out *t, int n, char *err, size_t errlen)
{
	return st_write_meta(path, NULL, 0, t, n, err, errlen);
}

int st_write_meta(const char *path, const struct st_meta *meta, int nmeta, const struct st_out *t,
		  int n, char *err, size_t errlen)
{
	size_t cap = 4096, len = 0, off = 0, total;
	char *hdr, *buf = NULL;
	int ret;

	for (int i = 0; i < nmeta; i++)
		if (!meta_string_ok(meta[i].key) || !meta_string_ok(meta[i].value) ||
		    !strcmp(meta[i].key, "format")) {
			util_seterr(err, errlen,
				    "%s: metadata key '%s' or its value cannot be written", path,
				    meta[i].key);
			return -EINVAL;
		}
	hdr = xmalloc(cap);

#define EMIT(...)                                                                                  \
	do {                                                                                       \
		int k_;                                                                            \
		while ((k_ = snprintf(hdr + len, cap - len, __VA_ARGS__)) >= (int)(cap - len)) {   \
			cap *= 2;                                                                  \
			hdr = realloc(hdr, cap);                                                   \
			ASSERT(hdr);                                                               \
		}                                                                                  \
		len += (size_t)k_;                                                                 \
	} while (0)

	EMIT("{\"__metadata__\":{\"format\":\"pt\"");
	for (int i = 0; i < nmeta; i++)
		EMIT(",\"%s\":\"%s\"", meta[i].key, meta[i].value);
	EMIT("}");
	for (int i = 0; i < n; i++) {
		size_t numel = 1, nb;
		for (int d = 0; d < t[i].ndims; d++)
			numel *= (size_t)t[i].dims[d];
		nb = numel * dtype_size[t[i].dtype];
		EMIT(",\"%s\":{\"dtype\":\"%s\",\"shape\":[", t[i].name, dtype_names[t[i].dtype]);
		for (int d = 0; d < t[i].ndims; d++)
			EMIT("%s%lld", d ? "," : "", (long long)t[i].dims[d]);
		EMIT("],\"data_offsets\":[%zu,%zu]}", off, off + nb);
		off += nb;
	}
	EMIT("}");
	while (len % 8)
		EMIT(" ");
#undef EMIT
	total = 8 + len + off;
	buf = malloc(total);
	if (!buf) {
		util_seterr(err, errlen, "%s: cannot allocate %zu bytes", path, total);
		free(hdr);
		return -ENOMEM;
	}
	for (int i = 0; i < 8; i++)
		buf[i] = (char)(((uint64_t)len >> (8 * i)) & 0xff);
	memcpy(buf + 8, hdr, len);
	off = 8 + len;
	for (int i = 0; i < n; i++) {
		size_t numel = 1;
		for (int d = 0; d < t[i].ndims; d++)
			numel *= (size_t)t[i].dims[d];
		memcpy(buf + off, t[i].data, numel * dtype_size[t[i].dtype]);
		off += numel * dtype_size[t[i].dtype];
	}
	ret = util_write_file_atomic(path, buf, total);
	if (ret)
		util_seterr(err, errlen, "%s: %s", path, strerror(-ret));
	free(hdr);
	free(buf);
	return ret;
}
