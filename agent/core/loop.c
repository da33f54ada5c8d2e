/*
 * loop.c - the agent's event loop (see loop.h): one io_uring, completions
 * reaped in batches and handed to their owners, the ring advanced once per
 * batch, every module's tick between batches, and an orderly shutdown
 * that waits for every module's operations to end before returning.
 */
#include "core/loop.h"
#include "core/log.h"
#include "util.h"

#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct module {
	const struct loop_ops *ops;
	void *m;
};

struct loop {
	struct io_uring ring;
	struct module mods[LOOP_MAX_MODULES];
	int nmods;
	int stopping, cancelled;
	uint64_t n_cqes, n_batches, n_unowned;
};

uint64_t loop_now_ms(void)
{
	return util_now_ns() / 1000000;
}

int loop_new(unsigned entries, struct loop **out)
{
	struct loop *l = xcalloc(1, sizeof(*l));
	int ret = io_uring_queue_init(entries, &l->ring, 0);

	if (ret) {
		free(l);
		return ret;
	}
	l->nmods = 1; /* owner 0 is the loop's own */
	*out = l;
	return 0;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	io_uring_queue_exit(&l->ring);
	free(l);
}

int loop_register(struct loop *l, const struct loop_ops *ops, void *m)
{
	if (l->nmods == LOOP_MAX_MODULES)
		return -ENOSPC;
	l->mods[l->nmods] = (struct module){ops, m};
	return l->nmods++;
}

struct io_uring_sqe *loop_sqe(struct loop *l)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);

	if (!sqe) { /* the SQ is full: submit what is there and retry */
		io_uring_submit(&l->ring);
		sqe = io_uring_get_sqe(&l->ring);
	}
	ASSERT(sqe);
	return sqe;
}

void loop_reserve(struct loop *l, unsigned n)
{
	if (io_uring_sq_space_left(&l->ring) < n)
		io_uring_submit(&l->ring);
}

void loop_submit(struct loop *l)
{
	io_uring_submit(&l->ring);
}

void loop_cancel(struct loop *l, uint64_t ud)
{
	struct io_uring_sqe *sqe = loop_sqe(l);

	io_uring_prep_cancel64(sqe, ud, 0);
	io_uring_sqe_set_data64(sqe, LOOP_UD(LOOP_OWNER_SELF, 0, 0));
}

struct io_uring *loop_ring(struct loop *l)
{
	return &l->ring;
}

void loop_member_changed(struct loop *l, const struct swim_member *mem, int old)
{
	for (int i = 1; i < l->nmods; i++)
		if (l->mods[i].ops->member)
			l->mods[i].ops->member(l->mods[i].m, mem, old);
}

size_t loop_stats(struct loop *l, char *buf, size_t cap)
{
	size_t off = 0;

	off += (size_t)snprintf(buf, cap, "loop_completions %llu\nloop_batches %llu\n",
				(unsigned long long)l->n_cqes, (unsigned long long)l->n_batches);
	for (int i = 1; i < l->nmods && off < cap; i++)
		if (l->mods[i].ops->stats)
			off += l->mods[i].ops->stats(l->mods[i].m, buf + off, cap - off);
	return MIN(off, cap);
}

void loop_stop(struct loop *l)
{
	l->stopping = 1;
}

int loop_stopping(const struct loop *l)
{
	return l->stopping;
}

static void handle(struct loop *l, const struct io_uring_cqe *cqe)
{
	uint64_t ud = io_uring_cqe_get_data64(cqe);
	unsigned owner = LOOP_UD_OWNER(ud);

	if (owner == LOOP_OWNER_SELF || owner >= (unsigned)l->nmods ||
	    !l->mods[owner].ops->complete) {
		l->n_unowned += owner != LOOP_OWNER_SELF;
		return;
	}
	l->mods[owner].ops->complete(l->mods[owner].m, LOOP_UD_OP(ud), LOOP_UD_IDX(ud), cqe->res,
				     cqe->flags);
}

static uint64_t tick_all(struct loop *l)
{
	uint64_t now = loop_now_ms(), next = LOOP_NEVER;

	for (int i = 1; i < l->nmods; i++)
		if (l->mods[i].ops->tick)
			next = MIN(next, l->mods[i].ops->tick(l->mods[i].m, now));
	return next;
}

static int pending_all(struct loop *l)
{
	int n = 0;

	for (int i = 1; i < l->nmods; i++)
		if (l->mods[i].ops->pending)
			n += l->mods[i].ops->pending(l->mods[i].m);
	return n;
}

/* Shutdown: every module cancels once; the loop runs on until nothing is
 * pending anywhere (a module's completions may still arrive). */
static int drained(struct loop *l)
{
	if (!l->cancelled) {
		for (int i = l->nmods - 1; i >= 1; i--)
			if (l->mods[i].ops->cancel)
				l->mods[i].ops->cancel(l->mods[i].m);
		l->cancelled = 1;
		io_uring_submit(&l->ring);
	}
	return pending_all(l) == 0;
}

int loop_run(struct loop *l)
{
	uint64_t stop_by = 0;

	for (;;) {
		struct io_uring_cqe *cqe;
		struct __kernel_timespec ts;
		uint64_t now, deadline = tick_all(l);
		unsigned head, n = 0;
		int ret;

		if (l->stopping) {
			if (drained(l))
				break;
			now = loop_now_ms();
			if (!stop_by)
				stop_by = now + 5000;
			else if (now > stop_by) { /* a module that never drains */
				log_msg(LOG_ERROR, "loop: %d operations still pending at exit",
					pending_all(l));
				break;
			}
			deadline = MIN(deadline, now + 50);
		}
		now = loop_now_ms();
		deadline = deadline > now ? deadline - now : 0;
		if (deadline > 1000)
			deadline = 1000;
		ts.tv_sec = (long long)(deadline / 1000);
		ts.tv_nsec = (long long)(deadline % 1000) * 1000000;
		ret = io_uring_submit_and_wait_timeout(&l->ring, &cqe, 1, &ts, NULL);
		if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EBUSY) {
			log_msg(LOG_ERROR, "io_uring wait: %s", strerror(-ret));
			return ret;
		}
		io_uring_for_each_cqe(&l->ring, head, cqe)
		{
			handle(l, cqe);
			n++;
		}
		io_uring_cq_advance(&l->ring, n);
		l->n_cqes += n;
		l->n_batches += n > 0;
	}
	return 0;
}
