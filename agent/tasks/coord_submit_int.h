/*
 * coord_submit_int.h - what the submission files share (coord_submit.c:
 * the submitters' connections, their send queues and durability;
 * coord_submit_query.c: SUBMITs, ACKs and the results streamed back).
 */
#ifndef IDUNNO_COORD_SUBMIT_INT_H
#define IDUNNO_COORD_SUBMIT_INT_H

#include "tasks/coord_int.h"
#include "tasks/submit_wire.h"

#include <stddef.h>
#include <stdint.h>

#define SUB_CONNS_MAX 256		/* submitters' connections at once */
#define SUB_OUT_MAX   (8u << 20)	/* bytes queued to one: beyond, a slow reader */
#define SUB_PAUSE     (SUB_OUT_MAX / 2) /* its SUBMITs are not read above this */
#define SUB_OUT_TOTAL (128u << 20)	/* bytes queued to all of them */
#define SUB_INFLIGHT  32		/* frames handed to the connection at once */
#define SEND_MS	      10000
#define FRAME_MAX     (WIRE_HDR_LEN + SUB_SUBMIT_MAX + WIRE_TAG_LEN)
#define PAGE	      1024 /* results read at a time to answer again */

struct outf {
	struct outf *next;
	uint64_t seq; /* may leave once the records up to seq are durable */
	size_t len;
	uint8_t p[];
};

struct sconn {
	uint8_t used, reading, closing;
	struct coord_sub *sub;
	struct conn *conn;
	uint32_t job; /* its number */
	char id[COORD_JOB_ID_MAX + 1];
	uint64_t client;
	struct outf *head, *tail;
	size_t held, sent; /* bytes queued here, handed to the connection */
	int inflight;
};

struct names {
	const struct dataset_image *images; /* the index they were sorted from */
	uint32_t n, *order;		    /* image numbers sorted by name */
};

struct coord_sub {
	struct coord *c;
	struct sconn s[SUB_CONNS_MAX];
	uint64_t durable;
	size_t total;			    /* bytes queued or in flight to every connection */
	struct names names[COORD_JOBS_MAX]; /* by job number - 1, built at a first name */
	uint64_t n_opened, n_queries, n_busy, n_results, n_slow;
	/* scratch */
	struct sub_submit in;
	struct sub_ack ack;
	struct sub_results res;
	struct coord_rec rec;
	struct coord_effect eff;
	struct coord_result page[PAGE];
	uint8_t buf[SUB_RESULT_MAX > SUB_ACK_MAX ? SUB_RESULT_MAX : SUB_ACK_MAX];
};

/* coord_submit.c */
/* Queues a frame for s, to leave once the records up to seq are durable
 * (a slow reader, or one past the total, is closed instead). */
void sub_push(struct sconn *s, uint64_t seq, const uint8_t *p, size_t len);
/* The state's seq (what an ACK or a result made now depends on). */
uint64_t sub_state_seq(struct coord *c);

/* coord_submit_query.c */
/* Answers the SUBMIT in s->sub->in. */
void sub_on_submit(struct sconn *s);

#endif
