/*
 * sdfs.c - SDFS in the agent's loop (see sdfs.h): setting up, the loop's
 * ops (file completions, timers, membership changes, counters, shutdown)
 * and taking the connections whose first request is an SDFS command.
 * The streams themselves: sdfs_int.h.
 */
#include "sdfs/sdfs.h"
#include "core/log.h"
#include "core/loop.h"
#include "membership/swim.h"
#include "sdfs/sdfs_int.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A file operation finished (user_data LOOP_UD(owner, op, slot << 8 | buffer)). */
static void complete(void *m, unsigned op, uint64_t idx, int res, uint32_t flags)
{
	struct sdfs *s = m;
	uint64_t slot = idx >> 8;
	int bi = (int)(idx & 0xff);
	struct xfer *x;

	(void)flags;
	if (op == FOP_DIRSYNC && slot == MAX_XFER) { /* nobody waits for it */
		s->dirsyncs--;
		return;
	}
	if (slot >= MAX_XFER || s->x[slot].st == XS_FREE)
		return;
	x = &s->x[slot];
	x->pending--;
	switch (op) {
	case FOP_READ:
		source_fop_done(s, x, bi, res);
		break;
	case FOP_DIRSYNC:
		small_dirsync_done(s, x, res);
		break;
	default:
		write_fop_done(s, x, (enum sdfs_fop)op, bi, res);
		break;
	}
	xfer_advance(s, x);
	xfer_settle(s, x);
}

static uint64_t tick(void *m, uint64_t now_ms)
{
	struct sdfs *s = m;
	uint64_t scrub;

	if (loop_stopping(s->loop))
		return LOOP_NEVER; /* shutting down: no new rounds, pushes or checks */
	scrub = scrub_tick(s, now_ms);
	return MIN(repair_tick(s, now_ms), scrub);
}

/* Files move when a member comes or goes (not on mere suspicion). */
static void member(void *m, const struct swim_member *mem, int old)
{
	struct sdfs *s = m;

	if (old == SWIM_STATUS_MAX || mem->status >= SWIM_FAILED || old >= SWIM_FAILED)
		repair_members_changed(s, loop_now_ms());
}

static size_t stats(void *m, char *buf, size_t cap)
{
	struct sdfs *s = m;
	size_t markers = 0, held = store_held(s->store, &markers);
	int n = snprintf(buf, cap,
			 "sdfs_puts %llu\nsdfs_writes %llu\nsdfs_reads %llu\nsdfs_refused %llu\n"
			 "sdfs_failed %llu\nsdfs_bad_chunks %llu\nsdfs_corrupt_replicas %llu\n"
			 "sdfs_pushed %llu\nsdfs_push_failed %llu\nsdfs_dropped %llu\n"
			 "sdfs_repair_rounds %llu\nsdfs_bytes_in %llu\nsdfs_bytes_out %llu\n"
			 "sdfs_replicas_checked %llu\nsdfs_push_deferred %llu\n",
			 (unsigned long long)s->n_puts, (unsigned long long)s->n_writes,
			 (unsigned long long)s->n_reads, (unsigned long long)s->n_refused,
			 (unsigned long long)s->n_failed, (unsigned long long)s->n_bad_chunks,
			 (unsigned long long)s->n_corrupt, (unsigned long long)s->n_pushed,
			 (unsigned long long)s->n_push_failed, (unsigned long long)s->n_dropped,
			 (unsigned long long)s->n_rounds, (unsigned long long)s->bytes_in,
			 (unsigned long long)s->bytes_out, (unsigned long long)s->n_scrubbed,
			 (unsigned long long)s->n_push_deferred);

	if (n >= 0 && (size_t)n < cap) /* levels: what this node holds, and its room */
		n += snprintf(buf + n, cap - (size_t)n,
			      "sdfs_replicas_held %zu\nsdfs_deletion_markers %zu\n"
			      "sdfs_free_bytes %llu\n",
			      held, markers, (unsigned long long)store_free_bytes(s->store));
	return n < 0 ? 0 : MIN((size_t)n, cap);
}

static void cancel(void *m)
{
	xfer_cancel_all(m);
}

static int pending(void *m)
{
	struct sdfs *s = m;
	int n = s->dirsyncs;

	for (int i = 0; i < MAX_XFER; i++)
		n += s->x[i].st != XS_FREE;
	return n;
}

static const struct loop_ops sdfs_ops = {
	.name = "sdfs",
	.complete = complete,
	.tick = tick,
	.member = member,
	.stats = stats,
	.cancel = cancel,
	.pending = pending,
};

/* A connection whose first frame is an SDFS request: SDFS owns it now. */
static void serve(void *arg, struct conn *c, const struct wire_hdr *h, const uint8_t *payload,
		  size_t len)
{
	struct sdfs *s = arg;
	struct sdfs_req r;
	char err[160];
	int ret = sdfs_req_decode(payload, len, &r, err, sizeof(err));
	int data = ret == 0 && (r.cmd == SDFS_WRITE || r.cmd == SDFS_READ);
	struct xfer *x = xfer_alloc(s, data ? (r.cmd == SDFS_WRITE ? K_WRITE : K_READ) : K_REPLY);

	(void)h;
	if (!x && data && (x = xfer_alloc(s, K_REPLY))) {
		/* every data stream is taken: say so (a put tries another head) */
		s->n_refused++;
		stream_adopt(s, x, c);
		if (stream_send_status(s, x, UP, EBUSY, "too many transfers at once"))
			xfer_fail(s, x, EBUSY, "too many transfers at once");
		xfer_settle(s, x);
		return;
	}
	if (!x) {
		conn_close(c); /* not even a slot to answer from */
		s->n_refused++;
		return;
	}
	stream_adopt(s, x, c);
	if (ret) {
		x->kind = K_REPLY;
		xfer_to(x, XS_ANSWER);
		if (stream_send_status(s, x, UP, EINVAL, err))
			xfer_fail(s, x, EINVAL, err);
		xfer_settle(s, x);
		return;
	}
	x->req = r;
	switch (r.cmd) {
	case SDFS_WRITE:
		serve_write(s, x);
		break;
	case SDFS_READ:
		serve_read(s, x);
		break;
	default:
		serve_small(s, x);
		break;
	}
	xfer_advance(s, x);
	xfer_settle(s, x);
}

int sdfs_new(const struct sdfs_env *env, struct loop *l, struct conns *t, const char *dir,
	     struct sdfs **out, char *err, size_t errlen)
{
	struct sdfs *s = xcalloc(1, sizeof(*s));
	const char *reserve = getenv("IDUNNO_SDFS_RESERVE_KB");
	const char *scrub = getenv("IDUNNO_SDFS_SCRUB_MS");
	int ret = store_open(dir, &s->store, err, errlen);

	if (ret)
		goto err;
	if (store_planted(s->store))
		log_msg(LOG_WARN,
			"sdfs: removed %d entries of %s by a replica's name that were no "
			"regular file (links planted there?)",
			store_planted(s->store), dir);
	s->env = *env;
	s->loop = l;
	s->conns = t;
	/* IDUNNO_SDFS_RESERVE_KB: the free space a write must leave; "off"
	 * skips the check, so tests reach a real ENOSPC partway through */
	s->reserve = !reserve ? SPACE_RESERVE : strtoull(reserve, NULL, 10) * 1024;
	s->check_space = !reserve || strcmp(reserve, "off");
	s->repair_at = loop_now_ms() + REPAIR_DELAY_MS;
	/* IDUNNO_SDFS_SCRUB_MS: the pause between two replicas checked */
	s->scrub_ms = scrub ? strtoull(scrub, NULL, 10) : SCRUB_MS;
	s->scrub_at = s->repair_at + s->scrub_ms;
	s->owner = loop_register(l, &sdfs_ops, s);
	ret = s->owner < 0 ? s->owner : conn_route(t, SDFS_WRITE, SDFS_CMD_END - 1, serve, s);
	if (ret) {
		util_seterr(err, errlen, "sdfs: %s", strerror(-ret));
		goto err;
	}
	*out = s;
	return 0;
err:
	store_close(s->store);
	free(s);
	return ret;
}

void sdfs_free(struct sdfs *s)
{
	if (!s)
		return;
	for (int i = 0; i < MAX_XFER; i++)
		if (s->x[i].st != XS_FREE) { /* the loop is gone, and its connections */
			s->x[i].pending = s->x[i].nconns = 0;
			s->x[i].c[UP] = s->x[i].c[DOWN] = NULL;
			xfer_to(&s->x[i], XS_FAILED);
			xfer_settle(s, &s->x[i]);
		}
	repair_free(s);
	store_close(s->store);
	free(s);
}
