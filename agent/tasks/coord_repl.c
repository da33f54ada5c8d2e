/*
 * coord_repl.c - the coordinator's side of the hot standby's stream (see
 * repl_wire.h; docs/tasks.md, "Hot standby").
 *
 * Every record the coordinator applies is appended to a log (repl_log.h)
 * and sent to the standby the roles name; the standby acknowledges what
 * it holds.  Anything the coordinator tells the outside world about a
 * change of state (a job command's answer, a client's acknowledgement or
 * result) waits until that change's record is acknowledged: the durable
 * sequence number, coord_durable_seq().  So a takeover by the standby
 * loses nothing that was acknowledged.  Dispatching does not wait: work
 * sent to workers is not a promise to anyone, and a result recorded twice
 * is deduplicated by query id.
 *
 * A standby that (re)connects says which record it holds; it gets the
 * records after it while the log has them, else a snapshot of the whole
 * state followed by the records after it.  A new standby (the old one
 * failed) starts from a snapshot.
 */
#include "tasks/coord_int.h"

#include "core/conn.h"
#include "core/log.h"
#include "core/loop.h"
#include "err.h"
#include "tasks/repl_log.h"
#include "tasks/repl_wire.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONNECT_MS    2000
#define SEND_MS	      10000
#define RETRY_MS      200	  /* a failed stream is opened again after this */
#define LOG_MAX_BYTES (64u << 20) /* records held for a lagging standby */
#define ACK_FRAME_MAX (WIRE_HDR_LEN + 64 + WIRE_TAG_LEN)

/* An answer held until its record is on the standby. */
struct repl_wait {
	struct repl_wait *next;
	struct coord *c;
	struct conn *conn; /* NULL once it closed */
	uint64_t seq;
	uint8_t status;
	size_t len;
	char text[];
};

static int standby_named(const struct coord *c)
{
	return c->known_standby.ip && !wire_addr_eq(c->known_standby, c->env.self);
}

uint64_t coord_durable_seq(const struct coord *c)
{
	struct coord_state_info si = {0};

	if (c->st)
		coord_state_info(c->st, &si);
	/* with no standby to feed, only a cluster of one has nothing to wait
	 * for; a coordinator whose standby is gone (or cut off with it) waits
	 * for the next one the roles name */
	if (c->held)			/* deposed too: coord_deposed holds first */
		return c->held_durable; /* frozen: a newer coordinator may hold less */
	if (!standby_named(c) && c->cluster_size <= 1)
		return si.seq;
	return MIN(c->repl.acked, si.seq);
}

/* ---- answers held for durability ---- */

static void on_wait_conn(void *arg, struct conn *conn, enum conn_ev ev, uint64_t tag, int res)
{
	struct repl_wait *w = arg;

	(void)tag, (void)res;
	if (ev == CONN_EV_CLOSED && w->conn == conn)
		w->conn = NULL;
	else if (ev != CONN_EV_CLOSED)
		conn_close(conn);
}

static void waits_release(struct coord *c, int all)
{
	uint64_t durable = coord_durable_seq(c);
	struct repl_wait **pp = &c->repl.wait;

	while (*pp) {
		struct repl_wait *w = *pp;
		if (!all && w->seq > durable) {
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		if (w->conn && all && w->seq > durable)
			coord_cmd_answer(c, w->conn, EAGAIN,
					 "no longer the coordinator: not known to be done\n",
					 SIZE_MAX);
		else if (w->conn)
			coord_cmd_answer(c, w->conn, w->status, w->text, w->len);
		free(w);
	}
}

void coord_answer_durable(struct coord *c, struct conn *conn, uint64_t seq, uint8_t status,
			  const char *text, size_t len)
{
	struct repl_wait *w;

	if (len == SIZE_MAX)
		len = strlen(text);
	if (!c->active) {
		coord_cmd_answer(c, conn, EAGAIN,
				 "no longer the coordinator: not known to be done\n", SIZE_MAX);
		return;
	}
	if (seq <= coord_durable_seq(c)) {
		coord_cmd_answer(c, conn, status, text, len);
		return;
	}
	w = xmalloc(sizeof(*w) + len);
	*w = (struct repl_wait){.c = c, .conn = conn, .seq = seq, .status = status, .len = len};
	memcpy(w->text, text, len);
	w->next = c->repl.wait;
	c->repl.wait = w;
	conn_own(conn, on_wait_conn, w);
}

/* The durable sequence number may have moved: release what waited on it. */
void coord_repl_durable_moved(struct coord *c)
{
	waits_release(c, 0);
	coord_submit_durable(c, coord_durable_seq(c));
}

/* ---- the stream ---- */

/* Closes the stream and detaches it at once: an event the connection
 * layer still delivers for it (a frame received before the close) is
 * then not ours (on_stream's conn != c->repl.conn). */
static void stream_close(struct coord *c)
{
	struct conn *conn = c->repl.conn;

	c->repl.conn = NULL;
	c->repl.phase = RP_IDLE;
	c->repl.retry_ms = loop_now_ms() + RETRY_MS;
	if (conn)
		conn_close(conn);
}

static int send_frame(struct coord *c, const uint8_t *p, size_t len)
{
	if (conn_send_frame(c->repl.conn, WIRE_RPC_REQ, p, len, SEND_MS, 0)) {
		stream_close(c);
		return -EIO;
	}
	return 0;
}

/* The whole state as SNAP chunks; the records after it follow. */
static int send_snapshot(struct coord *c)
{
	uint8_t *snap = NULL, *buf = NULL;
	size_t len = 0;
	struct coord_state_info si;
	int ret = 0;

	coord_state_info(c->st, &si);
	if (coord_state_snapshot_encode(c->st, &snap, &len) || len > REPL_SNAP_MAX || len == 0) {
		log_msg(LOG_ERROR, "coordinator: state snapshot of %zu bytes cannot be sent", len);
		free(snap);
		stream_close(c);
		return -EMSGSIZE;
	}
	buf = xmalloc(REPL_CHUNK_MAX + 64);
	for (size_t off = 0; off < len && !ret; off += REPL_CHUNK_MAX) {
		struct repl_snap m = {.epoch = c->epoch,
				      .seq = si.seq,
				      .total = (uint32_t)len,
				      .offset = (uint32_t)off,
				      .len = (uint32_t)MIN(len - off, (size_t)REPL_CHUNK_MAX),
				      .chunk = snap + off};
		int n = repl_snap_encode(&m, buf, REPL_CHUNK_MAX + 64);
		ret = n < 0 ? n : send_frame(c, buf, (size_t)n);
	}
	free(buf);
	free(snap);
	if (!ret) {
		repl_log_clear(c->repl.log);
		c->repl.sent = si.seq;
		c->repl.need_snap = 0;
		c->repl.snaps++;
		c->repl.snap_bytes += len;
	}
	return ret;
}

/* Sends the records after repl.sent that the log holds. */
static void send_records(struct coord *c)
{
	uint8_t *buf;
	size_t pos;
	int ret;

	if (c->repl.phase != RP_STREAMING)
		return;
	ret = repl_log_after(c->repl.log, c->repl.sent, &pos);
	if (ret == -ENOENT)
		return;
	if (ret || c->repl.need_snap) {
		send_snapshot(c);
		return;
	}
	buf = xmalloc(REPL_FRAME_MAX);
	while (c->repl.conn) {
		struct repl_recs_buf b;
		uint64_t seq = 0;
		const uint8_t *rec;
		size_t len;
		int n;

		repl_recs_start(&b, buf, REPL_FRAME_MAX, c->epoch);
		while (repl_log_get(c->repl.log, pos, &seq, &rec, &len) == 0 &&
		       repl_recs_add(&b, rec, len) == 0) {
			c->repl.sent = seq;
			pos++;
		}
		n = repl_recs_finish(&b);
		if (n < 0 || send_frame(c, buf, (size_t)n))
			break;
		c->repl.recs_sent += b.n;
		if (repl_log_get(c->repl.log, pos, &seq, &rec, &len))
			break;
	}
	free(buf);
}

void coord_repl_record(struct coord *c, uint64_t seq, const uint8_t *rec, size_t len)
{
	int ret;

	if (!standby_named(c)) {
		/* whoever is named next starts from a snapshot */
		if (c->repl.log)
			repl_log_clear(c->repl.log);
		c->repl.need_snap = 1;
		coord_repl_durable_moved(c);
		return;
	}
	if (!c->repl.log)
		c->repl.log = repl_log_new(LOG_MAX_BYTES);
	ret = repl_log_append(c->repl.log, seq, rec, len);
	if (ret == -EINVAL) { /* not after the log's last record: start over */
		repl_log_clear(c->repl.log);
		ret = repl_log_append(c->repl.log, seq, rec, len);
		c->repl.need_snap = 1;
	}
	if (ret == -ENOSPC) {
		/* the standby is too far behind: it gets a snapshot when it asks */
		c->repl.need_snap = 1;
		c->repl.resyncs++;
		log_msg(LOG_WARN, "coordinator: the standby is %llu records behind: resync",
			(unsigned long long)(seq - c->repl.acked));
		stream_close(c);
		return;
	}
	send_records(c);
}

static void on_state(struct coord *c, const struct repl_state *m)
{
	struct coord_state_info si;
	char who[32];
	size_t pos;

	wire_addr_str(c->repl.to, who, sizeof(who));
	coord_state_info(c->st, &si);
	if (m->status == IDN_ESTALE_EPOCH) {
		/* a newer coordinator fed it: that one's HELLO to our worker deposes us */
		log_msg(LOG_WARN, "coordinator: standby %s has seen epoch %llu, above %llu", who,
			(unsigned long long)m->epoch, (unsigned long long)c->epoch);
		coord_deposed(c, m->epoch);
		stream_close(c);
		return;
	}
	if (m->epoch != c->epoch || m->seq > si.seq) {
		stream_close(c);
		return;
	}
	if (c->repl.phase == RP_HELLO) {
		c->repl.phase = RP_STREAMING;
		c->repl.acked = c->repl.sent = m->seq;
		repl_log_ack(c->repl.log, m->seq);
		if (m->seq < si.seq && repl_log_after(c->repl.log, m->seq, &pos))
			c->repl.need_snap = 1;
		if (m->seq == 0)
			c->repl.need_snap = 1;
		log_msg(LOG_INFO, "coordinator: standby %s holds record %llu of %llu%s", who,
			(unsigned long long)m->seq, (unsigned long long)si.seq,
			c->repl.need_snap ? ": a snapshot follows" : "");
		coord_repl_durable_moved(c);
		if (c->repl.need_snap)
			send_snapshot(c);
		else
			send_records(c);
		return;
	}
	if (m->status == -ERANGE) {
		log_msg(LOG_WARN, "coordinator: standby %s is missing records after %llu", who,
			(unsigned long long)m->seq);
		c->repl.resyncs++;
		send_snapshot(c);
		return;
	}
	if (m->seq > c->repl.acked) {
		c->repl.acked = m->seq;
		repl_log_ack(c->repl.log, m->seq);
		coord_repl_durable_moved(c);
	}
}

static void on_stream(void *arg, struct conn *conn, enum conn_ev ev, uint64_t tag, int res)
{
	struct coord *c = arg;
	struct wire_hdr h;
	const uint8_t *p;
	size_t len;

	(void)tag;
	if (conn != c->repl.conn) {
		if (ev != CONN_EV_CLOSED)
			conn_close(conn);
		return;
	}
	if (ev == CONN_EV_CLOSED) {
		c->repl.conn = NULL;
		c->repl.phase = RP_IDLE;
		c->repl.retry_ms = loop_now_ms() + RETRY_MS;
		return;
	}
	if (res < 0) {
		conn_close(conn);
		return;
	}
	if (ev == CONN_EV_CONNECTED) {
		struct coord_state_info si;
		struct repl_hello m = {.epoch = c->epoch, .coordinator = c->env.self};
		uint8_t buf[64];
		int n;

		coord_state_info(c->st, &si);
		m.seq = si.seq;
		n = repl_hello_encode(&m, buf, sizeof(buf));
		c->repl.phase = RP_HELLO;
		if (n < 0 || send_frame(c, buf, (size_t)n) == 0)
			if (n < 0 || conn_recv_frame(conn, ACK_FRAME_MAX, 0, 0))
				conn_close(conn);
		return;
	}
	if (ev != CONN_EV_FRAME)
		return;
	conn_frame(conn, &h, &p, &len);
	{
		struct repl_state m;
		if (h.type != WIRE_RPC_RESP || repl_state_decode(p, len, &m)) {
			conn_close(conn);
			return;
		}
		on_state(c, &m);
	}
	if (c->repl.conn == conn && conn_recv_frame(conn, ACK_FRAME_MAX, 0, 0))
		conn_close(conn);
}

void coord_repl_tick(struct coord *c, uint64_t now_ms)
{
	struct repl *r = &c->repl;

	if (!c->active)
		return;
	if (!standby_named(c)) {
		stream_close(c);
		coord_repl_durable_moved(c);
		return;
	}
	if (r->conn && !wire_addr_eq(r->to, c->known_standby)) {
		char who[32];
		wire_addr_str(c->known_standby, who, sizeof(who));
		log_msg(LOG_INFO, "coordinator: new standby %s", who);
		stream_close(c);
		return;
	}
	if (r->conn || now_ms < r->retry_ms)
		return;
	if (!wire_addr_eq(r->to, c->known_standby)) {
		r->to = c->known_standby;
		r->acked = 0; /* a new standby holds nothing of ours */
		r->need_snap = 1;
	}
	if (!r->log)
		r->log = repl_log_new(LOG_MAX_BYTES);
	r->phase = RP_CONNECTING;
	if (conn_connect(c->env.conns, r->to, CONNECT_MS, on_stream, c, &r->conn)) {
		r->conn = NULL;
		r->phase = RP_IDLE;
		r->retry_ms = now_ms + RETRY_MS;
	}
}

void coord_repl_stop(struct coord *c)
{
	stream_close(c);
	waits_release(c, 1);
	repl_log_free(c->repl.log);
	c->repl.log = NULL;
	c->repl.acked = c->repl.sent = 0;
	c->repl.to = (struct wire_addr){0, 0};
}
