/*
 * coord_log_int.h - what the coordinator state's files share inside
 * tasks/ (not for users; coord_log.h is the interface).
 *
 *   coord_rec.c       the record codec, the field checks decode and apply
 *                     share, job ids
 *   coord_state.c     new and free, a job's parts (clients, pending
 *                     queries, the result log), coord_state_apply
 *   coord_snapshot.c  the canonical snapshot: encode and decode
 *   coord_query.c     the reads: info, jobs, answered, pending, results
 *   coord_map.c       the containers: a u64 map and a set of ids
 *
 * Only coord_state_apply() changes a state (snapshot decode builds a new
 * one); everything here is pure, like coord_log.h.
 */
#ifndef IDUNNO_COORD_LOG_INT_H
#define IDUNNO_COORD_LOG_INT_H

#include "tasks/coord_log.h"
#include "wire/wire_codec.h"

#include <stddef.h>
#include <stdint.h>

#define COORD_MAP_EMPTY UINT64_MAX /* a free slot of a u64 map (never a key) */

/* ---- a u64 -> u64 map: open addressing, linear probing (coord_map.c) ---- */

struct coord_map {
	uint64_t *key, *val;
	uint32_t cap, n; /* cap: 0 or a power of two */
};

void coord_map_free(struct coord_map *m);
/* Whether k is in m (1 or 0); its value in *v (v may be NULL). */
int coord_map_find(const struct coord_map *m, uint64_t k, uint64_t *v);
/* Inserts or replaces (k is not COORD_MAP_EMPTY). */
void coord_map_put(struct coord_map *m, uint64_t k, uint64_t v);
/* Removes k (backward-shift deletion, so no tombstones). */
void coord_map_del(struct coord_map *m, uint64_t k);
/* The keys in ascending order (a malloc'd array of m->n, or NULL). */
uint64_t *coord_map_sorted_keys(const struct coord_map *m);

/*
 * ---- a set of ids: the range [lo, below) plus the ids outside it ----
 * The range grows at both ends over the ids next to it, so ids that
 * arrive nearly in order cost nothing beyond the ones out of order.
 */

struct coord_idset {
	uint64_t lo, below;   /* lo == below: the range is empty */
	struct coord_map out; /* ids outside [lo, below) */
};

int coord_idset_has(const struct coord_idset *s, uint64_t x);
/* Adds x; 0 when it was there already, else 1. */
int coord_idset_add(struct coord_idset *s, uint64_t x);
uint64_t coord_idset_count(const struct coord_idset *s);

/* ---- the state (coord_state.c) ---- */

struct coord_client {
	uint64_t id;
	struct coord_idset accepted, answered; /* the client's query ids */
};

struct coord_job {
	struct coord_job_settings set;
	uint32_t num;
	uint8_t stopped;
	uint64_t next_client; /* client queries accepted so far */
	struct coord_pending *pend;
	uint32_t npend, cap_pend;
	struct coord_map pend_ix;     /* qid -> index in pend */
	struct coord_client *clients; /* sorted by id */
	uint32_t nclients, cap_clients;
	struct coord_idset done_ds, done_cl; /* answered: dataset ids, client ids (low 63 bits) */
	struct coord_result *log;	     /* log[head .. n) are held, in rseq order */
	size_t head, n, cap_log;
	uint64_t rseq, persisted;
	uint64_t accepted, answered, failed, duplicates, service_ns_sum;
	struct coord_latency lat; /* the status 0 answers' service times */
};

struct coord_state {
	uint64_t seq, epoch;
	struct wire_addr coordinator;
	uint64_t launched;
	struct coord_job *jobs;
	uint32_t njobs;
};

/* The job of that id, or NULL. */
struct coord_job *coord_job_find(const struct coord_state *s, const char *id);
/* The client's slot in j, or where it goes (*found 0). */
uint32_t coord_client_pos(const struct coord_job *j, uint64_t id, int *found);
/* A new client id at slot pos (from coord_client_pos); slots move. */
struct coord_client *coord_client_insert(struct coord_job *j, uint32_t pos, uint64_t id);
/* Adds a pending client query (its qid not pending yet). */
void coord_pend_add(struct coord_job *j, const struct coord_pending *p);
/* qsort's order of struct coord_pending: by qid. */
int coord_pending_cmp(const void *a, const void *b);
/* Appends a result to j's log (its rseq the next one). */
void coord_job_log_append(struct coord_job *j, const struct coord_result *r);

/* ---- field checks and codec pieces (coord_rec.c) ---- */

/* Whether a job's settings, an answer, a record's fields are in range
 * (what decode checks, what apply and snapshot decode recheck): 1 or 0. */
int coord_settings_ok(const struct coord_job_settings *j);
int coord_answer_ok(const struct coord_answer *a);
int coord_rec_ok(const struct coord_rec *r);

/* The encodings of settings and of an answer, shared by records and
 * snapshots; a get sets r->err on a short read or a bad string. */
void coord_put_settings(struct wire_buf *b, const struct coord_job_settings *j);
void coord_get_settings(struct wire_rd *r, struct coord_job_settings *j);
void coord_put_answer(struct wire_buf *b, const struct coord_answer *a);
void coord_get_answer(struct wire_rd *r, struct coord_answer *a);

#endif
