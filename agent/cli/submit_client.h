/*
 * submit_client.h - a submitter's connection on the client side (the
 * protocol: tasks/submit_wire.h): opened blocking (following the
 * coordinator's address), then non-blocking: SUBMITs are sealed into a
 * send buffer flushed when the socket takes them, ACKs and RESULTs are
 * read as they come and parsed one frame at a time.  Used by `agent
 * submit` and bench/qgen.
 */
#ifndef IDUNNO_SUBMIT_CLIENT_H
#define IDUNNO_SUBMIT_CLIENT_H

#include "cli/client.h"
#include "tasks/coord_log.h"
#include "tasks/submit_wire.h"

#include <stddef.h>
#include <stdint.h>

struct subc {
	struct client *cl;
	int fd;
	struct wire_addr to; /* the coordinator */
	uint64_t client;
	char job[COORD_JOB_ID_MAX + 1];
	char model[DATASET_NAME_MAX + 1], dataset[DATASET_NAME_MAX + 1];
	uint32_t images; /* in the job's dataset */
	uint8_t *rx, *tx;
	size_t rlen, rcap, toff, tlen, tcap;
};

/*
 * Opens a submitter's connection for job as client through the agent at
 * via (asked at the coordinator it names).  0, or -errno with the reason
 * in err: -ENOENT no such job, -ESHUTDOWN a stopped job (both final),
 * anything else (unreachable, no coordinator yet, busy) worth a retry.
 */
int subc_open(struct subc *s, struct client *cl, struct wire_addr via, const char *job,
	      uint64_t client, char *err, size_t errlen);
void subc_close(struct subc *s);

/* Seals m into the send buffer. 0 or -EINVAL / -EMSGSIZE. */
int subc_submit(struct subc *s, const struct sub_submit *m);
/* Sends what the socket takes now. 0 or -errno. */
int subc_flush(struct subc *s);
/* Bytes waiting to be sent. */
size_t subc_unsent(const struct subc *s);
/* Reads what has arrived. 0, or -errno (-ECONNRESET at end of stream). */
int subc_read(struct subc *s);
/* The next whole message received: SUB_ACK (into *ack) or SUB_RESULT
 * (into *res), 0 when none is complete yet, or -EPROTO. */
int subc_next(struct subc *s, struct sub_ack *ack, struct sub_results *res);

/* A random client id (never 0). */
uint64_t subc_random_id(void);

#endif
