/*
 * ring_engine.c - the engine's side of the ring (see ring.h): attach,
 * take entries, post completions, tell the owner.
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

int ring_attach(const char *name, struct ring_engine **out)
{
	struct ring_engine *e = xcalloc(1, sizeof(*e));
	char path[128];
	struct stat st;
	int ret;

	ret = ring_shm_path(name, path, sizeof(path));
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
	ring_view_bind(&e->v);
	e->notify_fd = -1;
	ring_views_reset(e->v.h);
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

void ring_notify(struct ring_engine *e)
{
	uint64_t one = 1;

	if (e->notify_fd >= 0 && write(e->notify_fd, &one, sizeof(one)) != sizeof(one))
		e->notify_errors++;
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
		ret = ring_wait_index(&e->v.h->sq_tail.v, head, &e->v.h->models_epoch, epoch,
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
		ring_futex(&e->v.h->cq_tail.v, FUTEX_WAKE, 1, NULL);
	ring_notify(e);
}
