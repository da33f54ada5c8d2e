/*
 * sdfs_int.h - what the files of SDFS's agent side share (not for other
 * layers).
 *
 *   sdfs.c         the module's face: new, free, the loop's ops, serving
 *   sdfs_stream.c  the stream table, connections (core/conn.h), failing
 *   sdfs_write.c   receiving a file: a put's head, a chain member, a push's target
 *   sdfs_read.c    sending a file: to a reader, a push, the scrub's check
 *   sdfs_small.c   STAT, LIST, DELETE, REPAIR, and calls to other agents
 *   sdfs_repair.c  repair rounds (the decisions: sdfs_plan.c)
 *   sdfs_scrub.c   reading every replica back, one at a time
 *
 * Each stream is a struct xfer in a fixed table, driven by one state
 * machine (enum xfer_state).  It has up to two connections: up (the one a
 * request came in on) and down (one this agent opened: the next replica of
 * a chain, the target of a push or a call).  File operations go through
 * the loop with LOOP_UD(owner, op, slot << 8 | buffer) and count in
 * x->pending; a stream is freed only once it is over, no file operation
 * is in flight and every connection it had has reported CONN_EV_CLOSED,
 * so no completion ever finds its buffers gone.
 *
 * Chunk i of a stream always uses buffer i % NB, so chunks are received,
 * written, read and sent in order while up to NB are in flight.
 */
#ifndef IDUNNO_SDFS_INT_H
#define IDUNNO_SDFS_INT_H

#include "core/conn.h"
#include "sdfs/sdfs.h"
#include "sdfs/sdfs_backoff.h"
#include "sdfs/sdfs_plan.h"
#include "sdfs/sdfs_wire.h"
#include "sdfs/store.h"

#include <stddef.h>
#include <stdint.h>

#define NB		   4	 /* chunk buffers per stream */
#define MAX_XFER	   128	 /* streams at once */
#define MAX_DATA_XFER	   24	 /* of which moving file data (each holds NB MiB) */
#define MAX_PUSH	   6	 /* repair pushes one agent runs at once */
#define MAX_LIST_CALLS	   8	 /* a round's LIST calls in flight at once */
#define IO_TIMEOUT_MS	   10000 /* a peer silent this long is given up */
#define CONNECT_TIMEOUT_MS 2000
#define SPACE_RESERVE	   (4u << 20) /* kept free on the store's disk */
#define REPAIR_DELAY_MS	   1500	      /* after a membership change: let the news spread */
#define REPAIR_PERIOD_MS   10000
#define REPAIR_JITTER_MS   500
#define SCRUB_MS	   1000 /* at least this between two replicas checked */
#define SCRUB_MBPS	   16	/* and at most this fast on average */
#define ANSWER_MAX	   (WIRE_HDR_LEN + WIRE_MAX_PAYLOAD + WIRE_TAG_LEN) /* a LIST answer */
/*
 * File data is written 128 KiB at a time.  One 1 MiB write makes the page
 * cache take a large folio, and on a VM that hands free high-order pages
 * back to the host each of those faults in on first touch: 100 MB written
 * in 1 MiB writes took 0.37 s of system time right after other I/O, in
 * 128 KiB writes 0.04 s (measured with dd on this machine).
 */
#define WRITE_PIECE (128u << 10)

/* File operations (the op byte of their user_data). */
enum sdfs_fop {
	FOP_READ = 1,
	FOP_WRITE,
	FOP_SYNCRANGE, /* early writeback of a written chunk */
	FOP_COMMIT,    /* trailer write, then fsync (buffer 0, 1) */
	FOP_RENAME,    /* rename, then fsync of the folder (buffer 0, 1) */
	FOP_DIRSYNC,   /* fsync of the folder after removals */
	FOP_MAX
};

enum xfer_kind {
	K_WRITE, /* receiving a file: a put's head, a chain member, a push's target */
	K_READ,	 /* sending a file to a reader */
	K_PUSH,	 /* sending a file to another agent (repair) */
	K_CALL,	 /* a small request to another agent, one answer */
	K_REPLY, /* answering a small request */
	K_SCRUB, /* reading a local replica to check it, nothing sent */
	K_MAX
};

extern const char *const xfer_kind_names[K_MAX];

/*
 * Where a stream is.  Which states a kind goes through:
 *
 *   write  CHAIN -> READY -> STREAM -> SYNC -> SYNCED | DOWN_SYNCED ->
 *          (head) RENAME | (others) PREPARED -> RENAME -> COMMIT -> ACK -> DONE
 *          (no successor: SYNC -> prepared at once; RENAME -> ACK)
 *   read   ANSWER -> STREAM -> DONE
 *   push   CONNECT -> ASK -> STREAM -> PREPARE -> COMMIT -> DONE
 *   check  STREAM -> DONE
 *   call   CONNECT -> ASK -> DONE
 *   reply  (DIRSYNC ->) ANSWER -> DONE
 *
 * and from any of them FAILED (or DRAIN: failed while a client still
 * uploads, whose rest is read and dropped so that closing sends no reset).
 */
enum xfer_state {
	XS_FREE,
	XS_CONNECT,	/* connecting to the peer */
	XS_ASK,		/* our request sent, its answer awaited */
	XS_CHAIN,	/* write: finding successors that take the file */
	XS_READY,	/* write: "ready" (version, replicas) going up */
	XS_ANSWER,	/* read, reply: the answer going up */
	XS_STREAM,	/* chunks moving */
	XS_SYNC,	/* write: checksum table and fsync here, the successor's too */
	XS_SYNCED,	/* write: synced here, the successor not yet */
	XS_DOWN_SYNCED, /* write: the successor prepared, not yet synced here */
	XS_PREPARED,	/* write: "prepared" sent up, COMMIT awaited */
	XS_PREPARE,	/* push: every chunk sent, the target's "prepared" awaited */
	XS_RENAME,	/* write: rename into place and folder fsync */
	XS_COMMIT,	/* COMMIT sent down, its "done" awaited */
	XS_ACK,		/* write: the final answer going up */
	XS_DIRSYNC,	/* reply: removals being made durable before the answer */
	XS_DONE,	/* over: closing */
	XS_FAILED,	/* over: the reason going up, then closing */
	XS_DRAIN,	/* over: the client's upload read and dropped until it hangs up */
	XS_MAX
};

extern const char *const xfer_state_names[XS_MAX];

enum side { UP, DOWN, SIDES };

struct buf {
	uint8_t *p;	  /* CHUNK_FRAME_MAX */
	int64_t chunk;	  /* in it, or -1 */
	int ready;	  /* verified (received or read) */
	int wbusy, sneed; /* a file operation in flight; a send still due */
	uint32_t len;
	uint32_t wdone; /* bytes of it written so far */
};

struct sdfs;
struct xfer;

/* A call's outcome: its answer (status byte first), or one made up here
 * when the call failed before an answer came. */
typedef void (*call_fn)(struct sdfs *s, struct xfer *x, const uint8_t *ans, size_t len);

struct xfer {
	enum xfer_kind kind;
	enum xfer_state st;
	int pending; /* file operations in flight */
	int nconns;  /* connections not yet CONN_EV_CLOSED */
	struct conn *c[SIDES];
	int rbusy[SIDES]; /* a receive is posted on that side */
	uint8_t *scratch; /* DRAIN's bin */
	struct sdfs_req req;
	struct wire_addr peer; /* down's, for messages */
	/* data */
	struct store_writer *w;
	struct store_reader *r;
	uint64_t version, size, nchunks;
	uint64_t recv_next, sent_next, read_next, written;
	struct buf b[NB];
	int bufs;
	/* chain */
	int cand_i; /* the candidate being asked */
	int nreps;
	struct wire_addr reps[SDFS_MAX_CAND + 1];
	int fop_left, fop_res; /* the linked pair of a commit or a rename */
	uint8_t *trailer;
	/* calls */
	call_fn done;
	int tag;
	uint64_t started;
};

struct sdfs {
	struct sdfs_env env;
	struct loop *loop;
	struct conns *conns;
	int owner;
	struct store *store;
	uint64_t reserve; /* bytes a write must leave free */
	int check_space;
	struct xfer x[MAX_XFER];
	uint64_t last_version;
	int dirsyncs; /* folder fsyncs in flight that no stream waits for */
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
	/* scrub: one replica at a time, in name order, forever */
	uint64_t scrub_at, scrub_ms;
	int scrubbing;
	char scrub_name[STORE_NAME_MAX + 1];
	uint64_t scrub_version;
	/* counters */
	uint64_t n_puts, n_writes, n_reads, n_refused, n_failed, n_bad_chunks, n_corrupt, n_pushed,
		n_push_failed, n_dropped, n_rounds, bytes_in, bytes_out, n_scrubbed;
	uint64_t n_push_deferred; /* repair pushes held back: their target's disk is full */
	struct sdfs_backoff full; /* members that refused a push for want of space */
};

/* ---- sdfs_stream.c: the stream table ---- */

/* A free slot of kind (NULL when none: data streams are limited apart). */
struct xfer *xfer_alloc(struct sdfs *s, enum xfer_kind kind);
/* The stream's NB chunk buffers. */
void xfer_bufs(struct xfer *x);
int xfer_slot(const struct sdfs *s, const struct xfer *x);
/* The stream is over (DONE, FAILED, DRAIN) or free. */
int xfer_over(const struct xfer *x);
/* Moves a stream to st (the transitions themselves live with each kind). */
void xfer_to(struct xfer *x, enum xfer_state st);
/* In a live state: submits what can go next (receives, sends, reads). */
void xfer_advance(struct sdfs *s, struct xfer *x);
/*
 * Gives up: the temporary file goes (when the stream is freed), down is
 * closed, and up is told why when it can be (not in the middle of a
 * read's chunks).  Calls x->done with a made-up answer.  x may be freed
 * on return when nothing was in flight.
 */
void xfer_fail(struct sdfs *s, struct xfer *x, int status, const char *why);
/* Done: closes what is idle, frees once nothing is in flight. */
void xfer_finish(struct sdfs *s, struct xfer *x);
/* After any event: frees an over stream once nothing is in flight. */
void xfer_settle(struct sdfs *s, struct xfer *x);
/* Every stream fails (shutting down); connections close. */
void xfer_cancel_all(struct sdfs *s);

/* ---- sdfs_stream.c: connections ---- */

/* Takes an accepted connection as x's up. */
void stream_adopt(struct sdfs *s, struct xfer *x, struct conn *c);
/* Opens down to `to` (closing any earlier down); CONN_EV_CONNECTED follows.
 * 0, or -errno (-EBUSY: no connection slot). */
int stream_connect(struct sdfs *s, struct xfer *x, struct wire_addr to);
/* Closes one side (its CLOSED is counted in x->nconns). */
void stream_close(struct sdfs *s, struct xfer *x, enum side side);
/* Exactly len bytes into buf, tag = the chunk index. 0 or -errno. */
int stream_recv(struct sdfs *s, struct xfer *x, enum side side, void *buf, size_t len,
		uint64_t tag);
/* One sealed frame (an answer, a COMMIT); then stream_frame() gives it. */
int stream_recv_frame(struct sdfs *s, struct xfer *x, enum side side);
void stream_frame(const struct xfer *x, enum side side, struct wire_hdr *h, const uint8_t **body,
		  size_t *len);
/* The frame received on side as an answer (a response, status byte
 * first): 0 with its body, or -1 with x failed. */
int stream_answer(struct sdfs *s, struct xfer *x, enum side side, const uint8_t **body,
		  size_t *len);
int stream_send(struct sdfs *s, struct xfer *x, enum side side, const void *buf, size_t len,
		uint64_t tag);
/* Seals body as a frame of type (RPC_REQ, RPC_RESP) and queues it. */
int stream_send_frame(struct sdfs *s, struct xfer *x, enum side side, uint8_t type,
		      const void *body, size_t len);
int stream_send_status(struct sdfs *s, struct xfer *x, enum side side, int status,
		       const char *text);
int stream_send_req(struct sdfs *s, struct xfer *x, const struct sdfs_req *r);
/* -> COMMIT: COMMIT (for x->req.sid) goes down and its answer is
 * awaited, or x fails. */
void stream_commit(struct sdfs *s, struct xfer *x);
/* A send is queued or in flight on that side. */
int stream_sending(const struct xfer *x, enum side side);
/* The tag of control frames (chunks are tagged with their index). */
#define TAG_CTRL UINT64_MAX
/* A failed receive or send as a reason: "timed out", "closed", or the errno's. */
const char *stream_error(int res);

/* ---- sdfs_stream.c: file operations through the loop ---- */

struct io_uring_sqe *sdfs_sqe(struct sdfs *s);
/* Room for n linked entries in one submission. */
void sdfs_reserve(struct sdfs *s, unsigned n);
void sdfs_submit(struct sdfs *s);
/* Tags sqe as file operation op of x's buffer bi, counted in x->pending. */
void sdfs_fop(struct sdfs *s, struct xfer *x, struct io_uring_sqe *sqe, enum sdfs_fop op, int bi);
/* fsyncs the store folder: for x (FOP_DIRSYNC on it) or, with NULL, for
 * nobody (a removal's durability nothing waits for). */
void sdfs_sync_dir(struct sdfs *s, struct xfer *x);

/* ---- per kind: events in live states (sdfs_stream.c dispatches) ---- */

void write_event(struct sdfs *s, struct xfer *x, enum side side, enum conn_ev ev, uint64_t tag,
		 int res);
void write_fop_done(struct sdfs *s, struct xfer *x, enum sdfs_fop op, int bi, int res);
void write_advance(struct sdfs *s, struct xfer *x);
void serve_write(struct sdfs *s, struct xfer *x);

void source_event(struct sdfs *s, struct xfer *x, enum side side, enum conn_ev ev, uint64_t tag,
		  int res);
void source_fop_done(struct sdfs *s, struct xfer *x, int bi, int res);
void source_advance(struct sdfs *s, struct xfer *x);
void serve_read(struct sdfs *s, struct xfer *x);
/* Opens the replica x->req.name at version (0: the newest) for reading;
 * fails x (and removes a corrupt replica) on error. */
int source_open(struct sdfs *s, struct xfer *x, uint64_t version);
/* Starts pushing (name, version) to `to`. 0 or -errno (-EBUSY: no slot). */
int push_start(struct sdfs *s, const char *name, uint64_t version, struct wire_addr to);
/* A replica here failed its check: removed, and a good copy asked for soon. */
void quarantine(struct sdfs *s, const char *name, uint64_t version);

void small_event(struct sdfs *s, struct xfer *x, enum side side, enum conn_ev ev, uint64_t tag,
		 int res);
void small_dirsync_done(struct sdfs *s, struct xfer *x, int res);
void serve_small(struct sdfs *s, struct xfer *x);
/* Sends r to `to` and hands the answer to done (may be NULL). 0 or -errno. */
int call_start(struct sdfs *s, struct wire_addr to, const struct sdfs_req *r, call_fn done,
	       int tag);
/* A call's or push's connect finished (res): the request goes down and its
 * answer is awaited (XS_ASK), or x fails. */
void call_connected(struct sdfs *s, struct xfer *x, int res);
/* A call's or push's last answer (status byte first) goes to x->done,
 * once; then x is finished. */
void call_answer(struct sdfs *s, struct xfer *x, const uint8_t *body, size_t len);

/* ---- sdfs_repair.c ---- */

void repair_members_changed(struct sdfs *s, uint64_t now_ms);
/* Runs a round when one is due; returns the next deadline. */
uint64_t repair_tick(struct sdfs *s, uint64_t now_ms);
void repair_push_done(struct sdfs *s, struct xfer *x, const uint8_t *ans, size_t len);
/* Every live member, this one included, sorted by address, into *out
 * (malloc'd).  Returns how many. */
int sdfs_live_members(struct sdfs *s, struct wire_addr **out);
void repair_free(struct sdfs *s);

/* ---- sdfs_scrub.c ---- */

/* Starts the next check when one is due; returns the next deadline. */
uint64_t scrub_tick(struct sdfs *s, uint64_t now_ms);
/* A check ended (of size bytes): the next after a pause that keeps the pace. */
void scrub_ended(struct sdfs *s, uint64_t size);

#endif
