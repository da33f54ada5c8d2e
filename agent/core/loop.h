/*
 * loop.h - the agent's one io_uring event loop and the interface every
 * module plugs into.
 *
 * A module (membership, ctl, SDFS, tasks, the framed-connection layer)
 * registers one ops table and gets an owner number.  Every operation it
 * submits carries LOOP_UD(owner, op, idx) as its user_data: the owner in
 * the top byte, the module's own operation code in the next, and an index
 * of the module's choosing in the low 48 bits.  The loop reaps completions
 * in batches, hands each to its owner's complete(), advances the ring
 * once, then runs every module's tick() and sleeps until the earliest
 * deadline they return or the next completion.
 *
 * Shutdown: loop_stop() makes the loop call every module's cancel(), then
 * keep reaping until every module's pending() is 0; only then does
 * loop_run() return and may modules free their buffers.
 *
 * No module touches the io_uring except through loop_sqe(),
 * loop_submit() and loop_cancel(); no module invents its own user_data
 * layout.
 */
#ifndef IDUNNO_LOOP_H
#define IDUNNO_LOOP_H

#include <stddef.h>
#include <stdint.h>

struct io_uring;
struct io_uring_sqe;
struct swim_member;

#define LOOP_MAX_MODULES 16
#define LOOP_NEVER	 UINT64_MAX /* a tick with no deadline of its own */

#define LOOP_UD(owner, op, idx)                                                                    \
	(((uint64_t)(owner) << 56) | ((uint64_t)(uint8_t)(op) << 48) |                             \
	 ((uint64_t)(idx)&0xffffffffffffull))
#define LOOP_UD_OWNER(ud) ((unsigned)((ud) >> 56))
#define LOOP_UD_OP(ud)	  ((unsigned)(((ud) >> 48) & 0xff))
#define LOOP_UD_IDX(ud)	  ((ud)&0xffffffffffffull)

/* Owner 0 is the loop's own (timeouts it arms, cancellations). */
#define LOOP_OWNER_SELF 0

struct loop_ops {
	const char *name;
	/* A completion of one of this module's operations (cqe flags too, for
	 * multishot and provided buffers). */
	void (*complete)(void *m, unsigned op, uint64_t idx, int res, uint32_t flags);
	/* Runs due timers; returns the next deadline (ms, CLOCK_MONOTONIC) or
	 * LOOP_NEVER. */
	uint64_t (*tick)(void *m, uint64_t now_ms);
	/* A member was added or changed status (old is SWIM_STATUS_MAX for a
	 * new member). */
	void (*member)(void *m, const struct swim_member *mem, int old);
	/* Appends "name value" lines; returns the length written. */
	size_t (*stats)(void *m, char *buf, size_t cap);
	/* Shutdown: cancel or close everything in flight. */
	void (*cancel)(void *m);
	/* Operations still in flight (shutdown waits for 0). */
	int (*pending)(void *m);
};

struct loop;

/* Sets up an io_uring of `entries`. 0 or -errno. */
int loop_new(unsigned entries, struct loop **out);
void loop_free(struct loop *l);

/* Registers a module (any op may be NULL). Returns its owner number (> 0),
 * or -ENOSPC. */
int loop_register(struct loop *l, const struct loop_ops *ops, void *m);

/* A submission queue entry; submits what is queued first when the queue is
 * full, so it never fails. */
struct io_uring_sqe *loop_sqe(struct loop *l);
/* Makes room for n linked entries in one submission (a receive and its
 * linked timeout must not be split). */
void loop_reserve(struct loop *l, unsigned n);
/* Submits what is queued now (timespecs are read at submission). */
void loop_submit(struct loop *l);
/* Cancels the operation whose user_data is ud (a module's multishot, say):
 * it completes to its owner with -ECANCELED; the cancellation's own
 * completion is the loop's. */
void loop_cancel(struct loop *l, uint64_t ud);
struct io_uring *loop_ring(struct loop *l);

/* Tells every module that a member changed (membership calls this). */
void loop_member_changed(struct loop *l, const struct swim_member *mem, int old);
/* Every module's stats, appended. Returns the length written. */
size_t loop_stats(struct loop *l, char *buf, size_t cap);

/* Runs until loop_stop() and every module has nothing pending. 0 or -errno
 * (a failed io_uring wait). */
int loop_run(struct loop *l);
/* Asks the loop to shut down (cancel, drain, return). */
void loop_stop(struct loop *l);
int loop_stopping(const struct loop *l);

/* CLOCK_MONOTONIC in ms: the one clock the agent's modules are given. */
uint64_t loop_now_ms(void);

#endif
