/*
 * task_wire.h - the task protocol between the coordinator and a worker:
 * the payloads of the frames on one long-lived, authenticated task stream
 * (core/conn.h) per worker.  Pure, length-checked codecs; no I/O.
 *
 *   coordinator -> worker   HELLO     epoch, coordinator           (opens the stream)
 *   worker -> coordinator   WELCOME   status, highest epoch seen, slots
 *   coordinator -> worker   DISPATCH  epoch, batch, job, model, dataset, queries
 *   worker -> coordinator   RESULT    epoch, batch, job, per query: status, times, top-5
 *   worker -> coordinator   REFUSE    epoch, batch, error, reason
 *
 * Every message starts with its type byte (the first payload byte, which
 * also routes a stream's first frame to the tasks layer).  Strings are a
 * u8 length and that many bytes, printable, no NUL.
 */
#ifndef IDUNNO_TASK_WIRE_H
#define IDUNNO_TASK_WIRE_H

#include "wire/wire.h"

#include <stddef.h>
#include <stdint.h>

enum task_msg {
	TASK_HELLO = 64,
	TASK_WELCOME,
	TASK_DISPATCH,
	TASK_RESULT,
	TASK_REFUSE,
	TASK_MSG_END
};

#define TASK_NAME_MAX  100 /* a model, dataset or job name */
#define TASK_BATCH_MAX 256 /* queries in one DISPATCH */
#define TASK_TOP       5

/* Where a latency figure came from. */
enum task_lat_src { TASK_LAT_RING, TASK_LAT_BPF, TASK_LAT_SRC_MAX };
extern const char *const task_lat_src_names[TASK_LAT_SRC_MAX];

struct task_hello {
	uint64_t epoch;
	struct wire_addr coordinator;
	struct wire_addr standby; /* the standby it feeds (ip 0: none); a HELLO again
				   * on the stream announces a new one */
};

struct task_welcome {
	int32_t status;	   /* 0, or a negative error: the HELLO's epoch is stale */
	uint64_t epoch;	   /* the highest epoch this worker has seen */
	uint16_t slots;	   /* batches it takes at once */
	uint8_t engine_ok; /* its engine is running */
	uint8_t lat_src;   /* enum task_lat_src */
};

struct task_query {
	uint64_t id;	/* the query id (unique within its job) */
	uint32_t shard; /* the dataset shard holding its image */
	uint32_t image; /* the image's index in the dataset */
};

/* DISPATCH flags */
#define TASK_DISPATCH_EXPRESS 1u /* run it before the worker's other waiting batches */
#define TASK_DISPATCH_FLAGS   TASK_DISPATCH_EXPRESS /* every flag known */

struct task_dispatch {
	uint64_t epoch, batch;
	uint32_t job;
	char model[TASK_NAME_MAX + 1];
	uint64_t model_version;
	char dataset[TASK_NAME_MAX + 1];
	uint64_t index_version; /* the dataset index's SDFS version */
	uint16_t n;
	struct task_query q[TASK_BATCH_MAX];
	uint8_t flags; /* TASK_DISPATCH_*: a byte after the queries, sent only when not 0
			* (a DISPATCH without it, as before the flags, has none) */
};

struct task_answer {
	uint64_t id;
	int32_t status;		/* 0, or a negative error for this query alone */
	uint64_t service_ns;	/* the engine's time on its batch, shared by its queries */
	uint64_t wait_ns;	/* time queued on the ring */
	uint16_t cls[TASK_TOP]; /* class indexes, best first */
	float prob[TASK_TOP];
};

struct task_result {
	uint64_t epoch, batch;
	uint32_t job;
	uint8_t lat_src; /* enum task_lat_src */
	uint16_t n;
	struct task_answer a[TASK_BATCH_MAX];
};

struct task_refuse {
	uint64_t epoch, batch; /* epoch: the highest the worker has seen */
	int32_t error;
	char reason[200];
};

/* Each encoder returns the payload's length, or -EMSGSIZE when it does
 * not fit in cap (or a field is out of range: -EINVAL).  Each decoder
 * returns 0, or -EINVAL for anything truncated, oversized, of another type,
 * with trailing bytes or an invalid field. */
int task_hello_encode(const struct task_hello *m, uint8_t *buf, size_t cap);
int task_hello_decode(const uint8_t *p, size_t len, struct task_hello *m);
int task_welcome_encode(const struct task_welcome *m, uint8_t *buf, size_t cap);
int task_welcome_decode(const uint8_t *p, size_t len, struct task_welcome *m);
int task_dispatch_encode(const struct task_dispatch *m, uint8_t *buf, size_t cap);
int task_dispatch_decode(const uint8_t *p, size_t len, struct task_dispatch *m);
int task_result_encode(const struct task_result *m, uint8_t *buf, size_t cap);
int task_result_decode(const uint8_t *p, size_t len, struct task_result *m);
int task_refuse_encode(const struct task_refuse *m, uint8_t *buf, size_t cap);
int task_refuse_decode(const uint8_t *p, size_t len, struct task_refuse *m);

/* The largest payload of each kind (a full batch). */
#define TASK_DISPATCH_MAX (65 + 2 * (TASK_NAME_MAX + 1) + TASK_BATCH_MAX * 16)
#define TASK_RESULT_MAX	  (64 + TASK_BATCH_MAX * (8 + 4 + 8 + 8 + TASK_TOP * 6))

#endif
