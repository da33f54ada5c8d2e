/*
 * repl_wire.h - the replication stream from the coordinator to its hot
 * standby (docs/tasks.md, "Hot standby").  Pure codecs, no I/O.
 *
 * One stream, opened by the coordinator; its first frame (a WIRE_RPC_REQ
 * whose first payload byte is REPL_HELLO) routes it to the standby side.
 *
 *   coordinator -> standby             standby -> coordinator
 *   HELLO  epoch, coordinator, seq     STATE  status, epoch, seq
 *   SNAP   epoch, seq, total, offset,  STATE  after each SNAP chunk that
 *          chunk of a snapshot                completes a snapshot, and
 *   RECS   epoch, n x (len, record)           after each RECS: an ack
 *
 * STATE's seq is the last record the standby holds of that epoch's chain
 * (0: nothing usable: send a snapshot); its status is 0, IDN_ESTALE_EPOCH
 * (it knows a higher epoch, given in epoch: the sender is deposed) or
 * -ERANGE (a gap: the records do not follow what it holds).
 */
#ifndef IDUNNO_REPL_WIRE_H
#define IDUNNO_REPL_WIRE_H

#include "wire/wire_addr.h"

#include <stddef.h>
#include <stdint.h>

enum repl_type { REPL_HELLO = 112, REPL_STATE, REPL_SNAP, REPL_RECS, REPL_END };

#define REPL_CHUNK_MAX (512u << 10) /* snapshot bytes in one SNAP */
#define REPL_SNAP_MAX  (256u << 20) /* the largest snapshot taken */
#define REPL_RECS_MAX  (512u << 10) /* record bytes in one RECS */
#define REPL_RECS_N    4096	    /* records in one RECS */
#define REPL_FRAME_MAX (64 + REPL_CHUNK_MAX + 4 * REPL_RECS_N)

struct repl_hello {
	uint64_t epoch;
	struct wire_addr coordinator;
	uint64_t seq; /* the coordinator's last record */
};

struct repl_state {
	int32_t status;
	uint64_t epoch, seq;
};

struct repl_snap {
	uint64_t epoch, seq;
	uint32_t total, offset, len; /* offset + len <= total <= REPL_SNAP_MAX */
	const uint8_t *chunk;	     /* into the decoded payload */
};

/* A RECS's records point into the decoded payload. */
struct repl_recs {
	uint64_t epoch;
	uint16_t n;
	const uint8_t *rec[REPL_RECS_N];
	uint32_t len[REPL_RECS_N];
};

/* Encoders return the length or -EMSGSIZE; decoders 0 or -EINVAL
 * (truncated, trailing, another type, a field out of range: epoch 0, an
 * empty record or RECS, a chunk past its total). */
int repl_hello_encode(const struct repl_hello *m, uint8_t *buf, size_t cap);
int repl_hello_decode(const uint8_t *p, size_t len, struct repl_hello *m);
int repl_state_encode(const struct repl_state *m, uint8_t *buf, size_t cap);
int repl_state_decode(const uint8_t *p, size_t len, struct repl_state *m);
int repl_snap_encode(const struct repl_snap *m, uint8_t *buf, size_t cap);
int repl_snap_decode(const uint8_t *p, size_t len, struct repl_snap *m);
/* RECS is built in place: start, then add records while they fit (add
 * returns 0 or -EMSGSIZE, leaving the buffer as it was), then finish. */
struct repl_recs_buf {
	uint8_t *p;
	size_t len, cap;
	uint16_t n;
};
void repl_recs_start(struct repl_recs_buf *b, uint8_t *buf, size_t cap, uint64_t epoch);
int repl_recs_add(struct repl_recs_buf *b, const uint8_t *rec, size_t len);
/* The payload's length (>= 1 record), or -EINVAL when empty. */
int repl_recs_finish(struct repl_recs_buf *b);
int repl_recs_decode(const uint8_t *p, size_t len, struct repl_recs *m);

#endif
