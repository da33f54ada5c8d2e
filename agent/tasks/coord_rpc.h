/*
 * coord_rpc.h - the job commands between the CLI and an agent (job
 * launch, ls, stop, batch, qinfo, assign, results, submit, qjob): one request frame,
 * one response frame, routed to the tasks layer by the first payload
 * byte (COORD_RPC_LAUNCH..COORD_RPC_END - 1).  Pure codecs, no I/O.
 *
 *   request:  u8 cmd, u8 flags, u16 batch, u32 weight in thousandths,
 *             u64 from (results: the first result sequence number;
 *             submit: the client's id),
 *             job, model, dataset (u8 length + printable bytes each)
 *   response: u8 status (0 ok, else an errno value, or COORD_RPC_REDIRECT:
 *             the body is the coordinator's HOST:PORT, ask there), text
 *
 * COORD_RPC_SUBMIT opens a submitter's connection, which stays open for
 * the messages of submit_wire.h after its answer.
 *
 * Text answers are formatted by the coordinator (as text, or JSON with
 * COORD_RPC_JSON), except RESULTS, whose body is raw lines the CLI
 * formats (class names are the CLI's to add):
 *   "more NEXT persisted P" or "end persisted P"  (NEXT: the `from` of
 *   the next request; results up to rseq P are in SDFS, result_part.h, and
 *   no longer in memory)
 *   then per result: "RSEQ QID WORKER STATUS SERVICE_NS DONE_MS C0 P0 .. C4 P4 IMAGE-NAME"
 */
#ifndef IDUNNO_COORD_RPC_H
#define IDUNNO_COORD_RPC_H

#include "tasks/coord_log.h"
#include "tasks/dataset.h"

#include <stddef.h>
#include <stdint.h>

enum coord_rpc_cmd {
	COORD_RPC_LAUNCH = 80,
	COORD_RPC_JOBS,
	COORD_RPC_STOP,
	COORD_RPC_BATCH,
	COORD_RPC_QINFO,
	COORD_RPC_ASSIGN,
	COORD_RPC_RESULTS,
	COORD_RPC_SUBMIT, /* opens a submitter's connection (submit_wire.h) */
	COORD_RPC_QJOB,	  /* C2: a job's service time per query (its histogram) */
	COORD_RPC_END
};

#define COORD_RPC_JSON	   1   /* flags: answer in JSON */
#define COORD_RPC_LOOP	   2   /* flags (launch): run the dataset forever */
#define COORD_RPC_CLIENT   4   /* flags (launch): no dataset pass, only submitted queries */
#define COORD_RPC_REDIRECT 254 /* status: the body is the coordinator's address */
#define COORD_RPC_REQ_MAX  (16 + 3 * 40)

struct coord_rpc_req {
	uint8_t cmd, flags;
	uint16_t batch;	       /* launch (0: the default), batch */
	uint32_t weight_milli; /* launch (0: the default, 1.0) */
	uint64_t from;	       /* results; submit: the client id */
	char job[COORD_JOB_ID_MAX + 1];
	char model[DATASET_NAME_MAX + 1];
	char dataset[DATASET_NAME_MAX + 1];
};

/* The length written, or -EMSGSIZE.  decode: 0 or -EINVAL (truncated,
 * trailing, an unknown command, a string too long or not printable). */
int coord_rpc_req_encode(const struct coord_rpc_req *r, uint8_t *buf, size_t cap);
int coord_rpc_req_decode(const uint8_t *p, size_t len, struct coord_rpc_req *r);

#endif
