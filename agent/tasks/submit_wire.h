/*
 * submit_wire.h - client query submission (docs/tasks.md, "Client query
 * submission"): the messages of a submitter's connection after its OPEN.
 * Pure codecs, no I/O.
 *
 * A client opens one authenticated connection to any agent with a job
 * command (coord_rpc.h) COORD_RPC_SUBMIT naming the job, its client id in
 * `from`; the answer is a job command's (u8 status, text): 0 and
 * "JOB IMAGES MODEL DATASET\n", COORD_RPC_REDIRECT and the coordinator's
 * address (ask there), or an error and the reason.  After a 0 the
 * connection stays open:
 *
 *   client -> coordinator (WIRE_RPC_REQ frames)
 *     SUBMIT  u8 1, u32 tag, u16 n (1..SUB_Q_MAX), n x query:
 *             u64 cqid (not UINT64_MAX), u8 kind, then
 *             kind 0: u32 image index | kind 1: u8 length + image name
 *   coordinator -> client (WIRE_RPC_RESP frames)
 *     ACK     u8 2, u32 tag (the SUBMIT's), u16 n, n x (u64 cqid, u8 status)
 *             in the SUBMIT's order; one ACK per SUBMIT, in order
 *     RESULT  u8 3, u16 n (1..SUB_Q_MAX), n x result: u64 cqid, u64 qid
 *             (the job's query id), u32 image index, i32 status (0 or
 *             -errno), worker (u32 ip, u16 port), u64 service ns,
 *             5 x (u16 class, f32 probability)
 *
 * Integers are little-endian.  Decoders refuse (-EINVAL) anything
 * truncated, trailing, of another type, with n or a kind, status, name,
 * class or probability out of range.
 */
#ifndef IDUNNO_SUBMIT_WIRE_H
#define IDUNNO_SUBMIT_WIRE_H

#include "tasks/coord_log.h"
#include "wire/wire_addr.h"

#include <stddef.h>
#include <stdint.h>

#define SUB_Q_MAX      COORD_REC_Q_MAX /* queries in one SUBMIT, results in one RESULT */
#define SUB_SUBMIT_MAX (7 + SUB_Q_MAX * (10 + DATASET_IMAGE_NAME_MAX))
#define SUB_ACK_MAX    (7 + SUB_Q_MAX * 9)
#define SUB_RESULT_MAX (3 + SUB_Q_MAX * 68)

enum sub_msg_type { SUB_SUBMIT = 1, SUB_ACK, SUB_RESULT };

/* What the coordinator did with one submitted query (ACK). */
enum sub_status {
	SUB_ACCEPTED,	     /* new: queued; its RESULT follows when it is answered */
	SUB_PENDING,	     /* accepted before, not answered yet: its RESULT follows */
	SUB_ANSWERED,	     /* answered before: its RESULT follows this ACK again */
	SUB_ANSWERED_STORED, /* answered before, its result no longer in the coordinator's
				memory (persisted to SDFS: `agent results JOB`): none follows */
	SUB_BUSY,	     /* the job's queue or pending limit is full: not accepted, retry */
	SUB_BAD_IMAGE,	     /* no such image in the job's dataset: not accepted */
	SUB_NO_JOB,	     /* the job is unknown (gone with a failover): not accepted */
	SUB_STOPPED,	     /* the job is stopped: not accepted */
	SUB_STATUS_MAX
};
extern const char *const sub_status_names[SUB_STATUS_MAX];

struct sub_query {
	uint64_t cqid;
	uint8_t by_name; /* 1: name, 0: image */
	uint32_t image;	 /* an index into the job's dataset */
	char name[DATASET_IMAGE_NAME_MAX + 1];
};

struct sub_submit {
	uint32_t tag;
	uint16_t n;
	struct sub_query q[SUB_Q_MAX];
};

struct sub_ack {
	uint32_t tag;
	uint16_t n;
	uint64_t cqid[SUB_Q_MAX];
	uint8_t status[SUB_Q_MAX]; /* enum sub_status */
};

struct sub_result {
	uint64_t cqid;
	uint32_t image;
	struct coord_answer a; /* qid, worker, status, service_ns, top-5 */
};

struct sub_results {
	uint16_t n;
	struct sub_result r[SUB_Q_MAX];
};

/* Each returns the length written, or -EINVAL (a field out of range) or
 * -EMSGSIZE (cap too small); decoders 0 or -EINVAL. */
int sub_submit_encode(const struct sub_submit *m, uint8_t *buf, size_t cap);
int sub_submit_decode(const uint8_t *p, size_t len, struct sub_submit *m);
int sub_ack_encode(const struct sub_ack *m, uint8_t *buf, size_t cap);
int sub_ack_decode(const uint8_t *p, size_t len, struct sub_ack *m);
int sub_results_encode(const struct sub_results *m, uint8_t *buf, size_t cap);
int sub_results_decode(const uint8_t *p, size_t len, struct sub_results *m);

#endif
