/*
 * Description: the agent's log never waits for the disk once attached to
 * the loop.  The pure buffer: lines go in whole or not at all, wrap
 * around the ring, a full buffer drops and counts lines and refuses every
 * later one until the note about them is in (so it sits at the gap), a
 * failed write drops whole lines only.  The io_uring adapter, driven
 * through its loop module ops by a fake loop that records submissions: a
 * line before attach is on disk when log_msg returns; after attach,
 * log_msg only queues one write and never more than one in flight; a
 * short write continues where it stopped; lines past the 1 MiB buffer
 * are dropped, counted in log_lines_dropped, and a note with the same
 * count follows the last kept line; ENOSPC drops and counts (a line a short
 * write cut too, which a newline then ends), and the next
 * write waits a second (no spin); on cancel the write in flight and what
 * was buffered are finished, then lines are written synchronously again.
 */
#include "check.h"
#include "core/log.h"
#include "core/log_buffer.h"
#include "core/loop.h"
#include "util.h"

#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- a fake loop: records the module and the entries it queues ---- */

struct loop {
	const struct loop_ops *ops;
	void *m;
	int owner;
	struct io_uring_sqe sqe[64];
	int nsqe, seen; /* queued, and looked at by the test */
};

static struct loop fake = {.owner = 5};

int loop_register(struct loop *l, const struct loop_ops *ops, void *m)
{
	l->ops = ops;
	l->m = m;
	return l->owner;
}

struct io_uring_sqe *loop_sqe(struct loop *l)
{
	struct io_uring_sqe *sqe = &l->sqe[l->nsqe++ % ARRAY_SIZE(l->sqe)];

	REQUIRE(l->nsqe - l->seen <= (int)ARRAY_SIZE(l->sqe), "too many submissions unseen");
	memset(sqe, 0, sizeof(*sqe));
	return sqe;
}

void loop_submit(struct loop *l)
{
}

/* The next entry the log queued, or NULL. */
static struct io_uring_sqe *next_sqe(void)
{
	return fake.seen < fake.nsqe ? &fake.sqe[fake.seen++ % ARRAY_SIZE(fake.sqe)] : NULL;
}

/* Writes up to max bytes of a queued write for real; completes it with
 * the result, or with res_override when that is not 0. */
static void complete(struct io_uring_sqe *sqe, size_t max, int res_override)
{
	int res = res_override;

	REQUIRE(sqe, "no write queued");
	CHECK(sqe->opcode == IORING_OP_WRITE, "opcode %u", sqe->opcode);
	CHECK(LOOP_UD_OWNER(sqe->user_data) == 5, "owner %u", LOOP_UD_OWNER(sqe->user_data));
	if (!res) {
		ssize_t w = write(sqe->fd, (const void *)(uintptr_t)sqe->addr, MIN(sqe->len, max));
		res = w < 0 ? -errno : (int)w;
	}
	fake.ops->complete(fake.m, LOOP_UD_OP(sqe->user_data), LOOP_UD_IDX(sqe->user_data), res, 0);
}

/* Completes every queued write in full until none is left. */
static void drain(void)
{
	struct io_uring_sqe *sqe;

	while ((sqe = next_sqe()))
		complete(sqe, SIZE_MAX, 0);
}

static char path[64];

static char *file_text(void)
{
	char *text;
	size_t len;

	REQUIRE(util_read_file(path, 64 << 20, &text, &len) == 0, "reading %s", path);
	return text;
}

static int has(const char *needle)
{
	char *t = file_text();
	int ok = strstr(t, needle) != NULL;

	free(t);
	return ok;
}

static unsigned long long stat_of(const char *name)
{
	char buf[256], *p;

	fake.ops->stats(fake.m, buf, sizeof(buf));
	p = strstr(buf, name);
	REQUIRE(p, "no stat %s in %s", name, buf);
	return strtoull(p + strlen(name), NULL, 10);
}

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

/* ---- the adapter, through the loop module ops ---- */

static void test_adapter(void)
{
	char dir[] = "/tmp/idunno-log-XXXXXX", big[1900];
	struct io_uring_sqe *sqe;
	unsigned long long dropped;
	char want[128], *text, *a, *b;
	int i;

	REQUIRE(mkdtemp(dir), "mkdtemp");
	snprintf(path, sizeof(path), "%s/agent.log", dir);
	REQUIRE(log_open(path) == 0, "log_open");

	log_msg(LOG_INFO, "before attach");
	CHECK(has("INFO  before attach\n"), "a line before attach is not on disk at once");
	REQUIRE(log_attach(&fake) == 0, "log_attach");
	REQUIRE(fake.ops && !strcmp(fake.ops->name, "log"), "not registered");
	CHECK(fake.ops->tick(fake.m, 0) == LOOP_NEVER, "an idle log has a deadline");

	/* one write at a time; lines logged meanwhile go in the next one */
	log_msg(LOG_INFO, "one");
	sqe = next_sqe();
	REQUIRE(sqe, "log_msg queued no write");
	CHECK(!has("one\n"), "log_msg wrote the file itself");
	CHECK(fake.ops->pending(fake.m) == 1, "a write in flight is not pending");
	log_msg(LOG_WARN, "two");
	log_msg(LOG_ERROR, "three %d", 3);
	fake.ops->tick(fake.m, 10);
	CHECK(!next_sqe(), "a second write while one is in flight");
	complete(sqe, SIZE_MAX, 0);
	sqe = next_sqe();
	REQUIRE(sqe, "the lines logged meanwhile were not queued");
	CHECK(strstr((const char *)(uintptr_t)sqe->addr, "WARN  two\n") &&
		      sqe->len > 2 * strlen("2026-11-21T11:54:53.123Z INFO  x\n"),
	      "the next write does not carry both lines (%u bytes)", sqe->len);
	complete(sqe, SIZE_MAX, 0);
	CHECK(!next_sqe() && fake.ops->pending(fake.m) == 0, "something left in flight");
	text = file_text();
	a = strstr(text, "one\n");
	b = strstr(text, "ERROR three 3\n");
	CHECK(a && b && a < b && strstr(text, "WARN  two\n") < b, "lines out of order:\n%s", text);
	free(text);

	/* a short write continues where it stopped */
	log_msg(LOG_INFO, "a line written in two pieces");
	complete(next_sqe(), 7, 0);
	sqe = next_sqe();
	REQUIRE(sqe, "the rest of a short write was not queued");
	complete(sqe, SIZE_MAX, 0);
	CHECK(has("INFO  a line written in two pieces\n"), "a short write tore the line");

	/* a stalled write: the buffer fills, lines are dropped and counted */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	log_msg(LOG_INFO, "stall begins");
	sqe = next_sqe();
	for (i = 0; i < 700; i++) /* 700 x ~1930 bytes > 1 MiB */
		log_msg(LOG_INFO, "%d %s", i, big);
	log_msg(LOG_INFO, "the first line after the stall");
	dropped = stat_of("log_lines_dropped ");
	CHECK(dropped > 100 && dropped < 700, "%llu lines dropped", dropped);
	CHECK(!next_sqe(), "a second write while the first is stalled");
	complete(sqe, SIZE_MAX, 0);
	drain();
	snprintf(want, sizeof(want), "WARN  log: %llu lines dropped", dropped);
	text = file_text();
	a = strstr(text, want);
	b = strstr(text, "the first line after the stall");
	CHECK(a && !b, "the note is missing or a line jumped the gap: %s", want);
	CHECK(a && a > strstr(text, "stall begins"), "the note came before the kept lines");
	free(text);
	CHECK(stat_of("log_lines_dropped ") == dropped, "the note was counted as dropped");
	log_msg(LOG_INFO, "after the note");
	drain();
	CHECK(has("INFO  after the note\n"), "logging did not resume after the note");

	/* a full disk: the lines in the failed write are dropped, the next
	 * write waits a second */
	log_msg(LOG_INFO, "lost to ENOSPC");
	complete(next_sqe(), SIZE_MAX, -ENOSPC);
	CHECK(stat_of("log_write_errors ") == 1, "the failed write was not counted");
	CHECK(stat_of("log_lines_dropped ") == dropped + 1, "the lost line was not counted");
	dropped++;
	log_msg(LOG_INFO, "logged while the disk is full");
	CHECK(!next_sqe(), "a write right after a failed one");
	CHECK(fake.ops->tick(fake.m, 5000) == 6000, "no retry deadline");
	CHECK(fake.ops->tick(fake.m, 5999) == 6000 && !next_sqe(), "a retry before its time");
	CHECK(fake.ops->tick(fake.m, 6000) == LOOP_NEVER, "a deadline after the retry");
	complete(next_sqe(), SIZE_MAX, -ENOSPC); /* still full */
	CHECK(!next_sqe() && fake.ops->tick(fake.m, 6100) == 7100, "the disk full again: no pause");
	fake.ops->tick(fake.m, 7100);
	log_msg(LOG_INFO, "space again");
	drain();
	text = file_text();
	CHECK(!strstr(text, "lost to ENOSPC") && !strstr(text, "logged while the disk is full"),
	      "lines of a failed write reached the file");
	/* the line logged during the pause was dropped (a note was owed),
	 * the retry lost the note: the next note counts both lines, the stat
	 * counts no note */
	CHECK(strstr(text, "WARN  log: 2 lines dropped") && strstr(text, "INFO  space again\n"),
	      "after ENOSPC:\n%s", strstr(text, "after the note"));
	free(text);
	CHECK(stat_of("log_lines_dropped ") == dropped + 1, "a lost note counted as a line");
	CHECK(stat_of("log_write_errors ") == 2, "write errors");

	/* a short write, then the disk fills: the cut line is counted, ended by
	 * a newline, and no later line is glued to it */
	log_msg(LOG_INFO, "cut by a full disk");
	complete(next_sqe(), 7, 0);
	complete(next_sqe(), SIZE_MAX, -ENOSPC);
	CHECK(stat_of("log_lines_dropped ") == dropped + 2, "the cut line was not counted");
	fake.ops->tick(fake.m, 20000);
	fake.ops->tick(fake.m, 21000);
	sqe = next_sqe();
	REQUIRE(sqe, "nothing queued after the pause");
	CHECK(sqe->len == 1 && *(const char *)(uintptr_t)sqe->addr == '\n',
	      "the first write after a cut line is not a newline");
	complete(sqe, SIZE_MAX, 0);
	log_msg(LOG_INFO, "a line after the cut one");
	drain();
	text = file_text();
	a = strstr(text, "INFO  a line after the cut one\n");
	CHECK(a && a - text >= 27 && a[-26] == '\n' && a[-27] != '\n',
	      "the line after the cut one does not start a line of its own:\n%s",
	      strstr(text, "space again"));
	free(text);

	/* cancel: finish the write in flight and what is buffered, then
	 * write synchronously */
	log_msg(LOG_INFO, "in flight at cancel");
	sqe = next_sqe();
	fake.ops->cancel(fake.m);
	CHECK(fake.ops->pending(fake.m) == 1, "the write in flight is not pending");
	log_msg(LOG_INFO, "logged while stopping");
	CHECK(!next_sqe(), "log_msg queued a write while stopping");
	complete(sqe, SIZE_MAX, 0);
	drain();
	CHECK(fake.ops->pending(fake.m) == 0, "pending after the drain");
	CHECK(has("logged while stopping\n"), "what was buffered at cancel was not written");
	log_msg(LOG_INFO, "after the loop");
	CHECK(!next_sqe() && has("INFO  after the loop\n"), "not synchronous after the loop");

	/* a line too long is cut, and still ends the line */
	{
		char *huge = xmalloc(5000);
		memset(huge, 'y', 4999);
		huge[4999] = 0;
		log_msg(LOG_INFO, "%s", huge);
		log_msg(LOG_INFO, "next");
		free(huge);
		CHECK(has("yyyy\n") && has("INFO  next\n"), "a long line broke the next one");
	}
	log_close();
	log_msg(LOG_INFO, "after close"); /* ignored, no crash */
	CHECK(!has("after close"), "a line after log_close");
	unlink(path);
	rmdir(dir);
}

/* Runs every write the log queued through a real io_uring. */
static int pump(struct io_uring *ring)
{
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	int n = 0, res;

	while ((sqe = next_sqe())) {
		struct io_uring_sqe *real = io_uring_get_sqe(ring);
		*real = *sqe;
		REQUIRE(io_uring_submit_and_wait(ring, 1) == 1, "io_uring submit");
		REQUIRE(io_uring_peek_cqe(ring, &cqe) == 0, "no completion");
		res = cqe->res;
		CHECK(cqe->user_data == sqe->user_data, "user_data changed");
		io_uring_cqe_seen(ring, cqe);
		fake.ops->complete(fake.m, LOOP_UD_OP(sqe->user_data), LOOP_UD_IDX(sqe->user_data),
				   res, 0);
		n++;
	}
	return n;
}

/* The writes the adapter prepares, run by the kernel: appended to the
 * O_APPEND file after what was written synchronously, and on /dev/full a
 * real ENOSPC dropped and counted.  0, or -errno when there is no
 * io_uring here. */
static int test_real_ring(void)
{
	char dir[] = "/tmp/idunno-log-XXXXXX", *text;
	struct io_uring ring;
	int ret, writes, i;

	ret = io_uring_queue_init(8, &ring, 0);
	if (ret < 0)
		return ret;
	REQUIRE(mkdtemp(dir), "mkdtemp");
	snprintf(path, sizeof(path), "%s/agent.log", dir);
	REQUIRE(log_open(path) == 0, "log_open");
	log_msg(LOG_INFO, "written synchronously");
	REQUIRE(log_attach(&fake) == 0, "log_attach");
	for (i = 0; i < 1000; i++)
		log_msg(LOG_INFO, "line %d", i);
	writes = pump(&ring);
	CHECK(writes >= 1 && writes <= 3, "1000 lines in %d writes", writes);
	text = file_text();
	{
		char *sync = strstr(text, "INFO  written synchronously\n");
		char *first = strstr(text, "INFO  line 0\n"), *end = text + strlen(text);
		size_t lines = 0;
		for (char *p = text; (p = strchr(p, '\n')); p++)
			lines++;
		CHECK(sync && first && sync < first && lines == 1001 &&
			      !strcmp(end - strlen("INFO  line 999\n"), "INFO  line 999\n"),
		      "not the synchronous line, then 1000 lines in order (%zu lines)", lines);
	}
	for (i = 0; i < 1000; i += 111) {
		char want[32];
		snprintf(want, sizeof(want), "INFO  line %d\n", i);
		CHECK(strstr(text, want), "%s missing", want);
	}
	free(text);
	fake.ops->cancel(fake.m);
	log_close();
	unlink(path);
	rmdir(dir);

	REQUIRE(log_open("/dev/full") == 0, "log_open /dev/full");
	REQUIRE(log_attach(&fake) == 0, "log_attach");
	log_msg(LOG_INFO, "to a full disk");
	CHECK(pump(&ring) == 1, "not one write");
	CHECK(stat_of("log_write_errors ") == 1 && stat_of("log_lines_dropped ") == 1,
	      "ENOSPC from the kernel not counted");
	CHECK(fake.ops->tick(fake.m, 100) == 1100 && !next_sqe(), "no pause after ENOSPC");
	fake.ops->cancel(fake.m);
	log_close();
	io_uring_queue_exit(&ring);
	return 0;
}

int main(void)
{
	int ret;

	test_buffer();
	test_adapter();
	ret = test_real_ring();
	if (t_failures || ret == 0)
		return t_result();
	T_SKIP("io_uring_queue_init: %s (the buffer and the adapter passed; the kernel writes "
	       "were not tried)",
	       strerror(-ret));
}
