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

struct loop;
struct conns;

struct sdfs_env {
	const struct wire_key *key; /* chunk tags */
	struct wire_addr self;
	int replicas; /* the replication factor */
	/* The live members, this one first; returns how many (at most max). */
	int (*live)(void *arg, struct wire_addr *out, int max);
	void *arg;
};

struct sdfs;

/*
 * Opens the store in dir, registers SDFS with the loop (its file
 * operations, timers, membership changes, counters, shutdown) and takes
 * every connection whose first request is an SDFS command.  0 or -errno
 * with err filled.
 */
int sdfs_new(const struct sdfs_env *env, struct loop *l, struct conns *t, const char *dir,
	     struct sdfs **out, char *err, size_t errlen);
/* Frees everything; the loop must be gone (or have nothing of SDFS in flight). */
void sdfs_free(struct sdfs *s);

#endif
