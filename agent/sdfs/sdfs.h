/*
 * sdfs.h - the agent's side of SDFS: serving puts, chain writes, reads and
 * listings, and keeping every file at its replica count (repair after
 * failures, rebalancing after joins).  Everything runs in the agent's
 * io_uring loop: sockets and file data alike are io_uring operations whose
 * completions the agent hands back here.
 *
 * A put: the client sends a WRITE with version 0 to the first of the
 * file's ranked live members (place.h).  That node (the head) assigns the
 * version, opens a temporary file, and connects to the next candidate,
 * which does the same, until the chain holds the wanted number of
 * replicas; a candidate that refuses (no space, say) or cannot be reached
 * is skipped.  Once the whole chain is ready the head says so, with the
 * replicas and the version, and the client streams chunk frames.  Each
 * replica checks a frame, writes it at its offset and forwards it
 * unchanged.  After the last chunk each replica writes its checksum table,
 * fsyncs, waits for its successor's final answer, then renames the file
 * into place (never over an existing version), fsyncs the folder and
 * answers its predecessor.  The client's put is acknowledged only when the
 * head answers, so every replica then holds the version durably.
 */
#ifndef IDUNNO_SDFS_H
#define IDUNNO_SDFS_H

#include "wire/wire.h"

#include <stddef.h>
#include <stdint.h>

struct io_uring;

struct sdfs_env {
	struct io_uring *ring;
	const struct wire_key *key;
	struct wire_addr self;
	int replicas; /* the replication factor */
	uint8_t op;   /* the top byte of user_data for SDFS completions */
	/* Seals body as a frame of type from this agent; length or < 0. */
	int (*seal)(void *arg, uint8_t type, const void *body, size_t len, uint8_t *out,
		    size_t cap);
	/* The live members, this one first; returns how many (at most max). */
	int (*live)(void *arg, struct wire_addr *out, int max);
	void *arg;
};

struct sdfs;

/* Opens the store in dir. 0 or -errno with err filled. */
int sdfs_new(const struct sdfs_env *env, const char *dir, struct sdfs **out, char *err,
	     size_t errlen);
/* Closes every stream (in-flight writes are abandoned) and the store. */
void sdfs_free(struct sdfs *s);

/* An SDFS request (payload of an authenticated frame) arrived on fd, which
 * SDFS now owns. */
void sdfs_serve(struct sdfs *s, int fd, const uint8_t *payload, size_t len);
/* A completion whose user_data had env->op on top; idx is its low 32 bits. */
void sdfs_complete(struct sdfs *s, uint32_t idx, int res);
/* The membership changed: schedule a repair round. */
void sdfs_members_changed(struct sdfs *s, uint64_t now_ms);
/* Runs due timers; returns the next deadline (ms). */
uint64_t sdfs_tick(struct sdfs *s, uint64_t now_ms);
/* Appends counters as "name value" lines. Returns the length written. */
size_t sdfs_stats(const struct sdfs *s, char *buf, size_t cap);

#endif
