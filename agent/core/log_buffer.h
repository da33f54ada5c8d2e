/*
 * log_buffer.h - the log's bounded line buffer: whole lines in, byte runs
 * out to be written, and an account of the lines that did not fit.
 *
 * Pure: no clock, no I/O, no allocation.  A ring of bytes between head
 * (the first byte not yet written out) and tail (one past the last byte
 * appended).  Appending never overwrites bytes a write may still be
 * reading: those lie between head and tail, and only consume() or
 * discard() move head.  A line that does not fit is dropped and counted;
 * from then on every line is dropped until the caller has appended a note
 * saying how many (log_buffer_note), so the note sits exactly where the
 * gap is.
 */
#ifndef IDUNNO_LOG_BUFFER_H
#define IDUNNO_LOG_BUFFER_H

#include <stddef.h>
#include <stdint.h>

#define LOG_BUFFER_NOTES 16 /* notes buffered and not yet written */

struct log_buffer {
	char *mem; /* cap bytes, owned by the caller */
	size_t cap;
	uint64_t head, tail; /* byte counts since init: mem[pos % cap] */
	uint64_t dropped;    /* lines dropped in all, notes not counted (the stat) */
	uint64_t unreported; /* lines dropped and in no note */
	struct {
		uint64_t end, count; /* one past its '\n'; the lines it reports */
	} note[LOG_BUFFER_NOTES];    /* so a note lost in a failed write is not */
	unsigned nnotes;	     /* oldest first */
};

/* Starts an empty buffer over mem[0..cap). */
void log_buffer_init(struct log_buffer *b, char *mem, size_t cap);

/* Bytes appended and not yet consumed or discarded. */
size_t log_buffer_len(const struct log_buffer *b);

/*
 * Appends line[0..n) (one or more whole lines, each ending in '\n') whole,
 * or not at all.  Returns 0, or -ENOSPC when it did not fit or a note is
 * owed: the lines are then dropped and counted.
 */
int log_buffer_append(struct log_buffer *b, const char *line, size_t n);

/*
 * Appends the note about the lines dropped since the last one (the
 * caller formats it from b->unreported), and resets that count.  Returns
 * 0, or -ENOSPC when it does not fit yet, or too many notes are waiting
 * to be written (nothing changes).
 */
int log_buffer_note(struct log_buffer *b, const char *note, size_t n);

/*
 * The bytes to write next: a pointer to the contiguous run from head (up
 * to the end of the ring; the rest comes on the next call) and its
 * length, 0 when empty.  They stay in the buffer until consumed or
 * discarded.
 */
size_t log_buffer_take(const struct log_buffer *b, const char **p);

/* n bytes from head were written: frees them. */
void log_buffer_consume(struct log_buffer *b, size_t n);

/*
 * A write of the n bytes from head failed: drops them and the rest of the
 * line they end in (so no torn line follows), counting every line dropped;
 * the lines a dropped note reported are owed again.  Returns the number of
 * lines dropped, notes not counted.
 */
uint64_t log_buffer_discard(struct log_buffer *b, size_t n);

#endif
