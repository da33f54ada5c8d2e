/*
 * sdfs.c - SDFS in the agent's event loop (see sdfs.h).
 *
 * Each stream is a struct xfer in a fixed table.  It has up to two
 * sockets: up (the connection a request came in on) and down (one this
 * agent opened: the next replica of a chain, or the target of a repair).
 * Every operation it submits (socket receive or send with a linked
 * timeout, connect, file read or write, the commit steps) counts in
 * x->pending, and a stream is freed only once nothing is in flight, so no
 * completion ever finds its buffers gone.  After every completion advance()
 * looks at what is done and submits what can go next; all the ordering
 * lives there.
 *
 * Chunk i of a stream always uses buffer i % NB, so chunks are received,
 * written, read and sent in order while up to NB are in flight.
 *
 * Metadata calls (opening a temporary file, a file's trailer, listing the
 * folder) are synchronous: they touch a few bytes of cached metadata.
 * File data, fsync and rename go through io_uring.
 */
#include "sdfs/sdfs.h"
#include "core/log.h"
#include "sdfs/place.h"
#include "sdfs/sdfs_plan.h"
#include "sdfs/sdfs_wire.h"
#include "sdfs/store.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NB		  4   /* chunk buffers per stream */
#define MAX_XFER	  128 /* streams at once */
#define MAX_DATA_XFER	  24  /* of which moving file data (each holds NB MiB) */
#define MAX_PUSH	  6   /* repair pushes one agent runs at once */
#define IO_TIMEOUT_S	  10  /* a peer silent this long is given up */
#define CONNECT_TIMEOUT_S 2
#define SPACE_RESERVE	  (4u << 20) /* kept free on the store's disk */
#define REPAIR_DELAY_MS	  1500	     /* after a membership change: let the news spread */
#define REPAIR_PERIOD_MS  10000
#define REPAIR_JITTER_MS  500
#define SCRUB_MS	  1000 /* at least this between two replicas checked */
#define SCRUB_MBPS	  16   /* and at most this fast on average */
#define CTRL_SMALL	  4096
/*
 * File data is written 128 KiB at a time.  One 1 MiB write makes the page
 * cache take a large folio, and on a VM that hands free high-order pages
 * back to the host each of those faults in on first touch: 100 MB written
 * in 1 MiB writes took 0.37 s of system time right after other I/O, in
 * 128 KiB writes 0.04 s (measured with dd on this machine).
 */
#define WRITE_PIECE    (128u << 10)
#define MAX_LIST_CALLS 8 /* a round's LIST calls in flight at once */

enum xop {
	O_UP_RECV = 1,
	O_UP_SEND,
	O_DN_CONN,
	O_DN_RECV,
	O_DN_SEND,
	O_FREAD,
	O_FWRITE,
	O_COMMIT, /* trailer write, then fsync */
	O_RENAME, /* rename, then fsync of the folder */
	O_TIMEOUT,
	O_SYNCRANGE, /* early writeback of a written chunk */
	O_DIRSYNC    /* fsync of the store folder after a removal */
};

#define RX_HDR	(-1)
#define RX_BODY (-2)

#define IDX(slot, buf, op) (((uint32_t)(slot) << 8) | ((uint32_t)(buf) << 4) | (uint32_t)(op))

enum kind {
	K_WRITE, /* receiving a file: a put's head or a chain member or a repair target */
	K_READ,	 /* sending a file to a reader */
	K_PUSH,	 /* sending a file to another agent (repair) */
	K_CALL,	 /* a small request to another agent, one answer */
	K_REPLY, /* sending one answer, then closing */
	K_SCRUB	 /* reading a local replica to check it, nothing sent */
};

struct sock {
	int fd;
	int rbusy, sbusy;
	uint8_t *rbuf;
	size_t rlen, rgot;
	int rchunk; /* chunk index being received, or RX_HDR / RX_BODY: a control frame */
	const uint8_t *sbuf;
	size_t slen, sgot;
	int schunk;
	uint8_t hdr[WIRE_HDR_LEN + CTRL_SMALL];
	uint8_t *big; /* a control frame larger than hdr */
	uint8_t *tx;  /* a control frame being sent */
};

struct buf {
	uint8_t *p;	  /* CHUNK_FRAME_MAX */
	int64_t chunk;	  /* in it, or -1 */
	int ready;	  /* verified (received or read) */
	int wbusy, sneed; /* a file write in flight; a send still due */
	uint32_t len;
	uint32_t wdone; /* bytes of it written so far */
};

/* A call's outcome: its answer (status byte first), or one made up here
 * when the call failed before an answer came. */
typedef void (*call_fn)(struct sdfs *s, int slot, const uint8_t *ans, size_t len);

struct xfer {
	int used, kind, pending;
	int failed, finishing;
	int streaming; /* the first answer is out: file data moves */
	int draining;  /* failed with the client still sending: read and drop it */
	uint8_t *scratch;
	struct sdfs_req req;
	struct sock up, down;
	struct wire_addr peer;
	/* data */
	struct store_writer *w;
	struct store_reader *r;
	uint64_t version, size, nchunks;
	uint64_t recv_next, sent_next, read_next, written;
	struct buf b[NB];
	int bufs;
	/* chain */
	int cand_i;
	int nreps;
	struct wire_addr reps[SDFS_MAX_CAND + 1];
	int down_ready;		 /* the successor accepted the write */
	int commit_left, synced; /* the checksum table written and fsynced here */
	int down_prepared;	 /* the successor (and its own) are synced */
	int prepared;		 /* this node told its predecessor (or, as head, decided) */
	int rename_left, renamed, done_sent, tail_wait;
	int commit_res;
	uint8_t *trailer;
	/* calls */
	call_fn done;
	int tag;
	uint64_t started;
};

struct sdfs {
	struct sdfs_env env;
	struct store *store;
	uint64_t reserve; /* bytes a write must leave free */
	int check_space;
	struct xfer x[MAX_XFER];
	uint64_t last_version;
	/* repair */
	uint64_t repair_at;
	int round_active;
	int ask;		      /* a corrupt replica was removed here: ask a holder for it */
	int round_ask;		      /* ... and this round does */
	struct sdfs_plan_list *lists; /* one per live member, sorted by address */
	int nlists;
	int list_next, list_calls; /* the next listing to ask for; calls in flight */
	struct sdfs_action *todo;
	int ntodo, todo_next, pushes;
	int dirsyncs; /* folder fsyncs in flight that no stream waits for */
	/* counters */
	uint64_t n_puts, n_writes, n_reads, n_refused, n_failed, n_bad_chunks, n_corrupt, n_pushed,
		n_push_failed, n_dropped, n_rounds, bytes_in, bytes_out, n_scrubbed;
	/* scrub: one replica at a time, in name order, forever */
	uint64_t scrub_at, scrub_ms;
	int scrubbing;
	char scrub_name[STORE_NAME_MAX + 1];
	uint64_t scrub_version;
};

static void advance(struct sdfs *s, int slot);
static void round_start(struct sdfs *s);

static int cmp_addr(const void *a, const void *b)
{
	const struct wire_addr *x = a, *y = b;
	uint64_t kx = (uint64_t)x->ip << 16 | x->port, ky = (uint64_t)y->ip << 16 | y->port;

	return kx < ky ? -1 : kx > ky;
}

/* Every live member, this one included, sorted by address, into *out
 * (malloc'd, the caller frees).  Returns how many. */
static int live_members(struct sdfs *s, struct wire_addr **out)
{
	int cap = 64, n;

	*out = NULL;
	for (;;) {
		*out = realloc(*out, (size_t)cap * sizeof(**out));
		ASSERT(*out);
		n = s->env.live(s->env.arg, *out, cap);
		if (n < cap)
			break;
		cap *= 2; /* it may have more: ask again with room for them */
	}
	qsort(*out, (size_t)n, sizeof(**out), cmp_addr);
	return n;
}

/* ---- submission ---- */

static struct io_uring_sqe *sqe_get(struct sdfs *s)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(s->env.ring);

	if (!sqe) {
		io_uring_submit(s->env.ring);
		sqe = io_uring_get_sqe(s->env.ring);
	}
	ASSERT(sqe);
	return sqe;
}

static uint64_t ud(struct sdfs *s, int slot, int buf, int op)
{
	return ((uint64_t)s->env.op << 56) | IDX(slot, buf, op);
}

/* op on fd with a linked timeout; both count as pending. */
static void submit_timed(struct sdfs *s, int slot, struct io_uring_sqe *sqe, int secs)
{
	struct __kernel_timespec ts = {secs, 0};
	struct io_uring_sqe *t;

	sqe->flags |= IOSQE_IO_LINK;
	t = sqe_get(s);
	io_uring_prep_link_timeout(t, &ts, 0);
	io_uring_sqe_set_data64(t, ud(s, slot, 0, O_TIMEOUT));
	s->x[slot].pending += 2;
	io_uring_submit(s->env.ring); /* the timespec is read at submission */
}

/*
 * Makes removals durable: an fsync of the store folder through io_uring.
 * For a stream (slot >= 0) its completion goes on with the stream; with
 * slot -1 nothing waits for it.
 */
static void sync_dir(struct sdfs *s, int slot)
{
	struct io_uring_sqe *sqe = sqe_get(s);

	io_uring_prep_fsync(sqe, store_dir_fd(s->store), 0);
	io_uring_sqe_set_data64(sqe, ud(s, slot < 0 ? MAX_XFER : slot, 0, O_DIRSYNC));
	if (slot < 0)
		s->dirsyncs++;
	else
		s->x[slot].pending++;
	io_uring_submit(s->env.ring);
}

static struct io_uring_sqe *sqe_pair(struct sdfs *s)
{
	if (io_uring_sq_space_left(s->env.ring) < 2)
		io_uring_submit(s->env.ring);
	return sqe_get(s);
}

static void sock_recv(struct sdfs *s, int slot, struct sock *k, uint8_t *buf, size_t len, int chunk)
{
	struct io_uring_sqe *sqe = sqe_pair(s);
	int up = k == &s->x[slot].up;

	k->rbuf = buf;
	k->rlen = len;
	k->rgot = 0;
	k->rchunk = chunk;
	k->rbusy = 1;
	io_uring_prep_recv(sqe, k->fd, buf, len, MSG_WAITALL);
	io_uring_sqe_set_data64(sqe, ud(s, slot, 0, up ? O_UP_RECV : O_DN_RECV));
	submit_timed(s, slot, sqe, IO_TIMEOUT_S);
}

static void sock_rearm_recv(struct sdfs *s, int slot, struct sock *k)
{
	struct io_uring_sqe *sqe = sqe_pair(s);
	int up = k == &s->x[slot].up;

	io_uring_prep_recv(sqe, k->fd, k->rbuf + k->rgot, k->rlen - k->rgot, MSG_WAITALL);
	io_uring_sqe_set_data64(sqe, ud(s, slot, 0, up ? O_UP_RECV : O_DN_RECV));
	submit_timed(s, slot, sqe, IO_TIMEOUT_S);
}

static void sock_send_more(struct sdfs *s, int slot, struct sock *k)
{
	struct io_uring_sqe *sqe = sqe_pair(s);
	int up = k == &s->x[slot].up;

	io_uring_prep_send(sqe, k->fd, k->sbuf + k->sgot, k->slen - k->sgot,
			   MSG_WAITALL | MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, ud(s, slot, 0, up ? O_UP_SEND : O_DN_SEND));
	submit_timed(s, slot, sqe, IO_TIMEOUT_S);
}

static void sock_send(struct sdfs *s, int slot, struct sock *k, const uint8_t *buf, size_t len,
		      int chunk)
{
	k->sbuf = buf;
	k->slen = len;
	k->sgot = 0;
	k->schunk = chunk;
	k->sbusy = 1;
	sock_send_more(s, slot, k);
}

/* Seals body as a control frame (RPC_REQ or RPC_RESP) and sends it. */
static int send_ctrl(struct sdfs *s, int slot, struct sock *k, uint8_t type, const void *body,
		     size_t len)
{
	size_t cap = len + WIRE_HDR_LEN + WIRE_TAG_LEN;
	int n;

	free(k->tx);
	k->tx = xmalloc(cap);
	n = s->env.seal(s->env.arg, type, body, len, k->tx, cap);
	if (n < 0)
		return n;
	sock_send(s, slot, k, k->tx, (size_t)n, -1);
	return 0;
}

static int send_status(struct sdfs *s, int slot, struct sock *k, int status, const char *text)
{
	uint8_t body[1 + SDFS_TEXT_MAX];
	int n = sdfs_status_encode(status, text, body, sizeof(body));

	return n < 0 ? n : send_ctrl(s, slot, k, WIRE_RPC_RESP, body, (size_t)n);
}

/* Starts receiving a control frame (its header first). */
static void recv_ctrl(struct sdfs *s, int slot, struct sock *k)
{
	sock_recv(s, slot, k, k->hdr, WIRE_HDR_LEN, RX_HDR);
}

/* ---- streams ---- */

static int xfer_alloc(struct sdfs *s, int kind)
{
	int data = 0;

	for (int i = 0; i < MAX_XFER; i++)
		data += s->x[i].used && s->x[i].bufs;
	if (kind != K_CALL && kind != K_REPLY && data >= MAX_DATA_XFER)
		return -1;
	for (int i = 0; i < MAX_XFER; i++)
		if (!s->x[i].used) {
			struct xfer *x = &s->x[i];
			memset(x, 0, sizeof(*x));
			x->used = 1;
			x->kind = kind;
			x->up.fd = x->down.fd = -1;
			for (int b = 0; b < NB; b++)
				x->b[b].chunk = -1;
			x->started = util_now_ns();
			return i;
		}
	return -1;
}

static void bufs_alloc(struct xfer *x)
{
	for (int b = 0; b < NB; b++)
		x->b[b].p = xmalloc(CHUNK_FRAME_MAX);
	x->bufs = 1;
}

static void sock_close(struct sock *k)
{
	if (k->fd >= 0)
		close(k->fd);
	k->fd = -1;
	free(k->big);
	free(k->tx);
	k->big = k->tx = NULL;
}

static void xfer_free(struct sdfs *s, int slot)
{
	struct xfer *x = &s->x[slot];

	if (x->w) {
		if (x->renamed)
			store_write_done(x->w);
		else
			store_write_abort(x->w);
	}
	store_read_end(x->r);
	sock_close(&x->up);
	sock_close(&x->down);
	for (int b = 0; b < NB; b++)
		free(x->b[b].p);
	free(x->trailer);
	free(x->scratch);
	x->used = 0;
	if (x->kind == K_PUSH && s->pushes > 0)
		s->pushes--;
	if (x->kind == K_SCRUB) { /* the next one after a pause that keeps the pace */
		uint64_t now = util_now_ns() / 1000000;
		s->scrubbing = 0;
		s->scrub_at = now + MAX(s->scrub_ms, x->size / (SCRUB_MBPS * 1000));
	}
}

/* Frees the stream once nothing is in flight. */
static void maybe_free(struct sdfs *s, int slot)
{
	struct xfer *x = &s->x[slot];

	if (x->pending == 0 && (x->failed || x->finishing) && !x->up.sbusy && !x->down.sbusy)
		xfer_free(s, slot);
}

/* Reads and drops what the client still sends (see fail). */
static void drain(struct sdfs *s, int slot)
{
	struct xfer *x = &s->x[slot];
	struct io_uring_sqe *sqe = sqe_pair(s);

	if (!x->scratch)
		x->scratch = xmalloc(65536);
	x->up.rbusy = 1;
	io_uring_prep_recv(sqe, x->up.fd, x->scratch, 65536, 0);
	io_uring_sqe_set_data64(sqe, ud(s, slot, 0, O_UP_RECV));
	submit_timed(s, slot, sqe, IO_TIMEOUT_S);
}

/*
 * Gives up on a stream: the temporary file goes (when the stream is
 * freed), the successor's connection is shut so whatever is in flight on
 * it ends, and the predecessor or client is told why.
 */
static void fail(struct sdfs *s, int slot, int status, const char *why)
{
	struct xfer *x = &s->x[slot];
	char peer[32];

	if (x->failed)
		return;
	x->failed = 1;
	wire_addr_str(x->peer, peer, sizeof(peer));
	if (x->kind != K_CALL)
		log_msg(status == EEXIST ? LOG_INFO : LOG_WARN,
			"sdfs: %s of %s v%llu%s%s failed: %s",
			x->kind == K_WRITE   ? "write"
			: x->kind == K_PUSH  ? "push"
			: x->kind == K_SCRUB ? "check"
					     : "read",
			x->req.name, (unsigned long long)x->version, x->peer.ip ? " with " : "",
			x->peer.ip ? peer : "", why);
	s->n_failed++;
	if (x->done) {
		uint8_t ans[1 + SDFS_TEXT_MAX];
		int n = sdfs_status_encode(status ? status : EIO, why, ans, sizeof(ans));
		x->done(s, slot, ans, (size_t)n);
		x->done = NULL;
	}
	if (x->down.fd >= 0)
		shutdown(x->down.fd, SHUT_RDWR);
	if (x->up.fd >= 0) {
		if (!x->up.sbusy && (x->kind != K_READ || !x->streaming) &&
		    send_status(s, slot, &x->up, status, why) == 0) {
			/* A client still uploading would make close() send a
			 * reset, and the reset can destroy the answer before
			 * the client reads it: read and drop the rest until it
			 * hangs up (it stops once it sees the answer). */
			if (x->kind == K_WRITE && x->streaming) {
				x->draining = 1;
				if (!x->up.rbusy)
					drain(s, slot);
			} else {
				shutdown(x->up.fd, SHUT_RD);
			}
		} else {
			shutdown(x->up.fd, SHUT_RDWR);
		}
	}
	maybe_free(s, slot);
}

static void finish(struct sdfs *s, int slot)
{
	s->x[slot].finishing = 1;
	maybe_free(s, slot);
}

/* ---- outbound connections ---- */

static int connect_to(struct sdfs *s, int slot, struct wire_addr to)
{
	struct xfer *x = &s->x[slot];
	struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(s->env.self.ip)};
	static struct sockaddr_in sa[MAX_XFER];
	struct io_uring_sqe *sqe;
	int one = 1;

	if (x->down.fd >= 0)
		sock_close(&x->down);
	x->down = (struct sock){.fd = -1};
	x->down_ready = x->down_prepared = 0;
	x->peer = to;
	x->down.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (x->down.fd < 0)
		return -errno;
	/* speak from this agent's address: rules that cut it off cut this too */
	bind(x->down.fd, (struct sockaddr *)&src, sizeof(src));
	setsockopt(x->down.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	sa[slot] = (struct sockaddr_in){
		.sin_family = AF_INET, .sin_port = htons(to.port), .sin_addr.s_addr = htonl(to.ip)};
	sqe = sqe_pair(s);
	io_uring_prep_connect(sqe, x->down.fd, (struct sockaddr *)&sa[slot], sizeof(sa[slot]));
	io_uring_sqe_set_data64(sqe, ud(s, slot, 0, O_DN_CONN));
	submit_timed(s, slot, sqe, CONNECT_TIMEOUT_S);
	return 0;
}

static int send_req(struct sdfs *s, int slot, const struct sdfs_req *r)
{
	uint8_t body[SDFS_REQ_MAX];
	int n = sdfs_req_encode(r, body, sizeof(body));

	return n < 0 ? n : send_ctrl(s, slot, &s->x[slot].down, WIRE_RPC_REQ, body, (size_t)n);
}

/* ---- writes (put head, chain member, repair target) ---- */

static void chain_next(struct sdfs *s, int slot);

static void write_ready_up(struct sdfs *s, int slot)
{
	struct xfer *x = &s->x[slot];
	uint8_t body[16 + (SDFS_MAX_CAND + 1) * 6];
	struct sdfs_ready r = {.version = x->version, .nreps = x->nreps};
	int n;

	if (x->req.version == 0 && x->nreps < x->req.want) {
		char why[128];
		snprintf(why, sizeof(why), "only %d of %d replicas could take the file", x->nreps,
			 x->req.want);
		fail(s, slot, EHOSTUNREACH, why);
		return;
	}
	memcpy(r.reps, x->reps, (size_t)x->nreps * sizeof(r.reps[0]));
	n = sdfs_ready_encode(&r, body, sizeof(body));
	if (n < 0 || send_ctrl(s, slot, &x->up, WIRE_RPC_RESP, body, (size_t)n))
		fail(s, slot, EIO, "cannot seal an answer");
}

/* Tries the next candidate, or goes on with the replicas found so far. */
static void chain_next(struct sdfs *s, int slot)
{
	struct xfer *x = &s->x[slot];

	while (x->cand_i < x->req.ncand) {
		if (connect_to(s, slot, x->req.cand[x->cand_i]) == 0)
			return;
		x->cand_i++;
	}
	if (x->down.fd >= 0)
		sock_close(&x->down);
	write_ready_up(s, slot);
}

/* The current candidate refused or failed: on to the one after it. */
static void skip_candidate(struct sdfs *s, int slot)
{
	s->x[slot].cand_i++;
	chain_next(s, slot);
}

static void serve_write(struct sdfs *s, int slot)
{
	struct xfer *x = &s->x[slot];
	struct sdfs_req *r = &x->req;
	uint64_t newest = 0;
	char why[160];
	int ret;

	if (r->version == 0) { /* a put: this agent orders its versions */
		store_versions(s->store, r->name, &newest, 1);
		newest = MAX(newest, store_tomb_get(s->store, r->name)); /* after a delete */
		x->version = MAX(sdfs_clock_us(), MAX(s->last_version, newest) + 1);
		s->last_version = x->version;
		if (r->want == 0 || r->want > s->env.replicas)
			r->want = (uint8_t)s->env.replicas;
		if (r->ncand == 0) { /* the rest of the chain: the file's ranked members */
			struct wire_addr *live, ranked[SDFS_MAX_CAND + 1];
			int n = live_members(s, &live), k;
			k = place_replicas(r->name, live, n, SDFS_MAX_CAND + 1, ranked);
			free(live);
			for (int i = 0; i < k; i++)
				if (!wire_addr_eq(ranked[i], s->env.self) &&
				    r->ncand < SDFS_MAX_CAND)
					r->cand[r->ncand++] = ranked[i];
			if (r->want > r->ncand + 1)
				r->want = (uint8_t)(r->ncand + 1);
		}
		s->n_puts++;
	} else {
		x->version = r->version;
		if (store_has(s->store, r->name, x->version)) {
			fail(s, slot, EEXIST, "version already held here");
			return;
		}
		if (x->version <= store_tomb_get(s->store, r->name)) {
			fail(s, slot, ENOENT, "that version was deleted");
			return;
		}
	}
	s->n_writes++;
	x->size = r->size;
	x->nchunks = chunk_count(r->size);
	if (s->check_space && store_free_bytes(s->store) < store_file_bytes(r->size) + s->reserve) {
		snprintf(why, sizeof(why), "no space for %llu bytes", (unsigned long long)r->size);
		s->n_refused++;
		fail(s, slot, ENOSPC, why);
		return;
	}
	ret = store_write_begin(s->store, r->name, x->version, &x->w);
	if (ret) {
		s->n_refused++;
		fail(s, slot, -ret, strerror(-ret));
		return;
	}
	bufs_alloc(x);
	x->reps[x->nreps++] = s->env.self;
	if (r->want > 1)
		chain_next(s, slot);
	else
		write_ready_up(s, slot);
}

/* The successor answered our WRITE request. */
static void on_down_ready(struct sdfs *s, int slot, const uint8_t *body, size_t len)
{
	struct xfer *x = &s->x[slot];
	struct sdfs_ready r;
	const char *text;
	size_t tlen;
	int status;

	sdfs_status_decode(body, len, &status, &text, &tlen);
	if (status != 0) { /* refused: try the one after */
		char who[32];
		wire_addr_str(x->peer, who, sizeof(who));
		log_msg(LOG_INFO, "sdfs: %s refused %s v%llu: %s: %.*s (trying the next)", who,
			x->req.name, (unsigned long long)x->version, strerror(status),
			(int)MIN(tlen, 200u), text);
		skip_candidate(s, slot);
		return;
	}
	if (sdfs_ready_decode(body, len, &r)) {
		fail(s, slot, EPROTO, "malformed answer from the next replica");
		return;
	}
	for (int i = 0; i < r.nreps; i++)
		if (x->nreps <= SDFS_MAX_CAND)
			x->reps[x->nreps++] = r.reps[i];
	x->down_ready = 1;
	write_ready_up(s, slot);
}

static void commit_start(struct sdfs *s, int slot)
{
	struct xfer *x = &s->x[slot];
	struct io_uring_sqe *sqe;
	size_t tlen;
	uint64_t off;

	x->trailer = store_write_trailer(x->w, &tlen, &off);
	if (io_uring_sq_space_left(s->env.ring) < 2)
		io_uring_submit(s->env.ring);
	sqe = sqe_get(s);
	io_uring_prep_write(sqe, store_writer_fd(x->w), x->trailer, (unsigned)tlen, off);
	sqe->flags |= IOSQE_IO_LINK;
	io_uring_sqe_set_data64(sqe, ud(s, slot, 0, O_COMMIT));
	sqe = sqe_get(s);
	io_uring_prep_fsync(sqe, store_writer_fd(x->w), 0);
	io_uring_sqe_set_data64(sqe, ud(s, slot, 1, O_COMMIT));
	x->commit_left = 2;
	x->commit_res = 0;
	x->pending += 2;
}

static void rename_start(struct sdfs *s, int slot)
{
	struct xfer *x = &s->x[slot];
	struct io_uring_sqe *sqe;
	const char *tmp, *final;
	int dirfd;

	store_write_names(x->w, &dirfd, &tmp, &final);
	if (io_uring_sq_space_left(s->env.ring) < 2)
		io_uring_submit(s->env.ring);
	sqe = sqe_get(s);
	io_uring_prep_renameat(sqe, dirfd, tmp, dirfd, final, RENAME_NOREPLACE);
	sqe->flags |= IOSQE_IO_LINK;
	io_uring_sqe_set_data64(sqe, ud(s, slot, 0, O_RENAME));
	sqe = sqe_get(s);
	io_uring_prep_fsync(sqe, dirfd, 0);
	io_uring_sqe_set_data64(sqe, ud(s, slot, 1, O_RENAME));
	x->rename_left = 2;
	x->commit_res = 0;
	x->pending += 2;
}

static void advance_write(struct sdfs *s, int slot)
{
	struct xfer *x = &s->x[slot];
	int down = x->down.fd >= 0 && x->down_ready;

	/* receive the next chunk into its buffer once that is free */
	if (!x->up.rbusy && x->recv_next < x->nchunks) {
		struct buf *b = &x->b[x->recv_next % NB];
		if (!b->wbusy && !b->sneed) {
			b->chunk = (int64_t)x->recv_next;
			b->ready = 0;
			sock_recv(s, slot, &x->up, b->p, chunk_frame_len(x->size, x->recv_next),
				  (int)x->recv_next);
		}
	}
	/* forward chunks down the chain, in order */
	if (down && !x->down.sbusy && x->sent_next < x->recv_next) {
		struct buf *b = &x->b[x->sent_next % NB];
		if (b->ready && b->sneed)
			sock_send(s, slot, &x->down, b->p, CHUNK_HDR + b->len + CHUNK_TAG,
				  (int)x->sent_next);
	}
	if (x->written == x->nchunks && x->recv_next == x->nchunks && !x->trailer &&
	    (!down || x->sent_next == x->nchunks)) {
		commit_start(s, slot);
		if (down)
			recv_ctrl(s, slot, &x->down); /* the successor: prepared */
	}
	/* Nothing becomes visible until every replica is synced: each says
	 * "prepared" to its predecessor once it and its successors are; the
	 * head, then sure of the whole chain, renames first and sends COMMIT
	 * down.  A failure before that leaves no replica behind. */
	if (x->synced && (!down || x->down_prepared) && !x->prepared) {
		x->prepared = 1;
		if (x->req.version == 0)
			rename_start(s, slot); /* the head decides */
		else if (send_status(s, slot, &x->up, 0, NULL))
			fail(s, slot, EIO, "cannot seal an answer");
	}
}

/* COMMIT (a request frame: status 0 and the stream id) from the predecessor. */
static void on_up_ctrl(struct sdfs *s, int slot, const uint8_t *frame, size_t n)
{
	struct xfer *x = &s->x[slot];
	struct wire_hdr h;
	const uint8_t *body;

	if (wire_open(s->env.key, frame, n, &h, &body) != WIRE_OK || h.type != WIRE_RPC_REQ ||
	    sdfs_commit_check(body, h.len, x->req.sid) || !x->prepared || x->rename_left ||
	    x->renamed) {
		fail(s, slot, EPROTO, "a malformed commit");
		return;
	}
	rename_start(s, slot);
}

static int send_commit(struct sdfs *s, int slot)
{
	uint8_t body[SDFS_COMMIT_LEN];
	int n = sdfs_commit_encode(s->x[slot].req.sid, body, sizeof(body));

	return n < 0 ? n : send_ctrl(s, slot, &s->x[slot].down, WIRE_RPC_REQ, body, (size_t)n);
}

/* Writes (the rest of) buffer bi's chunk to the temporary file. */
static void write_chunk(struct sdfs *s, int slot, int bi)
{
	struct xfer *x = &s->x[slot];
	struct buf *b = &x->b[bi];
	struct io_uring_sqe *sqe = sqe_get(s);

	io_uring_prep_write(sqe, store_writer_fd(x->w), b->p + CHUNK_HDR + b->wdone,
			    MIN(b->len - b->wdone, WRITE_PIECE),
			    (uint64_t)b->chunk * STORE_CHUNK + b->wdone);
	io_uring_sqe_set_data64(sqe, ud(s, slot, bi, O_FWRITE));
	x->pending++;
}

/* A chunk arrived from up. */
static void on_chunk_in(struct sdfs *s, int slot, int64_t chunk)
{
	struct xfer *x = &s->x[slot];
	struct buf *b = &x->b[chunk % NB];
	uint32_t len, crc;

	if (chunk_open(s->env.key, x->req.sid, (uint32_t)chunk, b->p,
		       chunk_frame_len(x->size, (uint64_t)chunk), &len, &crc)) {
		s->n_bad_chunks++;
		fail(s, slot, EBADMSG, "a chunk failed its check");
		return;
	}
	store_write_note(x->w, crc, len);
	b->len = len;
	b->ready = 1;
	b->wbusy = 1;
	b->sneed = x->down.fd >= 0 && x->down_ready;
	b->wdone = 0;
	x->recv_next++;
	s->bytes_in += len;
	write_chunk(s, slot, (int)(chunk % NB));
}

/* ---- reads (to a client) and pushes (to another agent) ---- */

static struct sock *data_out(struct xfer *x)
{
	return x->kind == K_READ ? &x->up : x->kind == K_PUSH ? &x->down : NULL;
}

static void quarantine(struct sdfs *s, const char *name, uint64_t version)
{
	s->n_corrupt++;
	log_msg(LOG_WARN, "sdfs: replica %s v%llu is corrupt: removed, to be repaired", name,
		(unsigned long long)version);
	if (store_remove(s->store, name, version) == 0)
		sync_dir(s, -1);
	s->ask = 1;
	/* bring it back soon: this node's round asks a good holder to push */
	if (!s->repair_at || s->repair_at > util_now_ns() / 1000000 + 200)
		s->repair_at = util_now_ns() / 1000000 + 200;
}

static void advance_source(struct sdfs *s, int slot)
{
	struct xfer *x = &s->x[slot];
	struct sock *out = data_out(x);

	while (x->read_next < x->nchunks) {
		struct buf *b = &x->b[x->read_next % NB];
		struct io_uring_sqe *sqe;
		uint64_t left = x->size - x->read_next * STORE_CHUNK;
		if (b->wbusy || b->sneed)
			break;
		b->chunk = (int64_t)x->read_next;
		b->ready = 0;
		b->len = (uint32_t)MIN(left, (uint64_t)STORE_CHUNK);
		b->wbusy = 1; /* here: the read in flight */
		sqe = sqe_get(s);
		io_uring_prep_read(sqe, store_reader_fd(x->r), b->p + CHUNK_HDR, b->len,
				   x->read_next * STORE_CHUNK);
		io_uring_sqe_set_data64(sqe, ud(s, slot, (int)(x->read_next % NB), O_FREAD));
		x->pending++;
		x->read_next++;
	}
	while (!out && x->sent_next < x->read_next) { /* a scrub: checked is done */
		struct buf *b = &x->b[x->sent_next % NB];
		if (!b->ready)
			break;
		b->ready = b->sneed = 0;
		x->sent_next++;
	}
	if (!out) {
		if (x->sent_next == x->nchunks && !x->finishing) {
			s->n_scrubbed++;
			finish(s, slot);
		} else if (x->read_next < x->nchunks && x->sent_next == x->read_next) {
			advance_source(s, slot); /* buffers freed: read on */
		}
		return;
	}
	if (!out->sbusy && x->sent_next < x->read_next) {
		struct buf *b = &x->b[x->sent_next % NB];
		if (b->ready && b->sneed)
			sock_send(s, slot, out, b->p, CHUNK_HDR + b->len + CHUNK_TAG,
				  (int)x->sent_next);
	}
	if (x->sent_next == x->nchunks && !out->sbusy && !x->finishing) {
		if (x->kind == K_READ) {
			s->n_reads++;
			finish(s, slot);
		} else if (!x->tail_wait) {
			x->tail_wait = 1;
			recv_ctrl(s, slot, &x->down); /* the target: prepared */
		}
	}
}

static void on_chunk_read(struct sdfs *s, int slot, int bi, int res)
{
	struct xfer *x = &s->x[slot];
	struct buf *b = &x->b[bi];

	b->wbusy = 0;
	if (res != (int)b->len || store_crc32c(0, b->p + CHUNK_HDR, b->len) !=
					  store_reader_crc(x->r, (uint64_t)b->chunk)) {
		quarantine(s, x->req.name, x->version);
		fail(s, slot, EBADMSG, "the replica here is corrupt");
		return;
	}
	b->ready = 1;
	b->sneed = 1;
	if (x->kind == K_SCRUB)
		return;
	chunk_seal(s->env.key, x->req.sid, (uint32_t)b->chunk, b->p, b->len,
		   store_reader_crc(x->r, (uint64_t)b->chunk));
	s->bytes_out += b->len;
}

/* Opens the replica for a read or push; answers and fails on error. */
static int source_open(struct sdfs *s, int slot, uint64_t version)
{
	struct xfer *x = &s->x[slot];
	int ret;

	if (version == 0 && store_versions(s->store, x->req.name, &version, 1) <= 0)
		version = 0; /* none: the read below says so */
	ret = store_read_begin(s->store, x->req.name, version, &x->r, &x->size, &x->version);
	if (ret == -EBADMSG) {
		quarantine(s, x->req.name, version);
		fail(s, slot, EBADMSG, "the replica here is corrupt");
		return ret;
	}
	if (ret) {
		fail(s, slot, -ret, ret == -ENOENT ? "not held here" : strerror(-ret));
		return ret;
	}
	x->nchunks = chunk_count(x->size);
	bufs_alloc(x);
	return 0;
}

static void serve_read(struct sdfs *s, int slot)
{
	struct xfer *x = &s->x[slot];
	uint8_t body[17];
	int n;

	if (x->req.offset % STORE_CHUNK) {
		fail(s, slot, EINVAL, "offset not a multiple of the chunk size");
		return;
	}
	if (source_open(s, slot, x->req.version))
		return;
	x->read_next = x->sent_next = MIN(x->req.offset / STORE_CHUNK, x->nchunks);
	n = sdfs_read_ans_encode(x->version, x->size, body, sizeof(body));
	if (n < 0 || send_ctrl(s, slot, &x->up, WIRE_RPC_RESP, body, (size_t)n))
		fail(s, slot, EIO, "cannot seal an answer");
	x->peer = (struct wire_addr){0, 0};
}

static void push_done(struct sdfs *s, int slot, const uint8_t *ans, size_t len);

/* Starts pushing (name, version) to `to`. */
static int push_start(struct sdfs *s, const char *name, uint64_t version, struct wire_addr to)
{
	int slot = xfer_alloc(s, K_PUSH);
	struct xfer *x;

	if (slot < 0)
		return -EBUSY;
	x = &s->x[slot];
	snprintf(x->req.name, sizeof(x->req.name), "%s", name);
	x->done = push_done;
	s->pushes++;
	if (source_open(s, slot, version))
		return -EIO;
	x->req.cmd = SDFS_WRITE;
	x->req.version = x->version;
	x->req.size = x->size;
	x->req.want = 1;
	randombytes_buf(x->req.sid, SDFS_SID_LEN);
	if (connect_to(s, slot, to)) {
		fail(s, slot, EIO, "cannot connect");
		return -EIO;
	}
	return 0;
}

/* ---- small calls to other agents ---- */

static int call_start(struct sdfs *s, struct wire_addr to, const struct sdfs_req *r, call_fn done,
		      int tag)
{
	int slot = xfer_alloc(s, K_CALL);

	if (slot < 0)
		return -EBUSY;
	s->x[slot].req = *r;
	s->x[slot].tag = tag;
	if (connect_to(s, slot, to)) {
		fail(s, slot, EIO, "cannot connect"); /* not reported: the caller sees it */
		return -EIO;
	}
	s->x[slot].done = done;
	return 0;
}

/* ---- answers from the down socket ---- */

static void on_down_ctrl(struct sdfs *s, int slot, const uint8_t *frame, size_t n)
{
	struct xfer *x = &s->x[slot];
	struct wire_hdr h;
	const uint8_t *body;

	if (wire_open(s->env.key, frame, n, &h, &body) != WIRE_OK || h.type != WIRE_RPC_RESP ||
	    h.len < 1) {
		fail(s, slot, EPROTO, "refused answer from a peer");
		return;
	}
	switch (x->kind) {
	case K_WRITE:
		if (!x->down_ready) {
			on_down_ready(s, slot, body, h.len);
		} else if (body[0] != 0) {
			char why[300];
			const char *text;
			size_t tlen;
			int status;
			sdfs_status_decode(body, h.len, &status, &text, &tlen);
			snprintf(why, sizeof(why), "a later replica failed: %.*s",
				 (int)MIN(tlen, 200u), text);
			fail(s, slot, body[0], why);
		} else if (!x->down_prepared) {
			x->down_prepared = 1;
		} else if (x->renamed && !x->done_sent) { /* the chain committed */
			x->done_sent = 1;
			if (send_status(s, slot, &x->up, 0, NULL))
				fail(s, slot, EIO, "cannot seal an answer");
		}
		break;
	case K_PUSH:
		if (body[0] != 0 || x->down_prepared) {
			/* refused, failed, or done: the final word */
			if (x->done)
				x->done(s, slot, body, h.len);
			x->done = NULL;
			if (body[0])
				shutdown(x->down.fd, SHUT_RDWR);
			finish(s, slot);
		} else if (!x->down_ready) {
			x->down_ready = 1;
		} else {
			x->down_prepared = 1;
			if (send_commit(s, slot))
				fail(s, slot, EIO, "cannot seal a commit");
		}
		break;
	case K_CALL:
		if (x->done)
			x->done(s, slot, body, h.len);
		x->done = NULL;
		finish(s, slot);
		break;
	default:
		break;
	}
}

/* ---- completions ---- */

static void on_recv_done(struct sdfs *s, int slot, struct sock *k)
{
	struct xfer *x = &s->x[slot];

	if (k->rchunk >= 0) {
		on_chunk_in(s, slot, k->rchunk);
		return;
	}
	if (k->rchunk == RX_HDR) { /* a control frame's header: now the rest */
		long fl = wire_frame_len(k->hdr, WIRE_HDR_LEN);
		uint8_t *dst = k->hdr;
		if (fl < 0) {
			fail(s, slot, EPROTO, "malformed frame from a peer");
			return;
		}
		if ((size_t)fl > sizeof(k->hdr)) {
			free(k->big);
			k->big = xmalloc((size_t)fl);
			memcpy(k->big, k->hdr, WIRE_HDR_LEN);
			dst = k->big;
		}
		k->rbuf = dst; /* rgot counts the header */
		k->rchunk = RX_BODY;
		k->rlen = (size_t)fl;
		k->rgot = WIRE_HDR_LEN;
		k->rbusy = 1;
		sock_rearm_recv(s, slot, k);
		return;
	}
	if (k == &x->down)
		on_down_ctrl(s, slot, k->rbuf, k->rlen);
	else
		on_up_ctrl(s, slot, k->rbuf, k->rlen);
}

static void on_send_done(struct sdfs *s, int slot, struct sock *k)
{
	struct xfer *x = &s->x[slot];

	if (k->schunk >= 0) {
		struct buf *b = &x->b[k->schunk % NB];
		b->sneed = 0;
		x->sent_next++;
		return;
	}
	/* a control frame went out */
	if (k == &x->down) {
		if (x->kind == K_CALL || x->kind == K_WRITE || x->kind == K_PUSH)
			recv_ctrl(s, slot, k); /* its answer */
		return;
	}
	switch (x->kind) {
	case K_WRITE:
		if (x->done_sent)
			finish(s, slot); /* the final answer */
		else if (x->prepared)
			recv_ctrl(s, slot, &x->up); /* "prepared" went up: now COMMIT */
		else
			x->streaming = 1; /* the ready answer: the client sends data */
		break;
	case K_READ:
		x->streaming = 1;
		break;
	case K_REPLY:
		finish(s, slot);
		break;
	default:
		break;
	}
}

/* A write whose next replica has not answered yet: a failure there skips it. */
static int setting_up_chain(const struct xfer *x, const struct sock *k)
{
	return x->kind == K_WRITE && k == &x->down && !x->down_ready && !x->failed;
}

static void reply_body(struct sdfs *s, int slot, const uint8_t *body, size_t len);

void sdfs_complete(struct sdfs *s, uint32_t idx, int res)
{
	int slot = (int)(idx >> 8), bi = (int)((idx >> 4) & 15), op = (int)(idx & 15);
	struct xfer *x;
	struct sock *k;

	if (op == O_DIRSYNC && slot == MAX_XFER) {
		s->dirsyncs--;
		return;
	}
	if (slot >= MAX_XFER)
		return;
	x = &s->x[slot];
	if (!x->used)
		return;
	x->pending--;
	if (op == O_TIMEOUT) {
		maybe_free(s, slot);
		return;
	}
	k = op == O_UP_RECV || op == O_UP_SEND ? &x->up : &x->down;
	switch (op) {
	case O_UP_RECV:
	case O_DN_RECV:
		if (x->draining && k == &x->up) {
			k->rbusy = 0;
			if (res > 0)
				drain(s, slot);
			break;
		}
		if (res <= 0 && setting_up_chain(x, k)) {
			k->rbusy = 0;
			skip_candidate(s, slot);
			break;
		}
		if (res <= 0) {
			k->rbusy = 0;
			fail(s, slot, EPIPE,
			     res == -ECANCELED ? "timed out"
			     : res == 0	       ? "closed"
					       : strerror(-res));
			break;
		}
		k->rgot += (size_t)res;
		if (k->rgot < k->rlen && !x->failed) {
			sock_rearm_recv(s, slot, k);
			break;
		}
		k->rbusy = 0;
		if (!x->failed)
			on_recv_done(s, slot, k);
		break;
	case O_UP_SEND:
	case O_DN_SEND:
		if (res <= 0 && setting_up_chain(x, k)) {
			k->sbusy = 0;
			skip_candidate(s, slot);
			break;
		}
		if (res <= 0) {
			k->sbusy = 0;
			fail(s, slot, EPIPE, res == -ECANCELED ? "timed out" : strerror(-res));
			break;
		}
		k->sgot += (size_t)res;
		if (k->sgot < k->slen && !x->failed) {
			sock_send_more(s, slot, k);
			break;
		}
		k->sbusy = 0;
		if (!x->failed)
			on_send_done(s, slot, k);
		break;
	case O_DN_CONN:
		if (x->failed)
			break;
		if (res < 0) {
			if (x->kind == K_WRITE) { /* a dead candidate: skip it */
				skip_candidate(s, slot);
			} else {
				fail(s, slot, EHOSTUNREACH, "cannot connect");
			}
			break;
		}
		if (x->kind == K_WRITE) {
			struct sdfs_req r = x->req;
			r.version = x->version;
			r.want = (uint8_t)(x->req.want - 1);
			r.ncand = 0;
			for (int i = x->cand_i + 1; i < x->req.ncand; i++)
				r.cand[r.ncand++] = x->req.cand[i];
			if (send_req(s, slot, &r))
				fail(s, slot, EIO, "cannot seal a request");
		} else if (send_req(s, slot, &x->req)) {
			fail(s, slot, EIO, "cannot seal a request");
		}
		break;
	case O_FWRITE:
		if (res > 0 && x->b[bi].wdone + (uint32_t)res < x->b[bi].len && !x->failed) {
			x->b[bi].wdone +=
				(uint32_t)res; /* the next piece, or the rest of a short one */
			write_chunk(s, slot, bi);
			break;
		}
		x->b[bi].wbusy = 0;
		if (res <= 0) {
			fail(s, slot, res < 0 ? -res : EIO,
			     res < 0 ? strerror(-res) : "wrote nothing");
			break;
		}
		x->written++;
		if (!x->failed) {
			/* start writing the chunk back now, so the fsync at the
			 * end waits for little (it still checks everything) */
			struct io_uring_sqe *sqe = sqe_get(s);
			io_uring_prep_sync_file_range(sqe, store_writer_fd(x->w), x->b[bi].len,
						      (uint64_t)x->b[bi].chunk * STORE_CHUNK,
						      SYNC_FILE_RANGE_WRITE);
			io_uring_sqe_set_data64(sqe, ud(s, slot, bi, O_SYNCRANGE));
			x->pending++;
		}
		break;
	case O_SYNCRANGE:
		break;	/* advisory: the fsync reports any error */
	case O_DIRSYNC: /* a DELETE's marker and removals are durable: answer */
		if (!x->failed) {
			uint8_t body[5];
			sdfs_delete_ans_encode((uint32_t)x->tag, body, sizeof(body));
			reply_body(s, slot, body, sizeof(body));
		}
		break;
	case O_FREAD:
		if (x->failed) {
			x->b[bi].wbusy = 0;
			break;
		}
		on_chunk_read(s, slot, bi, res);
		break;
	case O_COMMIT:
		if (res < 0 && !x->commit_res)
			x->commit_res = res;
		if (--x->commit_left == 0) {
			if (x->commit_res)
				fail(s, slot, -x->commit_res, strerror(-x->commit_res));
			else
				x->synced = 1;
		}
		break;
	case O_RENAME:
		if (bi == 0 && res == 0)
			store_write_renamed(x->w); /* in place: held here now */
		if (res < 0 && !x->commit_res)
			x->commit_res = res;
		if (--x->rename_left == 0) {
			if (x->commit_res) {
				fail(s, slot, -x->commit_res,
				     x->commit_res == -EEXIST ? "version already held here"
							      : strerror(-x->commit_res));
				break;
			}
			x->renamed = 1;
			if (x->down.fd >= 0 && x->down_ready) {
				if (send_commit(s, slot)) /* then its "done" comes back */
					fail(s, slot, EIO, "cannot seal a commit");
			} else {
				x->done_sent = 1;
				if (send_status(s, slot, &x->up, 0, NULL))
					fail(s, slot, EIO, "cannot seal an answer");
			}
		}
		break;
	default:
		break;
	}
	if (x->used && !x->failed && !x->finishing)
		advance(s, slot);
	if (x->used)
		maybe_free(s, slot);
}

static void advance(struct sdfs *s, int slot)
{
	struct xfer *x = &s->x[slot];

	switch (x->kind) {
	case K_WRITE:
		if (x->streaming && !x->renamed)
			advance_write(s, slot);
		break;
	case K_READ:
		if (x->streaming)
			advance_source(s, slot);
		break;
	case K_PUSH:
		if (x->down_ready)
			advance_source(s, slot);
		break;
	case K_SCRUB:
		advance_source(s, slot);
		break;
	default:
		break;
	}
}

/* ---- requests ---- */

static void reply_body(struct sdfs *s, int slot, const uint8_t *body, size_t len)
{
	if (send_ctrl(s, slot, &s->x[slot].up, WIRE_RPC_RESP, body, len))
		fail(s, slot, EIO, "cannot seal an answer");
}

static void serve_stat(struct sdfs *s, int slot)
{
	uint64_t v[SDFS_STAT_MAX];
	const char *name = s->x[slot].req.name;
	int n = store_versions(s->store, name, v, SDFS_STAT_MAX);
	size_t cap = 11 + SDFS_STAT_MAX * 8;
	uint8_t *body = xmalloc(cap);

	n = sdfs_stat_encode(v, n, store_tomb_get(s->store, name), body, cap);
	if (n < 0)
		fail(s, slot, EIO, "cannot encode an answer");
	else
		reply_body(s, slot, body, (size_t)n);
	free(body);
}

static int list_one(void *arg, const char *name, uint64_t version, uint64_t size)
{
	return sdfs_list_add(arg, name, version, size);
}

/* A deletion marker goes in a listing as an entry of size SDFS_TOMB_SIZE. */
static int list_tomb(void *arg, const char *name, uint64_t upto, uint64_t size)
{
	(void)size;
	return list_one(arg, name, upto, SDFS_TOMB_SIZE);
}

static void serve_list(struct sdfs *s, int slot)
{
	size_t cap = WIRE_MAX_PAYLOAD - 64;
	uint8_t *body = xmalloc(cap);
	struct sdfs_list_enc e;
	int ret;

	sdfs_list_begin(&e, body, cap);
	/* want = 1: names and versions only (repair rounds), sizes cost an open each */
	ret = s->x[slot].req.want ? store_list_names(s->store, list_one, &e)
				  : store_list(s->store, list_one, &e);
	if (!ret)
		ret = store_tomb_list(s->store, list_tomb, &e);
	if (ret) {
		free(body);
		fail(s, slot, -ret, "the listing does not fit in one answer");
		return;
	}
	reply_body(s, slot, body, sdfs_list_end(&e));
	free(body);
}

/* Deletes every version up to req.version (0: up to the newest held here). */
static void serve_delete(struct sdfs *s, int slot)
{
	const char *name = s->x[slot].req.name;
	uint64_t upto = s->x[slot].req.version;
	uint8_t body[5];
	int n = 0;

	if (!upto && store_versions(s->store, name, &upto, 1) <= 0)
		upto = 0;
	if (upto)
		n = store_tomb_set(s->store, name, upto);
	if (n > 0)
		log_msg(LOG_INFO, "sdfs: deleted %s up to v%llu (%d versions here)", name,
			(unsigned long long)upto, n);
	if (n < 0) {
		sdfs_delete_ans_encode(0, body, sizeof(body));
		reply_body(s, slot, body, sizeof(body));
		return;
	}
	/* answered once the marker and the removals are durable */
	s->x[slot].tag = n;
	sync_dir(s, slot);
}

/* Another agent asks this one to push a version to it (its replica was bad). */
static void serve_repair(struct sdfs *s, int slot)
{
	struct xfer *x = &s->x[slot];
	int ret = x->req.ncand == 1 ? push_start(s, x->req.name, x->req.version, x->req.cand[0])
				    : -EINVAL;
	uint8_t body[1];

	sdfs_status_encode(-ret, NULL, body, sizeof(body));
	reply_body(s, slot, body, 1);
}

void sdfs_serve(struct sdfs *s, int fd, const uint8_t *payload, size_t len)
{
	struct sdfs_req r;
	char err[160];
	int ret = sdfs_req_decode(payload, len, &r, err, sizeof(err));
	int data = ret == 0 && (r.cmd == SDFS_WRITE || r.cmd == SDFS_READ);
	int slot = xfer_alloc(s, data ? (r.cmd == SDFS_WRITE ? K_WRITE : K_READ) : K_REPLY);
	int one = 1;

	if (slot < 0 && data && (slot = xfer_alloc(s, K_REPLY)) >= 0) {
		/* every data stream is taken: say so (a put tries another head) */
		s->n_refused++;
		s->x[slot].up.fd = fd;
		if (send_status(s, slot, &s->x[slot].up, EBUSY, "too many transfers at once"))
			fail(s, slot, EBUSY, "too many transfers at once");
		return;
	}
	if (slot < 0) {
		close(fd); /* not even a slot to answer from */
		s->n_refused++;
		return;
	}
	s->x[slot].up.fd = fd;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (ret) {
		s->x[slot].kind = K_REPLY;
		if (send_status(s, slot, &s->x[slot].up, EINVAL, err))
			fail(s, slot, EINVAL, err);
		return;
	}
	s->x[slot].req = r;
	switch (r.cmd) {
	case SDFS_WRITE:
		serve_write(s, slot);
		break;
	case SDFS_READ:
		serve_read(s, slot);
		break;
	case SDFS_STAT:
		serve_stat(s, slot);
		break;
	case SDFS_LIST:
		serve_list(s, slot);
		break;
	case SDFS_DELETE:
		serve_delete(s, slot);
		break;
	case SDFS_REPAIR:
		serve_repair(s, slot);
		break;
	default:
		fail(s, slot, EINVAL, "unknown command");
	}
}

/* ---- repair ---- */

/*
 * A round: list every live member's store, then for every version of
 * every file, make sure each of the file's targets (its ranked members)
 * holds it.  Of the members holding a version, the one ranked highest for
 * the file pushes it; a target missing a version it should have asks that
 * member directly.  A member holding a file it is no longer a target of
 * drops its copy once every target holds every version it has.
 */
static void push_done(struct sdfs *s, int slot, const uint8_t *ans, size_t len)
{
	struct xfer *x = &s->x[slot];
	const char *text;
	size_t tlen;
	int status;
	char to[32];

	sdfs_status_decode(ans, len, &status, &text, &tlen);
	wire_addr_str(x->peer, to, sizeof(to));
	if (status == 0 || status == EEXIST) {
		s->n_pushed += status == 0;
		log_msg(LOG_INFO, "sdfs: pushed %s v%llu to %s (%.1f ms)", x->req.name,
			(unsigned long long)x->version, to,
			(double)(util_now_ns() - x->started) / 1e6);
	} else {
		s->n_push_failed++;
		log_msg(LOG_WARN, "sdfs: push of %s v%llu to %s failed: %.*s", x->req.name,
			(unsigned long long)x->version, to, (int)MIN(tlen, 200u), text);
	}
}

static void run_todo(struct sdfs *s)
{
	while (s->todo_next < s->ntodo && s->pushes < MAX_PUSH) {
		struct sdfs_action *a = &s->todo[s->todo_next++];
		if (a->op == SDFS_PLAN_ASK) {
			struct sdfs_req r = {.cmd = SDFS_REPAIR, .version = a->version, .ncand = 1};
			snprintf(r.name, sizeof(r.name), "%s", a->name);
			r.cand[0] = s->env.self;
			call_start(s, a->to, &r, NULL, 0);
		} else if (a->op == SDFS_PLAN_PUSH &&
			   push_start(s, a->name, a->version, a->to) == -EBUSY) {
			s->todo_next--;
			break;
		}
	}
}

/* Every listing is in: decide (sdfs_plan.h), drop at once, push and ask. */
static void round_plan(struct sdfs *s)
{
	struct sdfs_plan_in in = {s->lists, s->nlists, s->env.self, s->env.replicas, s->round_ask};
	int nlive = 0, pushes = 0, asks = 0, drops = 0, tried = 0;

	for (int i = 0; i < s->nlists; i++)
		nlive += s->lists[i].ok;
	free(s->todo);
	s->ntodo = sdfs_plan(&in, &s->todo);
	s->todo_next = 0;
	s->round_active = 0;
	for (int i = 0; i < s->ntodo; i++) {
		const struct sdfs_action *a = &s->todo[i];
		switch (a->op) {
		case SDFS_PLAN_PUSH:
			pushes++;
			break;
		case SDFS_PLAN_ASK:
			asks++;
			break;
		case SDFS_PLAN_DROP_UPTO: /* a delete this member missed */
			tried++;
			if (store_tomb_set(s->store, a->name, a->version) > 0) {
				drops++;
				log_msg(LOG_INFO, "sdfs: dropped %s up to v%llu: it was deleted",
					a->name, (unsigned long long)a->version);
			}
			break;
		case SDFS_PLAN_DROP_NAME: /* a member joined: the copies here moved */
			tried++;
			if (store_delete(s->store, a->name) == 0) {
				drops++;
				s->n_dropped++;
				log_msg(LOG_INFO,
					"sdfs: dropped %s: its replicas are elsewhere now",
					a->name);
			}
			break;
		default:
			break;
		}
	}
	if (tried)
		sync_dir(s, -1);
	if (pushes || asks || drops)
		log_msg(LOG_INFO,
			"sdfs: repair round over %d members: %d pushes, %d asks, %d drops", nlive,
			pushes, asks, drops);
	run_todo(s);
}

static int listed(void *arg, const char *name, uint64_t version, uint64_t size)
{
	if (store_name_check(name, NULL, 0) == 0)
		sdfs_plan_list_add(arg, name, version, size == SDFS_TOMB_SIZE);
	return 0;
}

static int listed_tomb(void *arg, const char *name, uint64_t upto, uint64_t size)
{
	(void)size;
	return listed(arg, name, upto, SDFS_TOMB_SIZE);
}

static void round_pump(struct sdfs *s);

static void list_done(struct sdfs *s, int slot, const uint8_t *ans, size_t len)
{
	struct sdfs_plan_list *l = &s->lists[s->x[slot].tag];

	if (ans[0] == 0)
		l->ok = sdfs_list_decode(ans, len, listed, l) == 0;
	s->list_calls--;
	round_pump(s);
}

/*
 * Asks for the next listings, at most MAX_LIST_CALLS at once, so a large
 * membership cannot take every stream slot; when no slot is free the next
 * tick tries again.  Plans once every listing is in or has failed.
 */
static void round_pump(struct sdfs *s)
{
	struct sdfs_req r = {.cmd = SDFS_LIST, .want = 1}; /* no sizes needed */

	while (s->list_calls < MAX_LIST_CALLS && s->list_next < s->nlists) {
		int i = s->list_next, ret;
		if (wire_addr_eq(s->lists[i].who, s->env.self)) {
			s->list_next++;
			continue;
		}
		ret = call_start(s, s->lists[i].who, &r, list_done, i);
		if (ret == -EBUSY)
			break;
		s->list_next++;
		s->list_calls += ret == 0;
	}
	if (s->round_active && s->list_calls == 0 && s->list_next == s->nlists)
		round_plan(s);
}

static void round_start(struct sdfs *s)
{
	struct wire_addr *live;
	int n = live_members(s, &live);

	for (int i = 0; i < s->nlists; i++)
		sdfs_plan_list_free(&s->lists[i]);
	free(s->lists);
	s->lists = xcalloc((size_t)n + 1, sizeof(*s->lists));
	s->nlists = n;
	s->list_next = s->list_calls = 0;
	s->round_active = 1;
	s->round_ask = s->ask;
	s->ask = 0;
	s->n_rounds++;
	for (int i = 0; i < n; i++) {
		s->lists[i].who = live[i];
		if (wire_addr_eq(live[i], s->env.self)) /* from the index: no call */
			s->lists[i].ok = store_list_names(s->store, listed, &s->lists[i]) == 0 &&
					 store_tomb_list(s->store, listed_tomb, &s->lists[i]) == 0;
	}
	free(live);
	round_pump(s);
}

/* ---- setup, timers, counters ---- */

int sdfs_new(const struct sdfs_env *env, const char *dir, struct sdfs **out, char *err,
	     size_t errlen)
{
	struct sdfs *s = xcalloc(1, sizeof(*s));
	int ret = store_open(dir, &s->store, err, errlen);

	if (ret) {
		free(s);
		return ret;
	}
	s->env = *env;
	/* IDUNNO_SDFS_RESERVE_KB: the free space a write must leave; "off"
	 * skips the check, so tests reach a real ENOSPC partway through */
	{
		const char *r = getenv("IDUNNO_SDFS_RESERVE_KB");
		s->reserve = !r ? SPACE_RESERVE : strtoull(r, NULL, 10) * 1024;
		s->check_space = !r || strcmp(r, "off");
	}
	s->repair_at = util_now_ns() / 1000000 + REPAIR_DELAY_MS;
	/* IDUNNO_SDFS_SCRUB_MS: the pause between two replicas checked */
	s->scrub_ms = getenv("IDUNNO_SDFS_SCRUB_MS")
			      ? strtoull(getenv("IDUNNO_SDFS_SCRUB_MS"), NULL, 10)
			      : SCRUB_MS;
	s->scrub_at = s->repair_at + s->scrub_ms;
	*out = s;
	return 0;
}

void sdfs_free(struct sdfs *s)
{
	if (!s)
		return;
	for (int i = 0; i < MAX_XFER; i++)
		if (s->x[i].used) {
			s->x[i].pending = 0; /* the ring is going away with them */
			xfer_free(s, i);
		}
	for (int i = 0; i < s->nlists; i++)
		sdfs_plan_list_free(&s->lists[i]);
	free(s->lists);
	free(s->todo);
	store_close(s->store);
	free(s);
}

void sdfs_members_changed(struct sdfs *s, uint64_t now_ms)
{
	/* a burst of changes: one round after; every member hears of a change
	 * at about the same time, so spread their rounds over half a second */
	s->repair_at = now_ms + REPAIR_DELAY_MS + randombytes_uniform(REPAIR_JITTER_MS);
}

/*
 * Scrubbing: every replica here is read back and checked, one at a time,
 * so a corrupt one is found (and repaired) even if nothing reads it.
 */
static void scrub_next(struct sdfs *s, uint64_t now_ms)
{
	char name[STORE_NAME_MAX + 1];
	uint64_t version;
	int slot;

	s->scrub_at = now_ms + s->scrub_ms;
	/* the next in (name, version) order; after the last, the first again */
	if (!store_next(s->store, s->scrub_name, s->scrub_version, name, &version))
		return; /* nothing held */
	snprintf(s->scrub_name, sizeof(s->scrub_name), "%s", name);
	s->scrub_version = version;
	slot = xfer_alloc(s, K_SCRUB);
	if (slot < 0)
		return;
	snprintf(s->x[slot].req.name, sizeof(s->x[slot].req.name), "%s", name);
	s->scrubbing = 1;
	if (source_open(s, slot, version) == 0)
		advance(s, slot);
}

/* Whether the store holds any version or deletion marker. */
static int holds_anything(struct sdfs *s)
{
	size_t markers;

	return store_held(s->store, &markers) > 0 || markers > 0;
}

uint64_t sdfs_tick(struct sdfs *s, uint64_t now_ms)
{
	if (!s->scrubbing && now_ms >= s->scrub_at)
		scrub_next(s, now_ms);
	if (s->round_active)
		round_pump(s); /* listings a full stream table held back */
	if (s->todo_next < s->ntodo)
		run_todo(s);
	if (now_ms >= s->repair_at && !s->round_active && s->todo_next >= s->ntodo &&
	    s->pushes == 0) {
		s->repair_at = now_ms + REPAIR_PERIOD_MS + randombytes_uniform(REPAIR_JITTER_MS);
		/* Every action of a round starts from what this member holds (a
		 * push, a drop) or has just lost (an ask): with neither, the
		 * round would only cost the others a listing each. */
		if (s->ask || holds_anything(s))
			round_start(s);
	}
	return MIN(s->repair_at, s->scrubbing ? UINT64_MAX : s->scrub_at);
}

size_t sdfs_stats(const struct sdfs *s, char *buf, size_t cap)
{
	return (size_t)snprintf(
		buf, cap,
		"sdfs_puts %llu\nsdfs_writes %llu\nsdfs_reads %llu\nsdfs_refused %llu\n"
		"sdfs_failed %llu\nsdfs_bad_chunks %llu\nsdfs_corrupt_replicas %llu\n"
		"sdfs_pushed %llu\nsdfs_push_failed %llu\nsdfs_dropped %llu\n"
		"sdfs_repair_rounds %llu\nsdfs_bytes_in %llu\nsdfs_bytes_out %llu\n"
		"sdfs_replicas_checked %llu\n",
		(unsigned long long)s->n_puts, (unsigned long long)s->n_writes,
		(unsigned long long)s->n_reads, (unsigned long long)s->n_refused,
		(unsigned long long)s->n_failed, (unsigned long long)s->n_bad_chunks,
		(unsigned long long)s->n_corrupt, (unsigned long long)s->n_pushed,
		(unsigned long long)s->n_push_failed, (unsigned long long)s->n_dropped,
		(unsigned long long)s->n_rounds, (unsigned long long)s->bytes_in,
		(unsigned long long)s->bytes_out, (unsigned long long)s->n_scrubbed);
}
