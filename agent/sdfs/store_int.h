/*
 * store_int.h - what the files of the store share (not for its users;
 * store.h is the interface).
 *
 *   store.c        the folder: file names, the scan at open into the
 *                  index (store_index.c), removals, deletion markers,
 *                  listings
 *   store_write.c  writing a version: content, checksums, commit
 *   store_read.c   reading a version back, every chunk checked
 *   store_crc.c    CRC32C
 *
 * A version's file: the content, then one CRC32C per 1 MiB chunk, then a
 * 24-byte trailer: u64 size, u32 chunk size, u32 chunk count, u32 magic,
 * u32 CRC32C of the checksum table and the trailer's first 20 bytes.
 */
#ifndef IDUNNO_STORE_INT_H
#define IDUNNO_STORE_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define STORE_MAGIC   0x46534449u /* "IDSF" */
#define STORE_TRAILER 24

struct store_index;

struct store {
	int dirfd;
	unsigned counter;	/* temporary file names */
	struct store_index *ix; /* what the folder holds */
	int planted;		/* entries removed at open: not regular files */
};

/* The file of (name, version) in the folder: hex of the name, a dot, the
 * version in 20 digits. */
void store_file_of(const char *name, uint64_t version, char *out, size_t len);
/* Opens rel inside the folder, never through a link or out of it: the fd
 * or -errno. */
int store_open_beneath(struct store *s, const char *rel, int flags, mode_t mode);

#endif
