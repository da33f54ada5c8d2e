/*
 * Description: the agent log's bounded buffer: lines go in whole or not at
 * all, wrap around the ring, a full buffer drops and counts lines and
 * refuses every later one until the note about them is in (so it sits at
 * the gap), a failed write drops whole lines only, and the lines a lost
 * note reported are owed again.
 */
#include "check.h"
#include "core/log_buffer.h"
#include "util.h"

#include <errno.h>
#include <string.h>

/* ---- the pure buffer ---- */

static void test_buffer(void)
{
	struct log_buffer b;
	char mem[16], big[64];
	const char *p;
	size_t n;

	log_buffer_init(&b, mem, sizeof(mem));
	CHECK(log_buffer_take(&b, &p) == 0, "an empty buffer has something to write");
	CHECK(log_buffer_append(&b, "abcdefghi\n", 10) == 0, "a line that fits");
	n = log_buffer_take(&b, &p);
	CHECK(n == 10 && !memcmp(p, "abcdefghi\n", 10), "take: %zu bytes", n);
	CHECK(log_buffer_append(&b, "0123456789\n", 11) == -ENOSPC, "a line past the end fitted");
	CHECK(b.dropped == 1 && b.unreported == 1, "dropped %llu unreported %llu",
	      (unsigned long long)b.dropped, (unsigned long long)b.unreported);
	log_buffer_consume(&b, 10);
	CHECK(log_buffer_append(&b, "ab\n", 3) == -ENOSPC, "a line went in before the note");
	CHECK(b.dropped == 2 && b.unreported == 2, "the refused line was not counted");
	CHECK(log_buffer_note(&b, "2 dropped\n", 10) == 0, "the note did not fit");
	CHECK(b.unreported == 0 && b.dropped == 2, "the note did not reset the count");
	/* 10 bytes in at 10..15 and 0..3: the ring wraps */
	n = log_buffer_take(&b, &p);
	CHECK(n == 6 && !memcmp(p, "2 drop", 6), "the run up to the end of the ring: %zu", n);
	log_buffer_consume(&b, 6);
	n = log_buffer_take(&b, &p);
	CHECK(n == 4 && p == mem && !memcmp(p, "ped\n", 4), "the wrapped rest: %zu", n);
	CHECK(log_buffer_append(&b, "x\n", 2) == 0, "a line after the note");
	CHECK(log_buffer_append(&b, "0123456789\n", 11) == -ENOSPC, "16 bytes in a 16 byte ring");
	CHECK(log_buffer_note(&b, "0123456789\n", 11) == -ENOSPC && b.unreported == 1,
	      "a note that does not fit changed the count");
	log_buffer_consume(&b, 4);
	CHECK(log_buffer_note(&b, "1\n", 2) == 0, "note");
	CHECK(log_buffer_len(&b) == 4, "len %zu", log_buffer_len(&b));
	log_buffer_consume(&b, 4);

	/* longer than the whole ring; two lines in one append count twice */
	CHECK(log_buffer_append(&b, "0123456789abcdefg\n", 18) == -ENOSPC, "18 bytes in 16");
	CHECK(log_buffer_note(&b, "n\n", 2) == 0, "note");
	CHECK(log_buffer_append(&b, "a\nb\n", 4) == 0, "two lines");
	CHECK(log_buffer_append(&b, "0123456\n0123456\n", 16) == -ENOSPC && b.unreported == 2,
	      "two lines dropped counted %llu", (unsigned long long)b.unreported);
	CHECK(log_buffer_note(&b, "n\n", 2) == 0, "note");

	/* a failed write drops whole lines */
	log_buffer_init(&b, mem, sizeof(mem));
	log_buffer_append(&b, "aa\nbbbb\ncc\n", 11);
	CHECK(log_buffer_discard(&b, 4) == 2, "the failed bytes end in line 2: both dropped");
	n = log_buffer_take(&b, &p);
	CHECK(n == 3 && !memcmp(p, "cc\n", 3), "left: %.*s", (int)n, p);
	CHECK(b.dropped == 2 && b.unreported == 2, "discarded lines counted");
	CHECK(log_buffer_discard(&b, 3) == 1 && log_buffer_len(&b) == 0, "the last line");

	/* a note lost in a failed write: its lines are owed again */
	log_buffer_init(&b, mem, sizeof(mem));
	log_buffer_append(&b, "0123456789\n", 11);
	log_buffer_append(&b, "abcdef\n", 7);
	CHECK(log_buffer_note(&b, "1 lost\n", 7) == -ENOSPC, "a note past the end fitted");
	CHECK(log_buffer_note(&b, "1\n", 2) == 0, "note");
	CHECK(log_buffer_discard(&b, 13) == 1, "the note counted as a dropped line");
	CHECK(b.dropped == 2 && b.unreported == 2, "dropped %llu, owed %llu",
	      (unsigned long long)b.dropped, (unsigned long long)b.unreported);
	/* a written note is forgotten */
	CHECK(log_buffer_note(&b, "2\n", 2) == 0 && b.nnotes == 1, "note");
	log_buffer_consume(&b, 2);
	CHECK(b.nnotes == 0 && b.unreported == 0, "a written note still owed");
	log_buffer_init(&b, big, sizeof(big));
	for (int i = 0; i < LOG_BUFFER_NOTES; i++)
		CHECK(log_buffer_note(&b, "n\n", 2) == 0, "note %d", i);
	CHECK(log_buffer_note(&b, "n\n", 2) == -ENOSPC && log_buffer_len(&b) <= sizeof(big) / 2,
	      "more notes waiting than there is room to remember");
}

int main(void)
{
	test_buffer();
	return t_result();
}
