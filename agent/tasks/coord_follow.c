/*
 * coord_follow.c - the hot standby's side of the replication stream (see
 * repl_wire.h): it keeps a copy of the coordinator's state by applying
 * the same records in the same order (coord_state_apply), or a snapshot
 * and the records after it, and acknowledges what it holds after every
 * frame.  On a takeover (coord.c) the copy becomes the new coordinator's
 * state.
 *
 * Fencing: a stream from an epoch lower than the highest this node knows
 * is refused with IDN_ESTALE_EPOCH (a deposed coordinator is not
 * followed); a stream from a new epoch starts the copy over (the records
 * of one epoch's chain only follow that chain).  Every node serves the
 * stream, as the role of standby moves with the membership: whoever the
 * coordinator names gets fed.
 */
#include "tasks/coord_int.h"

#include "core/conn.h"
#include "core/log.h"
#include "core/loop.h"
#include "err.h"
#include "tasks/repl_wire.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEND_MS 5000

static uint64_t held_seq(const struct follow *f)
{
	struct coord_state_info si;

	if (!f->st)
		return 0;
	coord_state_info(f->st, &si);
	return si.seq;
}

static void answer(struct coord *c, struct conn *conn, int status)
{
	struct repl_state m = {.status = status,
			       .epoch = status == IDN_ESTALE_EPOCH ? c->known_epoch
								   : c->follow.epoch,
			       .seq = held_seq(&c->follow)};
	uint8_t buf[64];
	int n = repl_state_encode(&m, buf, sizeof(buf));

	if (n < 0 || conn_send_frame(conn, WIRE_RPC_RESP, buf, (size_t)n, SEND_MS, 0))
		conn_close(conn);
}

void coord_follow_reset(struct coord *c)
{
	struct follow *f = &c->follow;

	coord_state_free(f->st);
	free(f->snap);
	f->st = NULL;
	f->snap = NULL;
	f->snap_total = f->snap_got = 0;
}

struct coord_state *coord_follow_take(struct coord *c, uint64_t epoch)
{
	struct follow *f = &c->follow;
	struct coord_state *st = NULL;

	if (f->st && f->epoch == epoch) {
		st = f->st;
		f->st = NULL;
	}
	if (f->conn)
		conn_close(f->conn);
	coord_follow_reset(c);
	return st;
}

static void on_snap(struct coord *c, struct conn *conn, const struct repl_snap *m)
{
	struct follow *f = &c->follow;
	struct coord_state *st = NULL;
	struct coord_state_info si;

	if (m->offset == 0) {
		free(f->snap);
		f->snap = xmalloc(m->total);
		f->snap_total = m->total;
		f->snap_got = 0;
		f->snap_seq = m->seq;
	}
	if (!f->snap || m->total != f->snap_total || m->offset != f->snap_got ||
	    m->seq != f->snap_seq) {
		log_msg(LOG_WARN, "standby: snapshot chunk out of order");
		conn_close(conn);
		return;
	}
	memcpy(f->snap + f->snap_got, m->chunk, m->len);
	f->snap_got += m->len;
	if (f->snap_got < f->snap_total)
		return;
	if (coord_state_snapshot_decode(f->snap, f->snap_total, &st) ||
	    (coord_state_info(st, &si), si.seq != f->snap_seq)) {
		log_msg(LOG_ERROR, "standby: the coordinator's snapshot does not decode");
		coord_state_free(st);
		conn_close(conn);
		return;
	}
	coord_state_free(f->st);
	f->st = st;
	free(f->snap);
	f->snap = NULL;
	f->snaps++;
	log_msg(LOG_INFO, "standby: snapshot of %u bytes at record %llu, epoch %llu", f->snap_total,
		(unsigned long long)si.seq, (unsigned long long)f->epoch);
	answer(c, conn, 0);
}

static void on_recs(struct coord *c, struct conn *conn, const struct repl_recs *m)
{
	struct follow *f = &c->follow;
	struct coord_rec *r = xmalloc(sizeof(*r));
	int status = 0;

	for (int i = 0; i < m->n && !status; i++) {
		int ret;
		if (!f->st) {
			status = -ERANGE;
			break;
		}
		ret = coord_rec_decode(m->rec[i], m->len[i], r);
		if (!ret)
			ret = coord_state_apply(f->st, r, NULL);
		if (ret == 0)
			f->applied++;
		else if (ret != -EALREADY) {
			/* a gap, or a record this copy cannot take: start over from a snapshot */
			log_msg(LOG_WARN, "standby: record %llu not applied: %s",
				(unsigned long long)r->seq, idn_strerror(ret));
			f->gaps++;
			status = -ERANGE;
		}
	}
	free(r);
	answer(c, conn, status);
}

static void on_frame(struct coord *c, struct conn *conn)
{
	struct wire_hdr h;
	const uint8_t *p;
	size_t len;

	conn_frame(conn, &h, &p, &len);
	if (h.type != WIRE_RPC_REQ || len == 0) {
		conn_close(conn);
		return;
	}
	c->follow.last_ms = loop_now_ms();
	if (p[0] == REPL_SNAP) {
		struct repl_snap m;
		if (repl_snap_decode(p, len, &m) || m.epoch != c->follow.epoch) {
			conn_close(conn);
			return;
		}
		on_snap(c, conn, &m);
	} else if (p[0] == REPL_RECS) {
		struct repl_recs *m = xmalloc(sizeof(*m));
		if (repl_recs_decode(p, len, m) || m->epoch != c->follow.epoch)
			conn_close(conn);
		else
			on_recs(c, conn, m);
		free(m);
	} else {
		conn_close(conn);
	}
}

static void on_conn(void *arg, struct conn *conn, enum conn_ev ev, uint64_t tag, int res)
{
	struct coord *c = arg;

	(void)tag;
	if (ev == CONN_EV_CLOSED) {
		if (c->follow.conn == conn) {
			/* evidence for the roles (coordinator_lost): with SWIM
			 * suspecting the coordinator, the standby takes over without
			 * waiting for the failure to be declared */
			c->follow.conn = NULL;
			c->follow.lost = 1;
			c->next_reconcile = 0;
		}
		return;
	}
	if (conn != c->follow.conn || res < 0) {
		conn_close(conn);
		return;
	}
	if (ev == CONN_EV_FRAME)
		on_frame(c, conn);
	if (c->follow.conn == conn && ev != CONN_EV_SENT &&
	    conn_recv_frame(conn, WIRE_HDR_LEN + REPL_FRAME_MAX + WIRE_TAG_LEN, 0, 0))
		conn_close(conn);
}

static void serve(void *arg, struct conn *conn, const struct wire_hdr *h, const uint8_t *p,
		  size_t len)
{
	struct coord *c = arg;
	struct follow *f = &c->follow;
	struct repl_hello m;
	char who[32];

	(void)h;
	if (repl_hello_decode(p, len, &m)) {
		conn_close(conn);
		return;
	}
	wire_addr_str(m.coordinator, who, sizeof(who));
	conn_own(conn, on_conn, c);
	if (m.epoch < c->known_epoch || (c->active && m.epoch <= c->epoch) ||
	    (m.epoch == c->known_epoch && !wire_addr_eq(m.coordinator, c->known_coord) &&
	     wire_addr_loses_tie(m.coordinator, c->known_coord))) {
		f->refused++;
		log_msg(LOG_WARN,
			"standby: stream from %s refused: epoch %llu, this node knows %llu", who,
			(unsigned long long)m.epoch,
			(unsigned long long)MAX(c->known_epoch, c->epoch));
		answer(c, conn, IDN_ESTALE_EPOCH);
		conn_shutdown(conn, 0);
		return;
	}
	coord_learn(c, m.epoch, m.coordinator, c->env.self); /* it feeds this node */
	if (f->conn && f->conn != conn)
		conn_close(f->conn);
	f->conn = conn;
	f->lost = 0;
	if (m.epoch != f->epoch || !wire_addr_eq(m.coordinator, f->from)) {
		coord_follow_reset(c);
		f->epoch = m.epoch;
		f->from = m.coordinator;
	}
	log_msg(LOG_INFO, "standby: following %s, epoch %llu, from record %llu", who,
		(unsigned long long)m.epoch, (unsigned long long)held_seq(f));
	answer(c, conn, 0);
	if (f->conn == conn &&
	    conn_recv_frame(conn, WIRE_HDR_LEN + REPL_FRAME_MAX + WIRE_TAG_LEN, 0, 0))
		conn_close(conn);
}

int coord_follow_new(struct coord *c)
{
	return conn_route(c->env.conns, REPL_HELLO, REPL_HELLO, serve, c);
}
