/*
 * ring.c - the agent <-> engine shared-memory ring (see ring.h): its
 * memory, and the producer (agent) side.  The tables are in ring_table.c,
 * the engine's side in ring_engine.c, what they share in ring_int.h.
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
#include "ring_int.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* ---- the shared memory ---- */

int ring_shm_path(const char *name, char *buf, size_t len)
{
	if (!*name || strlen(name) > 100 || strchr(name, '/'))
		return -EINVAL;
	snprintf(buf, len, "/idunno-%s", name);
	return 0;
}

size_t ring_layout(uint32_t nslots, size_t data_size, uint64_t *sq, uint64_t *cq, uint64_t *d)
{
	*sq = (sizeof(struct ring_hdr) + 63) & ~(uint64_t)63;
	*cq = (*sq + nslots * sizeof(struct ring_sqe) + 63) & ~(uint64_t)63;
	*d = (*cq + nslots * sizeof(struct ring_cqe) + 4095) & ~(uint64_t)4095;
	return *d + data_size;
}

void ring_views_reset(struct ring_hdr *h)
{
	for (uint32_t i = 0; i < RING_MAX_MODELS; i++) {
		struct ring_model *m = &h->models[i];
		ring_seq_write_begin(&m->vseq);
		atomic_store_explicit(&m->view, (uint64_t)(uint32_t)STATUS_UNKNOWN,
				      memory_order_relaxed);
		memset(m->err, 0, sizeof(m->err));
		ring_seq_write_end(&m->vseq);
	}
}

int ring_wait_index(_Atomic uint32_t *idx, uint32_t seen, _Atomic uint32_t *kick,
		    uint32_t kick_seen, _Atomic uint32_t *sleeping, int timeout_ms)
{
	uint64_t start = util_now_ns(), deadline = start + (uint64_t)timeout_ms * 1000000ull;

	while (atomic_load_explicit(idx, memory_order_acquire) == seen &&
	       (!kick || atomic_load_explicit(kick, memory_order_acquire) == kick_seen)) {
		uint64_t now = util_now_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		if (now - start < SPIN_NS) {
			ring_cpu_relax();
			continue;
		}
		atomic_store_explicit(sleeping, 1, memory_order_seq_cst);
		if (atomic_load_explicit(idx, memory_order_seq_cst) == seen &&
		    (!kick || atomic_load_explicit(kick, memory_order_seq_cst) == kick_seen)) {
			uint64_t left = deadline - now;
			struct timespec ts = {(time_t)(left / 1000000000ull),
					      (long)(left % 1000000000ull)};
			ring_futex(idx, FUTEX_WAIT, seen, &ts);
		}
		atomic_store_explicit(sleeping, 0, memory_order_relaxed);
	}
	return 0;
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
	ret = ring_shm_path(name, r->name, sizeof(r->name));
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
	r->v.map_len = ring_layout(nslots, data_size, &sq, &cq, &d);
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
	r->nslots = nslots;
	r->data_size = data_size;
	r->v.h->nslots = nslots;
	r->v.h->data_size = data_size;
	r->v.h->sq_off = sq;
	r->v.h->cq_off = cq;
	r->v.h->data_off = d;
	ring_view_bind(&r->v);
	r->fl = xcalloc(nslots, sizeof(*r->fl));
	ring_views_reset(r->v.h);
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

void ring_destroy(struct ring *r)
{
	if (!r)
		return;
	atomic_store(&r->v.h->stop, 1);
	atomic_fetch_add(&r->v.h->sq_tail.v, 0); /* order the stop before the wake */
	ring_futex(&r->v.h->sq_tail.v, FUTEX_WAKE, INT32_MAX, NULL);
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
	uint64_t size = r->data_size, pos, start;
	int jpeg = (e->flags & RING_F_JPEG) != 0;
	size_t len;

	if (r->reserved)
		return -EBUSY;
	if (e->batch < 1 || e->batch > (jpeg ? RING_MAX_JPEG_BATCH : RING_MAX_BATCH))
		return -EINVAL;
	len = jpeg ? ring_batch_bytes_jpeg(e->batch) : ring_batch_bytes(e->batch);
	if (len > size)
		return -E2BIG;
	/* an entry's slot is free once it and every older one completed (an
	 * engine that completes out of order holds the older ones' slots) */
	if (r->ninflight >= r->nslots || r->fl[r->next_seq % r->nslots].active)
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
		struct inflight *f = &r->fl[r->oldest_seq % r->nslots];
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

	r->v.sq[tail & (r->nslots - 1)] = *e;
	atomic_store_explicit(&r->v.h->sq_tail.v, tail + 1, memory_order_seq_cst);
	if (atomic_load_explicit(&r->v.h->engine_sleeping.v, memory_order_seq_cst))
		ring_futex(&r->v.h->sq_tail.v, FUTEX_WAKE, 1, NULL);
}

int ring_submit(struct ring *r, struct ring_sqe *e)
{
	struct inflight *f;

	if (!r->reserved)
		return -EINVAL;
	r->reserved = 0;
	e->seq = r->next_seq++;
	e->enqueue_ns = util_now_ns();
	f = &r->fl[e->seq % r->nslots];
	ASSERT(!f->active);
	*f = (struct inflight){.sqe = *e, .data_end = r->reserved_end, .active = 1};
	r->ninflight++;
	push_sqe(r, e);
	return 0;
}

/* Is c the completion of an entry still waiting for one? */
static struct inflight *pending_of(struct ring *r, const struct ring_cqe *c)
{
	struct inflight *f = &r->fl[c->seq % r->nslots];

	if (c->seq >= r->next_seq || !f->active || f->done || f->sqe.seq != c->seq)
		return NULL;
	return f;
}

/*
 * The completions to read, from *head to the engine's tail: never more
 * than the queue holds.  An engine that moved its tail further (it
 * overwrote completions not yet reaped, or wrote anything there) has the
 * ones beyond the last nslots dropped and counted with the duplicates.
 */
static uint32_t cq_tail_read(struct ring *r, uint32_t *head)
{
	uint32_t tail = atomic_load_explicit(&r->v.h->cq_tail.v, memory_order_acquire);

	if (tail - *head > r->nslots) {
		r->duplicates += tail - *head - r->nslots;
		*head = tail - r->nslots;
	}
	return tail;
}

/*
 * A completion as the owner takes it: read once from the shared memory
 * (the engine may be rewriting it), and only its outcome believed; what
 * the owner itself said of the entry (query, job, batch, where its
 * results are, when it was submitted) comes from the owner's own copy.  A
 * status that is not 0 or -errno reads -EIO.
 */
static int completion(struct ring *r, uint32_t head, struct ring_cqe *out)
{
	struct ring_cqe c = r->v.cq[head & (r->nslots - 1)];
	struct inflight *f = pending_of(r, &c);

	if (!f)
		return 0;
	c.query = f->sqe.query;
	c.job = f->sqe.job;
	c.batch = f->sqe.batch;
	c.out_off = f->sqe.out_off;
	c.enqueue_ns = f->sqe.enqueue_ns;
	if (c.status > 0 || c.status < -4095)
		c.status = -EIO;
	f->done = 1;
	*out = c;
	return 1;
}

int ring_reap(struct ring *r, struct ring_cqe *out, int max)
{
	uint32_t head = atomic_load_explicit(&r->v.h->cq_head.v, memory_order_relaxed);
	uint32_t tail = cq_tail_read(r, &head);
	int n = 0;

	while (head != tail && n < max) {
		if (completion(r, head++, &out[n])) {
			r->ninflight--;
			n++;
		} else {
			r->duplicates++;
		}
	}
	atomic_store_explicit(&r->v.h->cq_head.v, head, memory_order_release);
	release_done(r);
	return n;
}

int ring_wait(struct ring *r, int timeout_ms)
{
	uint32_t head = atomic_load_explicit(&r->v.h->cq_head.v, memory_order_relaxed);
	return ring_wait_index(&r->v.h->cq_tail.v, head, NULL, 0, &r->v.h->owner_sleeping.v,
			       timeout_ms);
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
	uint32_t head = atomic_load(&r->v.h->cq_head.v), tail = cq_tail_read(r, &head);
	int n = 0;

	/* Completions the dead engine posted stay for the caller's next reap. */
	for (uint64_t s = r->oldest_seq; s < r->next_seq; s++)
		r->fl[s % r->nslots].in_cq = 0;
	for (uint32_t i = head; i != tail; i++) {
		struct ring_cqe c = r->v.cq[i & (r->nslots - 1)];
		struct inflight *f = pending_of(r, &c);
		if (f)
			f->in_cq = 1;
	}
	atomic_store(&r->v.h->cq_head.v, head);
	/* The dead engine's view of the models and its progress are void. */
	ring_views_reset(r->v.h);
	atomic_store(&r->v.h->busy_since, 0);
	/* Every other entry it took, or never took, goes back, oldest first. */
	atomic_store(&r->v.h->sq_head.v, atomic_load(&r->v.h->sq_tail.v));
	for (uint64_t s = r->oldest_seq; s < r->next_seq; s++) {
		struct inflight *f = &r->fl[s % r->nslots];
		if (f->active && !f->done && !f->in_cq) {
			push_sqe(r, &f->sqe);
			n++;
		}
	}
	return n;
}
