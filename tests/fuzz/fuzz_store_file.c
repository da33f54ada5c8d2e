/*
 * fuzz_store_file.c - a replica file in an SDFS store folder, as a node
 * reads it back (store_read_begin checks the trailer and the checksum
 * table, store_read every chunk's CRC32C): whatever the disk holds under
 * a replica's name.  The input is the file of version 1 of "f" in a store
 * folder under /dev/shm, opened (scanned) afresh for each input.  Holds:
 * no more bytes are read than the size the framing gives; a file that
 * reads in full is exactly the file the store writes for those bytes.
 */
#include "fuzz.h"
#include "sdfs/store.h"
#include "sdfs/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

static char dir[64];

static void cleanup(void)
{
	rmdir(dir);
}

static int put(const char *path, const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int ok = fd >= 0 && write(fd, data, size) == (ssize_t)size;

	if (fd >= 0)
		close(fd);
	return ok ? 0 : -1;
}

/* The bytes of the file at path into buf (cap), or -1. */
static ssize_t get(const char *path, uint8_t *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, cap) : -1;

	if (fd >= 0)
		close(fd);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t content[1 << 17], again[1 << 17];
	char f1[600], f2[600], p1[700], p2[700], err[256];
	struct store *s;
	struct store_reader *r;
	struct store_writer *w;
	uint64_t sz, got = 0;
	ssize_t n = 0;

	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/dev/shm/fuzz-store-%d", (int)getpid());
		mkdir(dir, 0700);
		atexit(cleanup);
	}
	store_file_of("f", 1, f1, sizeof(f1));
	store_file_of("f", 2, f2, sizeof(f2));
	snprintf(p1, sizeof(p1), "%s/%s", dir, f1);
	snprintf(p2, sizeof(p2), "%s/%s", dir, f2);
	FUZZ_ASSERT(put(p1, data, size) == 0);
	FUZZ_ASSERT(store_open(dir, &s, err, sizeof(err)) == 0);
	if (store_read_begin(s, "f", 1, &r, &sz, NULL) == 0) {
		FUZZ_ASSERT(sz <= size);
		while (got < sz && (n = store_read(r, content + got, sizeof(content) - got)) > 0)
			got += (uint64_t)n;
		FUZZ_ASSERT(got <= sz && (n >= 0 || n == -EBADMSG));
		store_read_end(r);
		if (got == sz) { /* read in full: the store writes the same file */
			FUZZ_ASSERT(store_write_begin(s, "f", 2, &w) == 0);
			FUZZ_ASSERT(store_write(w, content, sz) == 0);
			FUZZ_ASSERT(store_write_commit(w) == 0);
			FUZZ_ASSERT(get(p2, again, sizeof(again)) == (ssize_t)size);
			FUZZ_ASSERT(!memcmp(again, data, size));
		}
	}
	store_close(s);
	unlink(p1);
	unlink(p2);
	return 0;
}
