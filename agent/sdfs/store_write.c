/*
 * store_write.c - writing a version into the store (see store.h): the
 * content into a temporary file with a CRC32C per chunk, then the
 * checksum table and the trailer, fsync, and a rename into place that
 * never replaces a version (or, driven by the agent's io_uring, the same
 * steps done by the caller and noted here).
 */
#include "sdfs/store.h"
#include "sdfs/store_index.h"
#include "sdfs/store_int.h"
#include "util.h"
#include "wire/wire_codec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct store_writer {
	struct store *s;
	int fd;
	int renamed; /* in place: indexed, and an abort leaves it */
	char tmp[600], final[600];
	char final_name[STORE_NAME_MAX + 1]; /* the SDFS name */
	uint64_t version;
	uint32_t *crcs;
	uint32_t nchunks, cap;
	uint32_t cur; /* CRC of the chunk being filled */
	size_t fill;  /* its bytes so far */
	uint64_t size;
};

int store_write_begin(struct store *s, const char *name, uint64_t version,
		      struct store_writer **out)
{
	struct store_writer *w;
	char f[600];
	int fd;

	if (store_name_check(name, NULL, 0) || version == 0)
		return -EINVAL;
	store_file_of(name, version, f, sizeof(f));
	w = xcalloc(1, sizeof(*w));
	snprintf(w->final, sizeof(w->final), "%s", f);
	snprintf(w->final_name, sizeof(w->final_name), "%s", name);
	w->version = version;
	snprintf(w->tmp, sizeof(w->tmp), ".tmp-%d-%u", (int)getpid(), ++s->counter);
	fd = store_open_beneath(s, w->tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0) {
		free(w);
		return fd;
	}
	w->s = s;
	w->fd = fd;
	*out = w;
	return 0;
}

static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t k = write(fd, b, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			return -EIO;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

static void push_crc(struct store_writer *w)
{
	if (w->nchunks == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 64;
		w->crcs = realloc(w->crcs, w->cap * sizeof(*w->crcs));
		ASSERT(w->crcs);
	}
	w->crcs[w->nchunks++] = w->cur;
	w->cur = 0;
	w->fill = 0;
}

int store_write(struct store_writer *w, const void *data, size_t len)
{
	const uint8_t *p = data;
	int ret = write_all(w->fd, data, len);

	if (ret)
		return ret;
	w->size += len;
	while (len) {
		size_t n = MIN(len, STORE_CHUNK - w->fill);
		w->cur = store_crc32c(w->cur, p, n);
		w->fill += n;
		p += n;
		len -= n;
		if (w->fill == STORE_CHUNK)
			push_crc(w);
	}
	return 0;
}

uint8_t *store_write_trailer(struct store_writer *w, size_t *len, uint64_t *off)
{
	uint8_t *table, tr[STORE_TRAILER];
	size_t tlen;

	if (w->fill)
		push_crc(w);
	tlen = (size_t)w->nchunks * 4;
	table = xmalloc(tlen + STORE_TRAILER);
	for (uint32_t i = 0; i < w->nchunks; i++)
		wire_le_put(table + 4 * i, w->crcs[i], 4);
	wire_le_put(tr, w->size, 8);
	wire_le_put(tr + 8, STORE_CHUNK, 4);
	wire_le_put(tr + 12, w->nchunks, 4);
	wire_le_put(tr + 16, STORE_MAGIC, 4);
	memcpy(table + tlen, tr, 20);
	wire_le_put(tr + 20, store_crc32c(0, table, tlen + 20), 4);
	memcpy(table + tlen, tr, STORE_TRAILER);
	*len = tlen + STORE_TRAILER;
	*off = w->size;
	return table;
}

int store_write_commit(struct store_writer *w)
{
	size_t tlen;
	uint64_t off;
	uint8_t *table = store_write_trailer(w, &tlen, &off);
	int ret = write_all(w->fd, table, tlen);

	free(table);
	if (!ret && fsync(w->fd) < 0)
		ret = -errno;
	if (close(w->fd) < 0 && !ret)
		ret = -errno;
	w->fd = -1;
	if (!ret && renameat2(w->s->dirfd, w->tmp, w->s->dirfd, w->final, RENAME_NOREPLACE) < 0)
		ret = -errno;
	if (!ret)
		store_write_renamed(w);
	if (!ret && fsync(w->s->dirfd) < 0)
		ret = -errno;
	if (ret) {
		store_write_abort(w);
		return ret;
	}
	store_write_done(w);
	return 0;
}

int store_writer_fd(const struct store_writer *w)
{
	return w->fd;
}

void store_write_note(struct store_writer *w, uint32_t crc, size_t len)
{
	ASSERT(w->fill == 0 && len <= STORE_CHUNK);
	w->size += len;
	if (len == 0)
		return;
	w->cur = crc;
	w->fill = len;
	push_crc(w);
}

void store_write_names(const struct store_writer *w, int *dirfd, const char **tmp,
		       const char **final)
{
	*dirfd = w->s->dirfd;
	*tmp = w->tmp;
	*final = w->final;
}

void store_write_renamed(struct store_writer *w)
{
	w->renamed = 1;
	store_index_add(w->s->ix, w->final_name, w->version, w->size);
}

void store_write_done(struct store_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	free(w->crcs);
	free(w);
}

void store_write_abort(struct store_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	if (!w->renamed)
		unlinkat(w->s->dirfd, w->tmp, 0);
	free(w->crcs);
	free(w);
}
