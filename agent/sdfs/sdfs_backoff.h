/*
 * sdfs_backoff.h - repair's back-off from members whose disk is full
 * (issue 16, defect 5): a push answered "no space" (ENOSPC, EDQUOT) makes
 * repair leave that member alone for SDFS_BACKOFF_MIN_MS, twice as long
 * after each further refusal up to SDFS_BACKOFF_MAX_MS, and a push it
 * takes ends the back-off.  Without it every round pushed the same
 * replicas to the full member again.  Pure: the caller passes the time.
 */
#ifndef IDUNNO_SDFS_BACKOFF_H
#define IDUNNO_SDFS_BACKOFF_H

#include "wire/wire_addr.h"

#include <stdint.h>

#define SDFS_BACKOFF_SLOTS  32
#define SDFS_BACKOFF_MIN_MS 20000  /* two repair periods */
#define SDFS_BACKOFF_MAX_MS 640000 /* about ten minutes */

struct sdfs_backoff {
	struct {
		struct wire_addr to;
		uint64_t until, wait; /* no push before until; the next wait is twice wait */
	} e[SDFS_BACKOFF_SLOTS];
	int n;
};

/* to refused a push for want of space at now_ms. */
void sdfs_backoff_full(struct sdfs_backoff *b, struct wire_addr to, uint64_t now_ms);
/* to took a push: no back-off for it any more. */
void sdfs_backoff_ok(struct sdfs_backoff *b, struct wire_addr to);
/* 0 when a push to `to` may go now, else the ms left to wait. */
uint64_t sdfs_backoff_wait(const struct sdfs_backoff *b, struct wire_addr to, uint64_t now_ms);

#endif
