/*
 * ring.c - the agent <-> engine shared-memory ring (see ring.h).
 *
 * Memory ordering: each queue index has one writer.  The writer fills the
 * entry, then stores the index with release; the reader loads the index
 * with acquire before reading the entry.  Sleeping uses the Dekker pattern
 * with sequentially consistent operations: the sleeper sets its "sleeping"
 * flag and re-checks the index; the waker stores the index and then reads
 * the flag; at least one of them sees the other, and FUTEX_WAIT rechecks
 * the index atomically.
 *
 * The model and file tables are written by the owner and read by the
 * engine (and the engine's per-slot status the other way round) under
 * sequence locks: the writer makes the counter odd, writes, makes it even
 * again; a reader copies the fields and retries when the counter was odd
 * or moved.  A reader gives up after a bounded number of tries (a writer
 * that died mid-write), so neither side can be stalled by the other.
 */
#include "ring.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define IMAGE_BYTES    (3u * 224u * 224u * sizeof(float))
#define SPIN_NS	       50000 /* spin this long before sleeping */
#define SEQ_TRIES      100000
#define RING_ERR_MAX   240
#define STATUS_UNKNOWN (-EINPROGRESS)

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics in shared memory must be lock-free");
_Static_assert(sizeof(struct ring_img) == 16, "struct ring_img is 16 bytes");
_Static_assert(sizeof(struct ring_result) == 44, "struct ring_result is 44 bytes");

struct cacheline_u32 {
	_Alignas(64) _Atomic uint32_t v;
	char pad[60];
};

struct ring_model {
	_Atomic uint32_t seq; /* sequence lock over gen, name, weights (owner writes) */
	_Atomic uint32_t gen; /* bumped by every ring_set_model */
	char name[RING_NAME_MAX];
	char weights[RING_PATH_MAX];
	_Atomic uint32_t vseq; /* sequence lock over view and err (engine writes) */
	uint32_t pad;
	_Atomic uint64_t view; /* the engine's: generation << 32 | (uint32_t)status */
	char err[RING_ERR_MAX];
};

struct ring_file {
	_Atomic uint32_t seq; /* sequence lock over gen and path */
	_Atomic uint32_t gen; /* bumped by every ring_set_file */
	char path[RING_PATH_MAX];
};

struct ring_hdr {
	uint32_t magic, version;
	uint32_t nslots;
	uint32_t pad0;
	uint64_t data_size;
	uint64_t sq_off, cq_off, data_off;
	_Atomic uint32_t engine_pid;
	_Atomic uint32_t engine_gen;
	_Atomic uint32_t stop;
	_Atomic uint32_t models_epoch; /* bumped by every ring_set_model: wakes the engine */
	_Atomic uint64_t busy_since;   /* the engine's current entry began (0: idle) */
	_Atomic uint64_t completed;    /* completions posted, all engine generations */
	struct cacheline_u32 sq_tail;  /* written by the owner */
	struct cacheline_u32 sq_head;  /* written by the engine */
	struct cacheline_u32 cq_tail;  /* written by the engine */
	struct cacheline_u32 cq_head;  /* written by the owner */
	struct cacheline_u32 engine_sleeping;
	struct cacheline_u32 owner_sleeping;
	struct ring_model models[RING_MAX_MODELS];
	struct ring_file files[RING_MAX_FILES];
};

struct inflight {
	struct ring_sqe sqe;
	uint64_t data_end; /* absolute end of its data region */
	int active;	   /* submitted and not yet released */
	int done;	   /* its completion was reaped */
	int in_cq;	   /* scratch for ring_recover */
};

/* One side's view of the mapping (both sides have one). */
struct ring_view {
	int fd;
	struct ring_hdr *h;
	size_t map_len;
	struct ring_sqe *sq;
	struct ring_cqe *cq;
	uint8_t *data;
};

struct ring {
	char name[128];
	struct ring_view v;
	uint64_t next_seq;
	uint64_t oldest_seq; /* lowest seq whose allocation is not yet released */
	struct inflight *fl; /* nslots entries, by seq % nslots */
	uint32_t ninflight;
	uint64_t alloc_head, alloc_tail; /* FIFO data allocator: absolute, only grow */
	int reserved;			 /* a reservation awaits ring_submit */
	uint64_t reserved_end;		 /* alloc_head after it */
	uint64_t head_before;		 /* alloc_head before it */
	uint64_t duplicates;
};

struct ring_engine {
	struct ring_view v;
	uint32_t gen;
	uint32_t seen_epoch; /* models_epoch as ring_next last reported it */
	int notify_fd;	     /* eventfd to signal after completions, or -1 */
	uint64_t notify_errors;
};

/* The queues and the data area, from the offsets in the header. */
static void view_bind(struct ring_view *v)
{
	v->sq = (struct ring_sqe *)((uint8_t *)v->h + v->h->sq_off);
	v->cq = (struct ring_cqe *)((uint8_t *)v->h + v->h->cq_off);
	v->data = (uint8_t *)v->h + v->h->data_off;
}

static long futex(_Atomic uint32_t *addr, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, addr, op, val, ts, NULL, 0);
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

size_t ring_batch_bytes(uint32_t n)
{
	size_t in = (size_t)n * IMAGE_BYTES, out = (size_t)n * sizeof(struct ring_result);
	return ((in + out) + 63) & ~(size_t)63;
}

size_t ring_batch_bytes_jpeg(uint32_t n)
{
	size_t in = (size_t)n * sizeof(struct ring_img),
	       out = (size_t)n * sizeof(struct ring_result);
	return ((in + out) + 63) & ~(size_t)63;
}

/* ---- sequence locks ---- */

static void seq_write_begin(_Atomic uint32_t *seq)
{
	uint32_t s = atomic_load_explicit(seq, memory_order_relaxed);
	atomic_store_explicit(seq, (s | 1u) == s ? s + 2 : s + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
}

static void seq_write_end(_Atomic uint32_t *seq)
{
	uint32_t s = atomic_load_explicit(seq, memory_order_relaxed);
	atomic_store_explicit(seq, s + 1, memory_order_release);
}

/* A reader's start: the even counter, or 1 (odd) while a write is under way. */
static uint32_t seq_read_begin(_Atomic uint32_t *seq)
{
	return atomic_load_explicit(seq, memory_order_acquire);
}

static int seq_read_retry(_Atomic uint32_t *seq, uint32_t start)
{
	atomic_thread_fence(memory_order_acquire);
	return (start & 1) || atomic_load_explicit(seq, memory_order_relaxed) != start;
}

static void copy_str(char *dst, const char *src, size_t len)
{
	memcpy(dst, src, len);
	dst[len - 1] = '\0';
}

static int shm_path(const char *name, char *buf, size_t len)
{
	if (!*name || strlen(name) > 100 || strchr(name, '/'))
		return -EINVAL;
	snprintf(buf, len, "/idunno-%s", name);
	return 0;
}

static size_t layout(uint32_t nslots, size_t data_size, uint64_t *sq, uint64_t *cq, uint64_t *d)
{
	*sq = (sizeof(struct ring_hdr) + 63) & ~(uint64_t)63;
	*cq = (*sq + nslots * sizeof(struct ring_sqe) + 63) & ~(uint64_t)63;
	*d = (*cq + nslots * sizeof(struct ring_cqe) + 4095) & ~(uint64_t)4095;
	return *d + data_size;
}

/* Every slot's engine view back to "not loaded" (no engine is writing). */
static void views_reset(struct ring_hdr *h)
{
	for (uint32_t i = 0; i < RING_MAX_MODELS; i++) {
		struct ring_model *m = &h->models[i];
		seq_write_begin(&m->vseq);
		atomic_store_explicit(&m->view, (uint64_t)(uint32_t)STATUS_UNKNOWN,
				      memory_order_relaxed);
		memset(m->err, 0, sizeof(m->err));
		seq_write_end(&m->vseq);
	}
}

int ring_create(const char *name, uint32_t nslots, size_t data_size, struct ring **out)
{
	struct ring *r;
	uint64_t sq, cq, d;
	int ret;

	if (nslots < 2 || nslots > 65536 || (nslots & (nslots - 1)) || data_size < 4096)
		return -EINVAL;
	r = xcalloc(1, sizeof(*r));
	r->v.fd = -1;
	ret = shm_path(name, r->name, sizeof(r->name));
	if (ret)
		goto err;
	/*
	 * Always a new object: a dead owner's engine may still map the old one
	 * (until it notices the owner's lock is gone), and must not find a new
	 * owner's ring in it.  A name whose owner lives is refused.
	 */
	for (int tries = 0; r->v.fd < 0; tries++) {
		int old;
		r->v.fd = shm_open(r->name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (r->v.fd >= 0 || errno != EEXIST || tries == 3) {
			if (r->v.fd < 0) {
				ret = -errno;
				goto err;
			}
			break;
		}
		old = shm_open(r->name, O_RDWR | O_CLOEXEC, 0);
		if (old >= 0 && flock(old, LOCK_EX | LOCK_NB) < 0) {
			close(old);
			ret = -EEXIST;
			goto err;
		}
		shm_unlink(r->name); /* a stale name: its owner is gone */
		if (old >= 0)
			close(old);
	}
	/* The owner's lock: held while it lives, so a stale name can be reused. */
	if (flock(r->v.fd, LOCK_EX | LOCK_NB) < 0) {
		ret = errno == EWOULDBLOCK ? -EEXIST : -errno;
		close(r->v.fd);
		r->v.fd = -1;
		goto err_unlink;
	}
	r->v.map_len = layout(nslots, data_size, &sq, &cq, &d);
	if (ftruncate(r->v.fd, 0) < 0 || ftruncate(r->v.fd, (off_t)r->v.map_len) < 0) {
		ret = -errno;
		goto err_unlink;
	}
	r->v.h = mmap(NULL, r->v.map_len, PROT_READ | PROT_WRITE, MAP_SHARED, r->v.fd, 0);
	if (r->v.h == MAP_FAILED) {
		ret = -errno;
		r->v.h = NULL;
		goto err_unlink;
	}
	r->v.h->nslots = nslots;
	r->v.h->data_size = data_size;
	r->v.h->sq_off = sq;
	r->v.h->cq_off = cq;
	r->v.h->data_off = d;
	view_bind(&r->v);
	r->fl = xcalloc(nslots, sizeof(*r->fl));
	views_reset(r->v.h);
	r->v.h->version = RING_VERSION;
	atomic_store_explicit((_Atomic uint32_t *)&r->v.h->magic, RING_MAGIC, memory_order_release);
	/* Downgrade to a shared lock: engines test it without taking it. */
	flock(r->v.fd, LOCK_SH);
	*out = r;
	return 0;
err_unlink:
	shm_unlink(r->name);
err:
	if (r->v.fd >= 0)
		close(r->v.fd);
	free(r);
	return ret;
}

int ring_set_model(struct ring *r, uint32_t slot, const char *model, const char *weights)
{
	struct ring_model *m;

	if (slot >= RING_MAX_MODELS ||
	    (model && (!*model || strlen(model) >= RING_NAME_MAX || !weights || !*weights ||
		       strlen(weights) >= RING_PATH_MAX)))
		return -EINVAL;
	m = &r->v.h->models[slot];
	seq_write_begin(&m->seq);
	memset(m->name, 0, sizeof(m->name));
	memset(m->weights, 0, sizeof(m->weights));
	if (model) {
		strcpy(m->name, model);
		strcpy(m->weights, weights);
	}
	atomic_store_explicit(&m->gen, atomic_load_explicit(&m->gen, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	seq_write_end(&m->seq);
	/* Wake a sleeping engine so that it loads the slot now, not at the next entry. */
	atomic_fetch_add_explicit(&r->v.h->models_epoch, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&r->v.h->engine_sleeping.v, memory_order_seq_cst))
		futex(&r->v.h->sq_tail.v, FUTEX_WAKE, 1, NULL);
	return 0;
}

/* The engine's view of a slot, consistently; err copied when buf is set. */
static int model_view(const struct ring *r, uint32_t slot, uint32_t *gen, char *buf, size_t len)
{
	struct ring_model *m;
	uint64_t v = (uint64_t)(uint32_t)STATUS_UNKNOWN;
	uint32_t vgen;
	int32_t st;

	if (buf && len)
		buf[0] = '\0';
	if (gen)
		*gen = 0;
	if (slot >= RING_MAX_MODELS)
		return -EINVAL;
	m = &r->v.h->models[slot];
	for (int tries = 0; tries < SEQ_TRIES; tries++) {
		uint32_t s = seq_read_begin(&m->vseq);
		uint64_t got = atomic_load_explicit(&m->view, memory_order_relaxed);
		if (buf && len)
			memcpy(buf, m->err, MIN(len, sizeof(m->err)));
		if (!seq_read_retry(&m->vseq, s)) {
			v = got;
			break;
		}
		if (buf && len)
			buf[0] = '\0';
		cpu_relax();
	}
	if (buf && len)
		buf[len - 1] = '\0';
	vgen = (uint32_t)(v >> 32);
	st = (int32_t)(uint32_t)v;
	if (gen)
		*gen = vgen;
	if (!m->name[0]) /* the owner's own table: no lock needed to read it */
		st = -ENOENT;
	else if (vgen != atomic_load_explicit(&m->gen, memory_order_relaxed))
		st = -EINPROGRESS;
	if (buf && len && (st == 0 || st == -EINPROGRESS || st == -ENOENT))
		buf[0] = '\0';
	return st;
}

int ring_model_status(const struct ring *r, uint32_t slot, uint32_t *gen)
{
	return model_view(r, slot, gen, NULL, 0);
}

int ring_model_error(const struct ring *r, uint32_t slot, char *buf, size_t len)
{
	return model_view(r, slot, NULL, buf, len);
}

int ring_set_file(struct ring *r, uint32_t idx, const char *path)
{
	struct ring_file *f;

	if (idx >= RING_MAX_FILES || (path && (!*path || strlen(path) >= RING_PATH_MAX)))
		return -EINVAL;
	f = &r->v.h->files[idx];
	seq_write_begin(&f->seq);
	memset(f->path, 0, sizeof(f->path));
	if (path)
		strcpy(f->path, path);
	atomic_store_explicit(&f->gen, atomic_load_explicit(&f->gen, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	seq_write_end(&f->seq);
	return 0;
}

void ring_destroy(struct ring *r)
{
	if (!r)
		return;
	atomic_store(&r->v.h->stop, 1);
	atomic_fetch_add(&r->v.h->sq_tail.v, 0); /* order the stop before the wake */
	futex(&r->v.h->sq_tail.v, FUTEX_WAKE, INT32_MAX, NULL);
	munmap(r->v.h, r->v.map_len);
	shm_unlink(r->name);
	close(r->v.fd);
	free(r->fl);
	free(r);
}

void *ring_data(struct ring *r)
{
	return r->v.data;
}

/*
 * The data allocator hands out regions in FIFO order from a circular area;
 * head and tail are absolute byte positions that only grow, and a region
 * never wraps: when it does not fit before the end of the area, the rest
 * of that lap is skipped.  Regions are released oldest first.
 */
int ring_reserve(struct ring *r, struct ring_sqe *e)
{
	uint64_t size = r->v.h->data_size, pos, start;
	int jpeg = (e->flags & RING_F_JPEG) != 0;
	size_t len;

	if (r->reserved)
		return -EBUSY;
	if (e->batch < 1 || e->batch > (jpeg ? RING_MAX_JPEG_BATCH : RING_MAX_BATCH))
		return -EINVAL;
	len = jpeg ? ring_batch_bytes_jpeg(e->batch) : ring_batch_bytes(e->batch);
	if (len > size)
		return -E2BIG;
	if (r->ninflight >= r->v.h->nslots)
		return -EAGAIN;
	pos = r->alloc_head % size;
	start = r->alloc_head + (pos + len > size ? size - pos : 0);
	if (start + len - r->alloc_tail > size)
		return -EAGAIN;
	e->in_off = start % size;
	e->out_off = e->in_off + (size_t)e->batch * (jpeg ? sizeof(struct ring_img) : IMAGE_BYTES);
	r->head_before = r->alloc_head;
	r->alloc_head = start + len;
	r->reserved = 1;
	r->reserved_end = r->alloc_head;
	return 0;
}

void ring_unreserve(struct ring *r)
{
	if (!r->reserved)
		return;
	r->reserved = 0;
	r->alloc_head = r->head_before;
}

/* Releases the data of completed entries, oldest first. */
static void release_done(struct ring *r)
{
	while (r->oldest_seq < r->next_seq) {
		struct inflight *f = &r->fl[r->oldest_seq % r->v.h->nslots];
		if (!f->done)
			break;
		r->alloc_tail = f->data_end;
		f->active = 0;
		f->done = 0;
		r->oldest_seq++;
	}
}

static void push_sqe(struct ring *r, const struct ring_sqe *e)
{
	uint32_t tail = atomic_load_explicit(&r->v.h->sq_tail.v, memory_order_relaxed);

	r->v.sq[tail & (r->v.h->nslots - 1)] = *e;
	atomic_store_explicit(&r->v.h->sq_tail.v, tail + 1, memory_order_seq_cst);
	if (atomic_load_explicit(&r->v.h->engine_sleeping.v, memory_order_seq_cst))
		futex(&r->v.h->sq_tail.v, FUTEX_WAKE, 1, NULL);
}

int ring_submit(struct ring *r, struct ring_sqe *e)
{
	struct inflight *f;

	if (!r->reserved)
		return -EINVAL;
	r->reserved = 0;
	e->seq = r->next_seq++;
	e->enqueue_ns = util_now_ns();
	f = &r->fl[e->seq % r->v.h->nslots];
	ASSERT(!f->active);
	*f = (struct inflight){.sqe = *e, .data_end = r->reserved_end, .active = 1};
	r->ninflight++;
	push_sqe(r, e);
	return 0;
}

/* Is c the completion of an entry still waiting for one? */
static struct inflight *pending_of(struct ring *r, const struct ring_cqe *c)
{
	struct inflight *f = &r->fl[c->seq % r->v.h->nslots];

	if (c->seq >= r->next_seq || !f->active || f->done || f->sqe.seq != c->seq)
		return NULL;
	return f;
}

int ring_reap(struct ring *r, struct ring_cqe *out, int max)
{
	uint32_t head = atomic_load_explicit(&r->v.h->cq_head.v, memory_order_relaxed);
	uint32_t tail = atomic_load_explicit(&r->v.h->cq_tail.v, memory_order_acquire);
	int n = 0;

	while (head != tail && n < max) {
		const struct ring_cqe *c = &r->v.cq[head & (r->v.h->nslots - 1)];
		struct inflight *f = pending_of(r, c);
		head++;
		if (!f) {
			r->duplicates++;
			continue;
		}
		f->done = 1;
		r->ninflight--;
		out[n++] = *c;
	}
	atomic_store_explicit(&r->v.h->cq_head.v, head, memory_order_release);
	release_done(r);
	return n;
}

/*
 * Waits until *idx moves from seen or, when kick is set, *kick from
 * kick_seen.  0, or -ETIMEDOUT.
 */
static int wait_index(_Atomic uint32_t *idx, uint32_t seen, _Atomic uint32_t *kick,
		      uint32_t kick_seen, _Atomic uint32_t *sleeping, int timeout_ms)
{
	uint64_t start = util_now_ns(), deadline = start + (uint64_t)timeout_ms * 1000000ull;

	while (atomic_load_explicit(idx, memory_order_acquire) == seen &&
	       (!kick || atomic_load_explicit(kick, memory_order_acquire) == kick_seen)) {
		uint64_t now = util_now_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		if (now - start < SPIN_NS) {
			cpu_relax();
			continue;
		}
		atomic_store_explicit(sleeping, 1, memory_order_seq_cst);
		if (atomic_load_explicit(idx, memory_order_seq_cst) == seen &&
		    (!kick || atomic_load_explicit(kick, memory_order_seq_cst) == kick_seen)) {
			uint64_t left = deadline - now;
			struct timespec ts = {(time_t)(left / 1000000000ull),
					      (long)(left % 1000000000ull)};
			futex(idx, FUTEX_WAIT, seen, &ts);
		}
		atomic_store_explicit(sleeping, 0, memory_order_relaxed);
	}
	return 0;
}

int ring_wait(struct ring *r, int timeout_ms)
{
	uint32_t head = atomic_load_explicit(&r->v.h->cq_head.v, memory_order_relaxed);
	return wait_index(&r->v.h->cq_tail.v, head, NULL, 0, &r->v.h->owner_sleeping.v, timeout_ms);
}

uint32_t ring_inflight(const struct ring *r)
{
	return r->ninflight;
}

int ring_engine_pid(const struct ring *r)
{
	return (int)atomic_load(&r->v.h->engine_pid);
}

int ring_wait_engine(struct ring *r, uint32_t gen, int timeout_ms)
{
	uint64_t deadline = util_now_ns() + (uint64_t)timeout_ms * 1000000ull;

	while (atomic_load(&r->v.h->engine_gen) <= gen) {
		if (util_now_ns() >= deadline)
			return -ETIMEDOUT;
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	}
	return 0;
}

uint32_t ring_engine_gen(const struct ring *r)
{
	return atomic_load(&r->v.h->engine_gen);
}

uint64_t ring_duplicates(const struct ring *r)
{
	return r->duplicates;
}

uint64_t ring_engine_busy_since(const struct ring *r)
{
	return atomic_load_explicit(&r->v.h->busy_since, memory_order_acquire);
}

uint64_t ring_completed(const struct ring *r)
{
	return atomic_load_explicit(&r->v.h->completed, memory_order_acquire);
}

int ring_recover(struct ring *r)
{
	uint32_t head = atomic_load(&r->v.h->cq_head.v), tail = atomic_load(&r->v.h->cq_tail.v);
	int n = 0;

	/* Completions the dead engine posted stay for the caller's next reap. */
	for (uint64_t s = r->oldest_seq; s < r->next_seq; s++)
		r->fl[s % r->v.h->nslots].in_cq = 0;
	for (uint32_t i = head; i != tail; i++) {
		struct inflight *f = pending_of(r, &r->v.cq[i & (r->v.h->nslots - 1)]);
		if (f)
			f->in_cq = 1;
	}
	/* The dead engine's view of the models and its progress are void. */
	views_reset(r->v.h);
	atomic_store(&r->v.h->busy_since, 0);
	/* Every other entry it took, or never took, goes back, oldest first. */
	atomic_store(&r->v.h->sq_head.v, atomic_load(&r->v.h->sq_tail.v));
	for (uint64_t s = r->oldest_seq; s < r->next_seq; s++) {
		struct inflight *f = &r->fl[s % r->v.h->nslots];
		if (f->active && !f->done && !f->in_cq) {
			push_sqe(r, &f->sqe);
			n++;
		}
	}
	return n;
}

/* ---- engine side ---- */

int ring_attach(const char *name, struct ring_engine **out)
{
	struct ring_engine *e = xcalloc(1, sizeof(*e));
	char path[128];
	struct stat st;
	int ret;

	ret = shm_path(name, path, sizeof(path));
	if (ret)
		goto err;
	e->v.fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
	if (e->v.fd < 0) {
		ret = -errno;
		goto err;
	}
	if (fstat(e->v.fd, &st) < 0 || (size_t)st.st_size < sizeof(struct ring_hdr)) {
		ret = -EPROTO;
		goto err_close;
	}
	e->v.map_len = (size_t)st.st_size;
	e->v.h = mmap(NULL, e->v.map_len, PROT_READ | PROT_WRITE, MAP_SHARED, e->v.fd, 0);
	if (e->v.h == MAP_FAILED) {
		ret = -errno;
		goto err_close;
	}
	if (atomic_load_explicit((_Atomic uint32_t *)&e->v.h->magic, memory_order_acquire) !=
		    RING_MAGIC ||
	    e->v.h->version != RING_VERSION ||
	    e->v.h->data_off + e->v.h->data_size > e->v.map_len) {
		ret = -EPROTO;
		munmap(e->v.h, e->v.map_len);
		goto err_close;
	}
	view_bind(&e->v);
	e->notify_fd = -1;
	views_reset(e->v.h);
	atomic_store(&e->v.h->busy_since, 0);
	e->gen = atomic_fetch_add(&e->v.h->engine_gen, 1) + 1;
	atomic_store(&e->v.h->engine_pid, (uint32_t)getpid());
	*out = e;
	return 0;
err_close:
	close(e->v.fd);
err:
	free(e);
	return ret;
}

void ring_detach(struct ring_engine *e)
{
	if (!e)
		return;
	munmap(e->v.h, e->v.map_len);
	close(e->v.fd);
	free(e);
}

uint32_t ring_gen(const struct ring_engine *e)
{
	return e->gen;
}

void *ring_engine_data(struct ring_engine *e)
{
	return e->v.data;
}

size_t ring_engine_data_size(const struct ring_engine *e)
{
	return e->v.h->data_size;
}

void ring_set_notify_fd(struct ring_engine *e, int fd)
{
	e->notify_fd = fd;
}

static void notify(struct ring_engine *e)
{
	uint64_t one = 1;

	if (e->notify_fd >= 0 && write(e->notify_fd, &one, sizeof(one)) != sizeof(one))
		e->notify_errors++;
}

uint32_t ring_model_gen(const struct ring_engine *e, uint32_t slot)
{
	if (slot >= RING_MAX_MODELS)
		return 0;
	return atomic_load_explicit(&e->v.h->models[slot].gen, memory_order_acquire);
}

int ring_model_get(struct ring_engine *e, uint32_t slot, uint32_t *gen, char name[RING_NAME_MAX],
		   char weights[RING_PATH_MAX])
{
	struct ring_model *m;

	if (slot >= RING_MAX_MODELS)
		return -EINVAL;
	m = &e->v.h->models[slot];
	for (int tries = 0; tries < SEQ_TRIES; tries++) {
		uint32_t s = seq_read_begin(&m->seq);
		*gen = atomic_load_explicit(&m->gen, memory_order_relaxed);
		copy_str(name, m->name, RING_NAME_MAX);
		copy_str(weights, m->weights, RING_PATH_MAX);
		if (!seq_read_retry(&m->seq, s))
			return name[0] && weights[0] ? 0 : -ENOENT;
		cpu_relax();
	}
	return -EAGAIN;
}

void ring_model_report(struct ring_engine *e, uint32_t slot, uint32_t gen, int status,
		       const char *err)
{
	struct ring_model *m;

	if (slot >= RING_MAX_MODELS)
		return;
	m = &e->v.h->models[slot];
	seq_write_begin(&m->vseq);
	memset(m->err, 0, sizeof(m->err));
	if (err)
		strncpy(m->err, err, sizeof(m->err) - 1);
	atomic_store_explicit(&m->view, (uint64_t)gen << 32 | (uint32_t)status,
			      memory_order_relaxed);
	seq_write_end(&m->vseq);
	notify(e);
}

uint32_t ring_file_gen(const struct ring_engine *e, uint32_t idx)
{
	if (idx >= RING_MAX_FILES)
		return 0;
	return atomic_load_explicit(&e->v.h->files[idx].gen, memory_order_acquire);
}

int ring_file_get(struct ring_engine *e, uint32_t idx, uint32_t *gen, char path[RING_PATH_MAX])
{
	struct ring_file *f;

	if (idx >= RING_MAX_FILES)
		return -EINVAL;
	f = &e->v.h->files[idx];
	for (int tries = 0; tries < SEQ_TRIES; tries++) {
		uint32_t s = seq_read_begin(&f->seq);
		*gen = atomic_load_explicit(&f->gen, memory_order_relaxed);
		copy_str(path, f->path, RING_PATH_MAX);
		if (!seq_read_retry(&f->seq, s))
			return path[0] ? 0 : -ENOENT;
		cpu_relax();
	}
	return -EAGAIN;
}

void ring_set_busy(struct ring_engine *e, uint64_t t)
{
	atomic_store_explicit(&e->v.h->busy_since, t, memory_order_release);
}

/* The owner holds a lock on the shm file while it lives. */
static int owner_alive(struct ring_engine *e)
{
	if (flock(e->v.fd, LOCK_EX | LOCK_NB) == 0) {
		flock(e->v.fd, LOCK_UN);
		return 0;
	}
	return 1;
}

int ring_next(struct ring_engine *e, struct ring_sqe *out, int timeout_ms)
{
	uint64_t deadline = util_now_ns() + (uint64_t)timeout_ms * 1000000ull;

	for (;;) {
		uint32_t head = atomic_load_explicit(&e->v.h->sq_head.v, memory_order_relaxed);
		uint32_t epoch = atomic_load_explicit(&e->v.h->models_epoch, memory_order_acquire);
		uint64_t now;
		int ret;

		if (atomic_load(&e->v.h->stop))
			return -EPIPE;
		if (epoch != e->seen_epoch) {
			e->seen_epoch = epoch;
			return -EAGAIN;
		}
		if (atomic_load_explicit(&e->v.h->sq_tail.v, memory_order_acquire) != head) {
			*out = e->v.sq[head & (e->v.h->nslots - 1)];
			atomic_store_explicit(&e->v.h->sq_head.v, head + 1, memory_order_release);
			return 0;
		}
		now = util_now_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		/* Sleep in slices so a dead owner is noticed within 100 ms. */
		ret = wait_index(&e->v.h->sq_tail.v, head, &e->v.h->models_epoch, epoch,
				 &e->v.h->engine_sleeping.v,
				 (int)MIN(100, (deadline - now) / 1000000ull + 1));
		if (ret == -ETIMEDOUT && !owner_alive(e))
			return -EPIPE;
	}
}

void ring_complete(struct ring_engine *e, const struct ring_cqe *c)
{
	uint32_t tail = atomic_load_explicit(&e->v.h->cq_tail.v, memory_order_relaxed);

	e->v.cq[tail & (e->v.h->nslots - 1)] = *c;
	/* Idle before the completion shows: whoever reaps it sees no stale start time. */
	atomic_store_explicit(&e->v.h->busy_since, 0, memory_order_relaxed);
	atomic_store_explicit(&e->v.h->cq_tail.v, tail + 1, memory_order_seq_cst);
	atomic_fetch_add_explicit(&e->v.h->completed, 1, memory_order_release);
	if (atomic_load_explicit(&e->v.h->owner_sleeping.v, memory_order_seq_cst))
		futex(&e->v.h->cq_tail.v, FUTEX_WAKE, 1, NULL);
	notify(e);
}
