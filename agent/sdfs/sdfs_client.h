/*
 * sdfs_client.h - SDFS from inside the agent's loop: get a file into a
 * buffer or a local file, put a buffer or a local file, without blocking
 * the loop (every socket through the connection layer, every local file
 * read and write through io_uring).  The tasks layer fetches models and
 * dataset shards and persists results with it.
 *
 * A get asks the file's first ranked live members (the replica count plus
 * two) which versions they hold, takes the newest version that no answer
 * says was deleted (or the version asked for), and reads it from its
 * holders in rank order; a holder that fails or sends a corrupt chunk
 * hands over to the next from the last whole chunk.  A put streams to the
 * file's first ranked member, which chains it to the others (sdfs.h); the
 * callback comes when every replica has it durably, or with the error.
 */
#ifndef IDUNNO_SDFS_CLIENT_H
#define IDUNNO_SDFS_CLIENT_H

#include "wire/wire.h"

#include <stddef.h>
#include <stdint.h>

struct loop;
struct conns;
struct sdfs_client;

struct sdfs_client_env {
	struct loop *loop;
	struct conns *conns;
	const struct wire_key *key;
	int replicas;
	/* The live members (alive or suspected); returns how many (<= max). */
	int (*live)(void *arg, struct wire_addr *out, int max);
	void *arg;
};

/*
 * The end of a get or put: status 0 or a negative errno (-ENOENT: no such
 * file; -EIO: no holder could give it); the version and size, and for a
 * get the CRC32C of the whole content (as store_crc32c computes it).  For
 * a get into a buffer, data is that buffer (malloc'd, the callee's to
 * free); otherwise NULL.
 */
typedef void (*sdfs_client_fn)(void *arg, int status, uint64_t version, uint64_t size, uint32_t crc,
			       uint8_t *data);

int sdfs_client_new(const struct sdfs_client_env *env, struct sdfs_client **out);
void sdfs_client_free(struct sdfs_client *c);

/*
 * Gets version (0: the newest) of name into fd from offset 0 (fd >= 0,
 * the caller's, left open) or into a new buffer (fd < 0), at most max
 * bytes (0: no limit; a larger file fails with -EFBIG).  0 when started,
 * or -errno (-EINVAL: a bad name; -EBUSY: too many operations at once).
 */
int sdfs_client_get(struct sdfs_client *c, const char *name, uint64_t version, int fd, uint64_t max,
		    sdfs_client_fn fn, void *arg);
/*
 * Puts len bytes as a new version of name: from data (copied: the caller
 * may free it at once) or, when data is NULL, from fd (the caller's, read
 * from offset 0, left open).  0 when started, or -errno.
 */
int sdfs_client_put(struct sdfs_client *c, const char *name, const void *data, int fd, uint64_t len,
		    sdfs_client_fn fn, void *arg);

#endif
