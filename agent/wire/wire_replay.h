/*
 * wire_replay.h - freshness and replay windows for received frames.
 *
 * A frame more than WIRE_FRESH_MS from the receiver's clock is stale;
 * within that, each sender's (epoch, seq) may be seen once (a 128-wide
 * sliding window per sender), and frames from an epoch older than the
 * newest seen from that sender (before it restarted) are refused.  Pure:
 * the caller passes the time.
 */
#ifndef IDUNNO_WIRE_REPLAY_H
#define IDUNNO_WIRE_REPLAY_H

#include "wire/wire_frame.h"

#include <stdint.h>

#define WIRE_FRESH_MS 30000

/* Per-sender replay state, a small table the receiver owns. */
struct wire_replay;
struct wire_replay *wire_replay_new(int capacity);
void wire_replay_free(struct wire_replay *r);
/* WIRE_OK the first time (epoch, seq) is seen from a fresh sender. */
enum wire_reject wire_replay_check(struct wire_replay *r, const struct wire_hdr *h,
				   uint64_t now_ms);

#endif
