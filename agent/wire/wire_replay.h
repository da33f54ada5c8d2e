/*
 * wire_replay.h - freshness and replay windows for received frames.
 *
 * A frame more than WIRE_FRESH_MS from the receiver's clock is stale;
 * within that, each sender's (epoch, seq) may be seen once (a 128-wide
 * sliding window per sender), and frames from an epoch older than the
 * newest seen from that sender (before it restarted) are refused.
 *
 * Frames sent before the receiver started (sent_ms < its boot time, in
 * the sender's clock against the receiver's) are refused (WIRE_R_BOOT): a
 * restarted agent has an empty table, so it cannot tell a replay of its
 * predecessor's traffic from a first frame, and vouches for nothing older
 * than itself.
 *
 * Senders are held in a hash table that grows with their number up to a
 * hard cap.  A sender is forgotten only once every frame accepted from it
 * has gone stale (so a replay can never be mistaken for a first frame);
 * when the table is at its cap with no sender it may forget, a new sender
 * is refused (WIRE_R_FULL): it fails closed, never by evicting one.
 * Pure: the caller passes the time.
 */
#ifndef IDUNNO_WIRE_REPLAY_H
#define IDUNNO_WIRE_REPLAY_H

#include "wire/wire_frame.h"

#include <stddef.h>
#include <stdint.h>

#define WIRE_FRESH_MS	      30000
#define WIRE_REPLAY_WINDOW    128	/* seqs per sender remembered below the highest */
#define WIRE_REPLAY_MAX_LIMIT (1 << 24) /* the largest max_senders accepted */

struct wire_replay;

/*
 * A table for at most max_senders senders at once (clamped to
 * 1..WIRE_REPLAY_MAX_LIMIT).  It starts at 3 KiB and grows with the
 * senders, to at most 128 bytes per sender of max_senders (and twice that
 * for a moment while it grows).  boot_ms: the receiver's start (wall
 * clock, ms); frames sent before it are refused.  The caller owns it (wire_replay_free).
 */
struct wire_replay *wire_replay_new(int max_senders, uint64_t boot_ms);
void wire_replay_free(struct wire_replay *r);

/*
 * WIRE_OK the first time (epoch, seq) is seen from a sender, when the frame
 * is fresh at now_ms; else WIRE_R_BOOT, WIRE_R_STALE, WIRE_R_REPLAY, or WIRE_R_FULL
 * (a new sender while the table is full of senders that may still replay).
 */
enum wire_reject wire_replay_check(struct wire_replay *r, const struct wire_hdr *h,
				   uint64_t now_ms);

/* Only the time checks of wire_replay_check (WIRE_R_BOOT, WIRE_R_STALE),
 * changing nothing: they may be made before the frame's tag is checked. */
enum wire_reject wire_replay_fresh(const struct wire_replay *r, const struct wire_hdr *h,
				   uint64_t now_ms);

/* Senders held, and the bytes their table takes (for stats and tests). */
int wire_replay_senders(const struct wire_replay *r);
size_t wire_replay_bytes(const struct wire_replay *r);

#endif
