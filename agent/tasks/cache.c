/*
 * cache.c - a worker's local copies of SDFS files (see cache.h).
 *
 * Each entry is a small state machine: FETCHING (the SDFS client writes
 * NAME.part), then RENAMING (io_uring renames it into place), or, for a
 * file found at start whose CRC is asked for, CHECKING (read back a piece
 * at a time through io_uring); then READY.  A file that fails its check
 * is removed and fetched again.  Callers waiting on an entry are told when
 * it settles.
 */
#include "tasks/cache.h"
#include "core/log.h"
#include "core/loop.h"
#include "sdfs/sdfs_client.h"
#include "sdfs/store.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ENTRIES_MAX 512
#define WAITERS_MAX 64
#define PIECE	    (1u << 20)

enum estate { E_FREE, E_FETCHING, E_RENAMING, E_CHECKING, E_READY, E_GONE, E_STATE_MAX };
static const char *const estate_names[E_STATE_MAX] = {"free",	  "fetching", "renaming",
						      "checking", "ready",    "gone"};

enum op { OP_READ = 1, OP_RENAME, OP_UNLINK };

struct waiter {
	cache_fn fn;
	void *arg;
};

struct entry {
	struct cache *c;
	enum estate state;
	char name[STORE_NAME_MAX + 1];
	uint64_t version, size, last_use;
	int have_crc, verified, refs, io;
	uint32_t crc, run_crc;
	int fd;
	uint8_t *buf;
	uint64_t off;
	char path[512], tmp[520];
	struct waiter w[WAITERS_MAX];
	int nw;
};

struct cache {
	struct cache_env env; /* env.dir points to dir below */
	char dir[4096];
	int owner;
	struct entry *e;
	uint64_t n_hits, n_misses, n_bytes_fetched, n_checks, n_bad, n_evicted;
};

static void fetch(struct cache *c, struct entry *e);

static uint64_t ud(struct cache *c, struct entry *e, enum op op)
{
	return LOOP_UD(c->owner, op, (uint64_t)(e - c->e));
}

static void paths(struct cache *c, struct entry *e)
{
	char hex[2 * STORE_NAME_MAX + 1];
	size_t n = strlen(e->name);

	for (size_t i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", (unsigned char)e->name[i]);
	hex[2 * n] = '\0';
	snprintf(e->path, sizeof(e->path), "%s/%s.%020llu", c->env.dir, hex,
		 (unsigned long long)e->version);
	snprintf(e->tmp, sizeof(e->tmp), "%s.part", e->path);
}

/* Tells every waiter; a successful one holds the file. */
static void settle(struct entry *e, int status)
{
	int nw = e->nw;

	e->nw = 0;
	if (status == 0)
		e->refs += nw;
	for (int i = 0; i < nw; i++)
		e->w[i].fn(e->w[i].arg, status, status ? NULL : e->path);
}

static void forget(struct entry *e)
{
	struct cache *c = e->c;

	if (e->fd >= 0)
		close(e->fd);
	free(e->buf);
	memset(e, 0, sizeof(*e));
	e->c = c;
	e->fd = -1;
}

static void unlink_async(struct cache *c, struct entry *e, const char *path)
{
	struct io_uring_sqe *sqe = loop_sqe(c->env.loop);

	io_uring_prep_unlinkat(sqe, AT_FDCWD, path, 0);
	io_uring_sqe_set_data64(sqe, ud(c, e, OP_UNLINK));
	e->io++;
}

/* Over the limit: the least recently used files nobody holds go. */
static void evict(struct cache *c)
{
	uint64_t total = 0;

	for (int i = 0; i < ENTRIES_MAX; i++)
		if (c->e[i].state == E_READY)
			total += c->e[i].size;
	while (total > c->env.limit) {
		struct entry *v = NULL;
		for (int i = 0; i < ENTRIES_MAX; i++) {
			struct entry *e = &c->e[i];
			if (e->state == E_READY && !e->refs && !e->nw &&
			    (!v || e->last_use < v->last_use))
				v = e;
		}
		if (!v)
			break;
		total -= v->size;
		c->n_evicted++;
		v->state = E_GONE; /* freed when the unlink completes */
		unlink_async(c, v, v->path);
	}
}

static void ready(struct cache *c, struct entry *e)
{
	e->state = E_READY;
	e->verified = e->have_crc;
	e->last_use = loop_now_ms();
	settle(e, 0);
	evict(c);
}

/* A fetch or a check failed: the file goes, and the waiters hear why. */
static void failed(struct cache *c, struct entry *e, int status, const char *why)
{
	const char *gone = e->state == E_RENAMING ? e->path : e->tmp;

	log_msg(LOG_WARN, "cache: %s v%llu: %s while %s (%s)", e->name,
		(unsigned long long)e->version, why, estate_names[e->state], strerror(-status));
	if (e->fd >= 0)
		close(e->fd);
	e->fd = -1;
	settle(e, status);
	e->state = E_GONE;
	unlink_async(c, e, gone);
}

static void on_fetched(void *arg, int status, uint64_t version, uint64_t size, uint32_t crc,
		       uint8_t *data)
{
	struct entry *e = arg;
	struct cache *c = e->c;
	struct io_uring_sqe *sqe;

	(void)version, (void)data;
	close(e->fd);
	e->fd = -1;
	if (status == 0 && e->have_crc && crc != e->crc) {
		c->n_bad++;
		status = -EBADMSG;
	}
	if (status) {
		failed(c, e, status, "fetch failed");
		return;
	}
	c->n_bytes_fetched += size;
	e->size = size;
	e->state = E_RENAMING;
	sqe = loop_sqe(c->env.loop);
	io_uring_prep_renameat(sqe, AT_FDCWD, e->tmp, AT_FDCWD, e->path, 0);
	io_uring_sqe_set_data64(sqe, ud(c, e, OP_RENAME));
	e->io++;
}

static void fetch(struct cache *c, struct entry *e)
{
	int ret;

	c->n_misses++;
	e->state = E_FETCHING;
	e->fd = open(e->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (e->fd < 0) {
		failed(c, e, -errno, "cannot create the local copy");
		return;
	}
	ret = sdfs_client_get(c->env.sdfs, e->name, e->version, e->fd, 0, on_fetched, e);
	if (ret)
		failed(c, e, ret, "cannot start the fetch");
}

/* A file found at start, asked for with a CRC: read it back first. */
static void check_next(struct cache *c, struct entry *e)
{
	struct io_uring_sqe *sqe = loop_sqe(c->env.loop);

	io_uring_prep_read(sqe, e->fd, e->buf, PIECE, e->off);
	io_uring_sqe_set_data64(sqe, ud(c, e, OP_READ));
	e->io++;
}

static void check(struct cache *c, struct entry *e)
{
	c->n_checks++;
	e->state = E_CHECKING;
	e->fd = open(e->path, O_RDONLY | O_CLOEXEC);
	if (e->fd < 0) {
		e->state = E_FETCHING;
		fetch(c, e);
		return;
	}
	e->buf = xmalloc(PIECE);
	e->off = 0;
	e->run_crc = 0;
	check_next(c, e);
}

static void on_checked(struct cache *c, struct entry *e, int res)
{
	if (res > 0) {
		e->run_crc = store_crc32c(e->run_crc, e->buf, (size_t)res);
		e->off += (uint64_t)res;
		check_next(c, e);
		return;
	}
	close(e->fd);
	e->fd = -1;
	free(e->buf);
	e->buf = NULL;
	if (res == 0 && e->run_crc == e->crc) {
		e->size = e->off;
		ready(c, e);
		return;
	}
	c->n_bad++;
	log_msg(LOG_WARN, "cache: %s v%llu is corrupt on disk: fetching it again", e->name,
		(unsigned long long)e->version);
	fetch(c, e); /* its rename replaces the bad file */
}

static void complete(void *m, unsigned op, uint64_t idx, int res, uint32_t flags)
{
	struct cache *c = m;
	struct entry *e = &c->e[idx % ENTRIES_MAX];

	(void)flags;
	e->io--;
	if (op == OP_READ) {
		on_checked(c, e, res);
	} else if (op == OP_RENAME) {
		if (res < 0)
			failed(c, e, res, "cannot rename the local copy");
		else
			ready(c, e);
	} else if (e->state == E_GONE && !e->io) {
		forget(e);
	}
}

static struct entry *find(struct cache *c, const char *name, uint64_t version)
{
	for (int i = 0; i < ENTRIES_MAX; i++) {
		struct entry *e = &c->e[i];
		if (e->state != E_FREE && e->state != E_GONE && e->version == version &&
		    !strcmp(e->name, name))
			return e;
	}
	return NULL;
}

static struct entry *slot(struct cache *c, const char *name, uint64_t version)
{
	for (int i = 0; i < ENTRIES_MAX; i++)
		if (c->e[i].state == E_FREE) {
			struct entry *e = &c->e[i];
			forget(e);
			snprintf(e->name, sizeof(e->name), "%s", name);
			e->version = version;
			paths(c, e);
			return e;
		}
	return NULL;
}

int cache_get(struct cache *c, const char *name, uint64_t version, int have_crc, uint32_t crc,
	      cache_fn fn, void *arg)
{
	struct entry *e = find(c, name, version);

	if (store_name_check(name, NULL, 0) || !version)
		return -EINVAL;
	if (!e) {
		e = slot(c, name, version);
		if (!e)
			return -EBUSY;
		e->have_crc = have_crc;
		e->crc = crc;
		e->w[e->nw++] = (struct waiter){fn, arg};
		fetch(c, e);
		return 0;
	}
	if (e->nw == WAITERS_MAX)
		return -EBUSY;
	if (e->state == E_READY && (!have_crc || e->verified)) {
		c->n_hits++;
		e->refs++;
		e->last_use = loop_now_ms();
		fn(arg, 0, e->path);
		return 0;
	}
	e->w[e->nw++] = (struct waiter){fn, arg};
	if (e->state == E_READY) { /* found at start: check it before its first use */
		e->have_crc = 1;
		e->crc = crc;
		check(c, e);
	}
	return 0;
}

void cache_release(struct cache *c, const char *name, uint64_t version)
{
	struct entry *e = find(c, name, version);

	if (e && e->refs > 0)
		e->refs--;
}

void cache_discard(struct cache *c, const char *name, uint64_t version)
{
	struct entry *e = find(c, name, version);

	if (!e || e->state != E_READY)
		return;
	c->n_bad++;
	e->state = E_GONE;
	unlink_async(c, e, e->path);
}

/* ---- start: what the folder holds ---- */

static int unhex(const char *h, size_t n, char *out, size_t cap)
{
	if (n % 2 || n / 2 >= cap)
		return -1;
	for (size_t i = 0; i < n; i += 2) {
		unsigned v;
		if (sscanf(h + i, "%2x", &v) != 1)
			return -1;
		out[i / 2] = (char)v;
	}
	out[n / 2] = '\0';
	return 0;
}

static void scan(struct cache *c)
{
	DIR *d = opendir(c->env.dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		const char *dot = strrchr(de->d_name, '.');
		char name[STORE_NAME_MAX + 1], full[600];
		struct stat st;
		struct entry *e;
		snprintf(full, sizeof(full), "%s/%s", c->env.dir, de->d_name);
		if (de->d_name[0] == '.')
			continue;
		if (!dot || strlen(dot + 1) != 20 || strspn(dot + 1, "0123456789") != 20 ||
		    unhex(de->d_name, (size_t)(dot - de->d_name), name, sizeof(name)) ||
		    store_name_check(name, NULL, 0) || stat(full, &st) || !S_ISREG(st.st_mode)) {
			unlink(full); /* a half-written .part, or not ours */
			continue;
		}
		e = slot(c, name, strtoull(dot + 1, NULL, 10));
		if (!e)
			break;
		e->state = E_READY;
		e->size = (uint64_t)st.st_size;
	}
	closedir(d);
}

/* ---- the module ---- */

static size_t stats(void *m, char *buf, size_t cap)
{
	struct cache *c = m;
	uint64_t bytes = 0;
	int files = 0, busy = 0;

	for (int i = 0; i < ENTRIES_MAX; i++) {
		files += c->e[i].state == E_READY;
		bytes += c->e[i].state == E_READY ? c->e[i].size : 0;
		busy += c->e[i].state == E_FETCHING || c->e[i].state == E_CHECKING;
	}
	return (size_t)snprintf(
		buf, cap,
		"cache_files %d\ncache_bytes %llu\ncache_hits %llu\ncache_misses %llu\n"
		"cache_bytes_fetched %llu\ncache_checks %llu\ncache_bad %llu\n"
		"cache_evicted %llu\ncache_busy %d\n",
		files, (unsigned long long)bytes, (unsigned long long)c->n_hits,
		(unsigned long long)c->n_misses, (unsigned long long)c->n_bytes_fetched,
		(unsigned long long)c->n_checks, (unsigned long long)c->n_bad,
		(unsigned long long)c->n_evicted, busy);
}

static int pending(void *m)
{
	struct cache *c = m;
	int n = 0;

	for (int i = 0; i < ENTRIES_MAX; i++)
		n += c->e[i].io;
	return n;
}

static const struct loop_ops cache_ops = {
	.name = "cache",
	.complete = complete,
	.stats = stats,
	.pending = pending,
};

int cache_new(const struct cache_env *env, struct cache **out, char *err, size_t errlen)
{
	struct cache *c = xcalloc(1, sizeof(*c));

	c->env = *env;
	snprintf(c->dir, sizeof(c->dir), "%s", env->dir);
	c->env.dir = c->dir;
	if (mkdir(env->dir, 0700) < 0 && errno != EEXIST) {
		util_seterr(err, errlen, "%s: %s", env->dir, strerror(errno));
		free(c);
		return -errno;
	}
	c->e = xcalloc(ENTRIES_MAX, sizeof(*c->e));
	for (int i = 0; i < ENTRIES_MAX; i++) {
		c->e[i].c = c;
		c->e[i].fd = -1;
	}
	c->owner = loop_register(env->loop, &cache_ops, c);
	if (c->owner < 0) {
		int ret = c->owner;
		free(c->e);
		free(c);
		util_seterr(err, errlen, "too many loop modules");
		return ret;
	}
	scan(c);
	*out = c;
	return 0;
}

void cache_free(struct cache *c)
{
	if (!c)
		return;
	for (int i = 0; i < ENTRIES_MAX; i++)
		forget(&c->e[i]);
	free(c->e);
	free(c);
}
