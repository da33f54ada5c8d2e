/*
 * repl_log.c - records held for the standby (see repl_log.h): a FIFO of
 * malloc'd copies, dropped from the front as acknowledgements arrive.
 */
#include "tasks/repl_log.h"

#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct entry {
	uint64_t seq;
	uint8_t *rec;
	size_t len;
};

struct repl_log {
	struct entry *e;
	size_t head, n, cap; /* entries e[head .. head + n) */
	size_t bytes, max_bytes;
};

struct repl_log *repl_log_new(size_t max_bytes)
{
	struct repl_log *l = xcalloc(1, sizeof(*l));

	l->max_bytes = max_bytes;
	return l;
}

void repl_log_clear(struct repl_log *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->e[l->head + i].rec);
	l->head = l->n = l->bytes = 0;
}

void repl_log_free(struct repl_log *l)
{
	if (!l)
		return;
	repl_log_clear(l);
	free(l->e);
	free(l);
}

int repl_log_append(struct repl_log *l, uint64_t seq, const uint8_t *rec, size_t len)
{
	if (l->n && seq != l->e[l->head + l->n - 1].seq + 1)
		return -EINVAL;
	if (l->bytes + len > l->max_bytes) {
		repl_log_clear(l);
		return -ENOSPC;
	}
	if (l->head + l->n == l->cap) {
		if (l->head > l->cap / 2) { /* compact rather than grow */
			memmove(l->e, l->e + l->head, l->n * sizeof(*l->e));
			l->head = 0;
		} else {
			l->cap = l->cap ? 2 * l->cap : 64;
			l->e = xrealloc(l->e, l->cap * sizeof(*l->e));
		}
	}
	l->e[l->head + l->n] =
		(struct entry){.seq = seq, .rec = xmalloc(len ? len : 1), .len = len};
	memcpy(l->e[l->head + l->n].rec, rec, len);
	l->n++;
	l->bytes += len;
	return 0;
}

void repl_log_ack(struct repl_log *l, uint64_t seq)
{
	while (l->n && l->e[l->head].seq <= seq) {
		l->bytes -= l->e[l->head].len;
		free(l->e[l->head].rec);
		l->head++;
		l->n--;
	}
	if (!l->n)
		l->head = 0;
}

int repl_log_after(const struct repl_log *l, uint64_t seq, size_t *pos)
{
	uint64_t first, last;

	if (!l->n)
		return -ENOENT;
	first = l->e[l->head].seq;
	last = l->e[l->head + l->n - 1].seq;
	if (seq >= last)
		return -ENOENT;
	if (seq + 1 < first)
		return -ERANGE;
	*pos = (size_t)(seq + 1 - first);
	return 0;
}

int repl_log_get(const struct repl_log *l, size_t pos, uint64_t *seq, const uint8_t **rec,
		 size_t *len)
{
	const struct entry *e;

	if (pos >= l->n)
		return -ENOENT;
	e = &l->e[l->head + pos];
	*seq = e->seq;
	*rec = e->rec;
	*len = e->len;
	return 0;
}

size_t repl_log_count(const struct repl_log *l)
{
	return l->n;
}

size_t repl_log_bytes(const struct repl_log *l)
{
	return l->bytes;
}
