/*
 * repl_log.h - the coordinator's records not yet acknowledged by its hot
 * standby, in sequence order, as encoded bytes.  Pure: no I/O, no clock.
 *
 * The coordinator appends every record it applies; the standby's
 * acknowledgement of seq drops the records up to it.  A standby that
 * (re)connects having seq is sent the records after it when they are
 * still held, else a snapshot.  The log holds at most max_bytes: a
 * standby that falls that far behind is cut off (the log is cleared) and
 * later brought back by a snapshot, so a slow standby costs bounded
 * memory.
 */
#ifndef IDUNNO_REPL_LOG_H
#define IDUNNO_REPL_LOG_H

#include <stddef.h>
#include <stdint.h>

struct repl_log;

struct repl_log *repl_log_new(size_t max_bytes);
void repl_log_free(struct repl_log *l);

/*
 * Appends the record of seq: it must follow the last one held (any seq
 * when the log is empty).  0; -EINVAL (out of order); -ENOSPC when it
 * would exceed max_bytes: then the log is cleared (the standby needs a
 * snapshot) and the record is not kept.
 */
int repl_log_append(struct repl_log *l, uint64_t seq, const uint8_t *rec, size_t len);

/* Drops the records up to seq (the standby holds them). */
void repl_log_ack(struct repl_log *l, uint64_t seq);

/* Forgets everything (a snapshot covers it). */
void repl_log_clear(struct repl_log *l);

/*
 * The position of the first record after seq: 0 and *pos set; -ERANGE
 * when the records right after seq are not held (send a snapshot);
 * -ENOENT when none after seq is held (nothing to send).
 */
int repl_log_after(const struct repl_log *l, uint64_t seq, size_t *pos);

/* The record at pos (from repl_log_after, then pos + 1, ...): 0, or -ENOENT past the end. */
int repl_log_get(const struct repl_log *l, size_t pos, uint64_t *seq, const uint8_t **rec,
		 size_t *len);

/* Records and bytes held. */
size_t repl_log_count(const struct repl_log *l);
size_t repl_log_bytes(const struct repl_log *l);

#endif
