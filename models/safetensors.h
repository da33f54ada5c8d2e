/*
 * safetensors.h - reads and writes the safetensors format: an 8-byte
 * little-endian header length, a JSON header naming each tensor's dtype,
 * shape and byte range, then the data.  The reader maps the file and checks
 * everything before handing out a pointer: header size and syntax, dtypes,
 * that every byte range lies inside the data and matches its shape, that
 * ranges do not overlap and cover the data exactly.
 */
#ifndef IDUNNO_SAFETENSORS_H
#define IDUNNO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define ST_MAX_DIMS   8
#define ST_MAX_HEADER (16u << 20) /* a larger header is refused */

enum st_dtype { ST_F32, ST_I64, ST_OTHER, ST_DTYPE_MAX };

struct st_tensor {
	char *name;
	enum st_dtype dtype;
	char dtype_name[16];
	int ndims;
	int64_t dims[ST_MAX_DIMS];
	const void *data; /* inside the mapping */
	size_t nbytes;
};

#define ST_MAX_META 16 /* __metadata__ entries kept; later ones are checked, not kept */

struct st_meta {
	const char *key, *value;
};

struct st_file {
	void *map;
	size_t map_len;
	int ntensors;
	struct st_tensor *tensors;
	int nmeta;
	struct st_meta meta[ST_MAX_META]; /* the header's __metadata__ strings (malloc'd) */
};

/*
 * Maps and checks path.  Returns 0, or -errno / -EINVAL with a message in
 * err naming what is wrong (and the tensor, where there is one).
 */
int st_open(const char *path, struct st_file *f, char *err, size_t errlen);
const struct st_tensor *st_find(const struct st_file *f, const char *name);
/* The string the header's __metadata__ gives key (e.g. "arch"), or NULL. */
const char *st_metadata(const struct st_file *f, const char *key);
void st_close(struct st_file *f);

/* Drops the mapping's pages from memory; they are read again on use. */
void st_drop_pages(struct st_file *f);

/* A tensor to write: name, dtype (F32 or I64), shape, data. */
struct st_out {
	const char *name;
	enum st_dtype dtype;
	int ndims;
	int64_t dims[ST_MAX_DIMS];
	const void *data;
};

/* Writes n tensors to path (atomically: temporary file, then rename). */
int st_write(const char *path, const struct st_out *t, int n, char *err, size_t errlen);
/*
 * The same with nmeta __metadata__ strings besides "format": "pt" (keys and
 * values of printable ASCII without '"' or '\\'; others are refused).
 */
int st_write_meta(const char *path, const struct st_meta *meta, int nmeta, const struct st_out *t,
		  int n, char *err, size_t errlen);

#endif
