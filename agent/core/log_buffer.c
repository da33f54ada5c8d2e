/*
 * log_buffer.c - the log's bounded line buffer (see log_buffer.h).
 */
#include "core/log_buffer.h"
#include "util.h"

#include <errno.h>
#include <string.h>

void log_buffer_init(struct log_buffer *b, char *mem, size_t cap)
{
	ASSERT(mem && cap > 0);
	memset(b, 0, sizeof(*b));
	b->mem = mem;
	b->cap = cap;
}

size_t log_buffer_len(const struct log_buffer *b)
{
	return (size_t)(b->tail - b->head);
}

static char *at(const struct log_buffer *b, uint64_t pos)
{
	return b->mem + pos % b->cap;
}

/* Copies n bytes in at tail, in two pieces where the ring wraps. */
static void put(struct log_buffer *b, const char *s, size_t n)
{
	size_t first = MIN(n, b->cap - (size_t)(b->tail % b->cap));

	memcpy(at(b, b->tail), s, first);
	memcpy(b->mem, s + first, n - first);
	b->tail += n;
}

static uint64_t count_lines(const char *s, size_t n)
{
	uint64_t k = 0;

	for (const char *p = s; (p = memchr(p, '\n', n - (size_t)(p - s))); p++)
		k++;
	return k;
}

int log_buffer_append(struct log_buffer *b, const char *line, size_t n)
{
	if (b->unreported || n > b->cap - log_buffer_len(b)) {
		uint64_t k = MAX(count_lines(line, n), 1);
		b->dropped += k;
		b->unreported += k;
		return -ENOSPC;
	}
	put(b, line, n);
	return 0;
}

int log_buffer_note(struct log_buffer *b, const char *note, size_t n)
{
	if (n > b->cap - log_buffer_len(b) || b->nnotes == LOG_BUFFER_NOTES)
		return -ENOSPC;
	put(b, note, n);
	b->note[b->nnotes].end = b->tail;
	b->note[b->nnotes].count = b->unreported;
	b->nnotes++;
	b->unreported = 0;
	return 0;
}

/* Forgets the notes wholly before head; returns the lines they reported. */
static uint64_t notes_before_head(struct log_buffer *b, unsigned *gone)
{
	uint64_t lines = 0;
	unsigned k = 0;

	while (k < b->nnotes && b->note[k].end <= b->head)
		lines += b->note[k++].count;
	memmove(b->note, b->note + k, (b->nnotes - k) * sizeof(b->note[0]));
	b->nnotes -= k;
	*gone = k;
	return lines;
}

size_t log_buffer_take(const struct log_buffer *b, const char **p)
{
	size_t len = log_buffer_len(b);

	*p = at(b, b->head);
	return MIN(len, b->cap - (size_t)(b->head % b->cap));
}

void log_buffer_consume(struct log_buffer *b, size_t n)
{
	unsigned gone;

	ASSERT(n <= log_buffer_len(b));
	b->head += n;
	notes_before_head(b, &gone); /* written: their lines are reported */
}

uint64_t log_buffer_discard(struct log_buffer *b, size_t n)
{
	uint64_t end, k = 0, owed;
	unsigned notes;

	ASSERT(n <= log_buffer_len(b));
	end = b->head + n;
	/* past the end of the line the failed bytes stop in */
	while (end > b->head && end < b->tail && *at(b, end - 1) != '\n')
		end++;
	for (uint64_t pos = b->head; pos < end; pos++)
		k += *at(b, pos) == '\n';
	b->head = end;
	owed = notes_before_head(b, &notes);
	k -= notes;
	b->dropped += k;
	b->unreported += k + owed;
	return k;
}
