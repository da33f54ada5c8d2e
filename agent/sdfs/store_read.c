/*
 * store_read.c - reading a version from the store (see store.h): the
 * trailer and the checksum table checked at open, every chunk checked
 * against its CRC32C before any of its bytes is returned.
 */
#include "sdfs/store.h"
#include "sdfs/store_int.h"
#include "util.h"
#include "wire/wire_codec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct store_reader {
	int fd;
	uint64_t size, pos;
	uint32_t nchunks;
	uint32_t *crcs;
	uint8_t *chunk;
	int64_t loaded; /* chunk in the buffer, or -1 */
	size_t chunk_len;
};

int store_read_begin(struct store *s, const char *name, uint64_t version, struct store_reader **out,
		     uint64_t *size, uint64_t *version_out)
{
	struct store_reader *r;
	uint8_t tr[STORE_TRAILER], *table = NULL;
	struct stat st;
	char f[600];
	uint64_t sz = 0;
	int fd, ret = -EBADMSG;

	if (store_name_check(name, NULL, 0))
		return -EINVAL;
	if (version == 0 && store_versions(s, name, &version, 1) <= 0)
		return -ENOENT;
	store_file_of(name, version, f, sizeof(f));
	/* never blocks on a planted fifo; a link (ELOOP) is as bad as a corrupt file */
	fd = store_open_beneath(s, f, O_RDONLY | O_NONBLOCK, 0);
	if (fd < 0)
		return fd == -ELOOP ? -EBADMSG : fd;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < STORE_TRAILER ||
	    pread(fd, tr, STORE_TRAILER, st.st_size - STORE_TRAILER) != STORE_TRAILER)
		goto bad;
	fcntl(fd, F_SETFL, 0); /* a regular file: its reads may wait (io_uring's) */
	sz = wire_le_get(tr, 8);
	if (wire_le_get(tr + 16, 4) != STORE_MAGIC || wire_le_get(tr + 8, 4) != STORE_CHUNK ||
	    wire_le_get(tr + 12, 4) != (sz + STORE_CHUNK - 1) / STORE_CHUNK ||
	    (uint64_t)st.st_size != sz + wire_le_get(tr + 12, 4) * 4 + STORE_TRAILER)
		goto bad;
	r = xcalloc(1, sizeof(*r));
	r->nchunks = (uint32_t)wire_le_get(tr + 12, 4);
	table = xmalloc((size_t)r->nchunks * 4 + 20);
	if (pread(fd, table, (size_t)r->nchunks * 4, (off_t)sz) != (ssize_t)r->nchunks * 4) {
		free(r);
		goto bad;
	}
	memcpy(table + (size_t)r->nchunks * 4, tr, 20);
	if (store_crc32c(0, table, (size_t)r->nchunks * 4 + 20) != wire_le_get(tr + 20, 4)) {
		free(r);
		goto bad;
	}
	r->crcs = xmalloc((size_t)r->nchunks * sizeof(uint32_t) + 1);
	for (uint32_t i = 0; i < r->nchunks; i++)
		r->crcs[i] = (uint32_t)wire_le_get(table + 4 * i, 4);
	free(table);
	r->fd = fd;
	r->size = sz;
	r->loaded = -1;
	r->chunk = xmalloc(STORE_CHUNK);
	*out = r;
	*size = sz;
	if (version_out)
		*version_out = version;
	return 0;
bad:
	free(table);
	close(fd);
	return ret;
}

ssize_t store_read(struct store_reader *r, void *buf, size_t len)
{
	uint64_t idx, off;
	size_t n;

	if (r->pos >= r->size)
		return 0;
	idx = r->pos / STORE_CHUNK;
	if ((int64_t)idx != r->loaded) {
		size_t want = (size_t)MIN((uint64_t)STORE_CHUNK, r->size - idx * STORE_CHUNK);
		if (pread(r->fd, r->chunk, want, (off_t)(idx * STORE_CHUNK)) != (ssize_t)want)
			return -EBADMSG;
		if (store_crc32c(0, r->chunk, want) != r->crcs[idx])
			return -EBADMSG; /* a corrupt replica is never served */
		r->loaded = (int64_t)idx;
		r->chunk_len = want;
	}
	off = r->pos - idx * STORE_CHUNK;
	n = MIN(len, r->chunk_len - (size_t)off);
	memcpy(buf, r->chunk + off, n);
	r->pos += n;
	return (ssize_t)n;
}

void store_read_end(struct store_reader *r)
{
	if (!r)
		return;
	close(r->fd);
	free(r->crcs);
	free(r->chunk);
	free(r);
}

int store_reader_fd(const struct store_reader *r)
{
	return r->fd;
}

uint32_t store_reader_crc(const struct store_reader *r, uint64_t chunk)
{
	ASSERT(chunk < r->nchunks);
	return r->crcs[chunk];
}
