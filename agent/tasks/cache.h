/*
 * cache.h - a worker's local copies of SDFS files (model weights, dataset
 * shards), keyed by name and SDFS version, in a folder of the agent's.
 *
 * A file is fetched once through the in-loop SDFS client into a temporary
 * name and renamed into place only when whole (and, when its CRC32C is
 * known, checked), so a crash never leaves a half-written file where a
 * complete one is expected.  Files found at start are used again; one
 * whose CRC is known is read back and checked (through io_uring, a piece
 * at a time) before its first use.  Files not in use are evicted, least
 * recently used first, when the folder grows past its limit.
 */
#ifndef IDUNNO_CACHE_H
#define IDUNNO_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct loop;
struct sdfs_client;
struct cache;

struct cache_env {
	struct loop *loop;
	struct sdfs_client *sdfs;
	const char *dir; /* created when missing */
	uint64_t limit;	 /* bytes kept (files in use are never evicted) */
};

/* The file is ready at path (valid until cache_release), or status < 0. */
typedef void (*cache_fn)(void *arg, int status, const char *path);

int cache_new(const struct cache_env *env, struct cache **out, char *err, size_t errlen);
void cache_free(struct cache *c);

/*
 * Makes version of name available locally and calls fn (at once when it
 * already is).  With have_crc, the content must have that CRC32C.  Each
 * successful call holds the file until cache_release.  0, or -errno
 * (-EBUSY: too many files at once).
 */
int cache_get(struct cache *c, const char *name, uint64_t version, int have_crc, uint32_t crc,
	      cache_fn fn, void *arg);
void cache_release(struct cache *c, const char *name, uint64_t version);
/* The file proved bad (the engine refused it): it is deleted, and the
 * next cache_get fetches it again. */
void cache_discard(struct cache *c, const char *name, uint64_t version);

#endif
