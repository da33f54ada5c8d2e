/*
 * log.c - the agent's log file.
 *
 * A write to the page cache can itself wait (an ext4 journal commit,
 * dirty-page throttling, a slow disk), and an event loop waiting there
 * misses its SWIM deadlines.  So once attached to the loop, log_msg only
 * formats the line into a bounded buffer (core/log_buffer.c) and the loop
 * writes the buffer out with io_uring writes to the O_APPEND file, one
 * write in flight at a time; no thread of our own (one was tried, and
 * coincided with false failures on 2 cores).  A full buffer drops lines
 * and counts them, and a line says how many once there is room.  A failed
 * write (ENOSPC, EIO) drops the lines it carried, is counted, and the next
 * write waits LOG_RETRY_MS, so a full disk costs one failed write a second;
 * when a short write had put part of a line in the file before that, the
 * next write is a newline, so the cut line stays a line of its own.
 * Before log_attach and after the loop has stopped, lines are written
 * synchronously.
 */
#include "core/log.h"
#include "core/log_buffer.h"
#include "core/loop.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_BUF_SIZE (1u << 20)
#define LOG_LINE_MAX 2048 /* a longer line is cut */
#define LOG_RETRY_MS 1000 /* after a failed write */

enum log_op { LOG_OP_WRITE = 1 };

static struct {
	int fd;
	struct log_buffer buf;
	struct loop *loop; /* NULL: write synchronously */
	int owner;
	size_t inflight;   /* bytes in the one write in flight, 0 for none */
	int stopping;	   /* the loop is stopping: no new write after this one */
	int failed;	   /* the last write failed: wait before the next */
	uint64_t retry_at; /* when the next write may go, after a failure */
	uint64_t write_errors;
	const char *inflight_p; /* where the write in flight starts */
	int mid_line;		/* the file ends in part of a line (a short write) */
	int torn;		/* ... whose rest was dropped: a newline is owed first */
} lg = {.fd = -1};

static const char newline = '\n';

static const char *const level_names[LOG_LEVEL_MAX] = {"DEBUG", "INFO", "WARN", "ERROR"};

/* "2026-11-21T11:54:53.123Z INFO  ": the length written. */
static size_t format_prefix(char *line, size_t cap, enum log_level level)
{
	struct timeval tv;
	struct tm tm;
	size_t n;
	int k;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(line, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	k = snprintf(line + n, cap - n, ".%03ldZ %-5s ", (long)(tv.tv_usec / 1000),
		     level_names[level]);
	return n + (size_t)MAX(k, 0);
}

/* Appends the note owed for dropped lines, if there is room for it. */
static void note_drops(void)
{
	char note[128];
	size_t n;

	if (!lg.buf.unreported)
		return;
	n = format_prefix(note, sizeof(note), LOG_WARN);
	n += (size_t)snprintf(note + n, sizeof(note) - n,
			      "log: %llu lines dropped (the log could not keep up)\n",
			      (unsigned long long)lg.buf.unreported);
	log_buffer_note(&lg.buf, note, MIN(n, sizeof(note) - 1));
}

/* Writes everything buffered with write(2): before attach, after stop. */
static void flush_sync(void)
{
	const char *p;
	size_t n;

	while ((n = log_buffer_take(&lg.buf, &p))) {
		ssize_t w = write(lg.fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w > 0) {
			log_buffer_consume(&lg.buf, (size_t)w);
		} else {
			lg.write_errors++;
			log_buffer_discard(&lg.buf, n);
		}
	}
}

/* Submits the next write, unless one is in flight or must wait. */
static void submit(void)
{
	struct io_uring_sqe *sqe;
	const char *p;
	size_t n;

	if (!lg.loop || lg.inflight || lg.failed)
		return;
	n = log_buffer_take(&lg.buf, &p);
	if (!n)
		return;
	if (lg.torn) /* end the cut line first, so no line is glued to it */
		p = &newline, n = 1;
	lg.inflight_p = p;
	sqe = loop_sqe(lg.loop);
	/* O_APPEND: the offset is ignored, every write lands at the end */
	io_uring_prep_write(sqe, lg.fd, p, (unsigned)n, (uint64_t)-1);
	io_uring_sqe_set_data64(sqe, LOOP_UD(lg.owner, LOG_OP_WRITE, 0));
	lg.inflight = n;
}

/* Back to synchronous writes; what is buffered goes with the next line
 * or log_close. */
static void detach(void)
{
	lg.loop = NULL;
	lg.failed = 0;
	lg.retry_at = 0;
}

static void log_complete(void *m, unsigned op, uint64_t idx, int res, uint32_t flags)
{
	size_t n = lg.inflight;

	ASSERT(op == LOG_OP_WRITE && n);
	lg.inflight = 0;
	if (res > 0 && lg.inflight_p == &newline) {
		lg.torn = lg.mid_line = 0;
	} else if (res > 0) {
		log_buffer_consume(&lg.buf, MIN((size_t)res, n));
		lg.mid_line = lg.inflight_p[MIN((size_t)res, n) - 1] != '\n';
	} else if (res == -EINTR || res == -EAGAIN || lg.inflight_p == &newline) {
		lg.failed = 1; /* try the same bytes again after the pause */
	} else {
		lg.write_errors++;
		log_buffer_discard(&lg.buf, n); /* counts a line cut by a short write too */
		lg.torn = lg.mid_line;
		lg.failed = 1;
	}
	if (lg.stopping && (lg.failed || !log_buffer_len(&lg.buf))) {
		detach();
		return;
	}
	if (!lg.failed)
		note_drops();
	submit();
}

static uint64_t log_tick(void *m, uint64_t now)
{
	if (lg.failed) {
		if (!lg.retry_at)
			lg.retry_at = now + LOG_RETRY_MS;
		if (now < lg.retry_at)
			return lg.retry_at;
		lg.failed = 0;
		lg.retry_at = 0;
		note_drops();
	}
	submit();
	return LOOP_NEVER;
}

static size_t log_stats(void *m, char *buf, size_t cap)
{
	int k = snprintf(buf, cap, "log_lines_dropped %llu\nlog_write_errors %llu\n",
			 (unsigned long long)lg.buf.dropped, (unsigned long long)lg.write_errors);

	return MIN((size_t)MAX(k, 0), cap ? cap - 1 : 0);
}

/* Shutdown: what is buffered still goes out through the loop (pending()
 * holds the loop until it has); lines logged after that are written
 * synchronously. */
static void log_cancel(void *m)
{
	lg.stopping = 1;
	submit();
	if (!lg.inflight)
		detach();
}

static int log_pending(void *m)
{
	return lg.inflight ? 1 : 0;
}

static const struct loop_ops log_ops = {
	.name = "log",
	.complete = log_complete,
	.tick = log_tick,
	.stats = log_stats,
	.cancel = log_cancel,
	.pending = log_pending,
};

int log_open(const char *path)
{
	lg.fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (lg.fd < 0)
		return -errno;
	log_buffer_init(&lg.buf, xmalloc(LOG_BUF_SIZE), LOG_BUF_SIZE);
	lg.write_errors = 0;
	return 0;
}

int log_attach(struct loop *l)
{
	int owner;

	if (lg.fd < 0)
		return -EBADF;
	owner = loop_register(l, &log_ops, &lg);
	if (owner < 0)
		return owner;
	flush_sync();
	lg.loop = l;
	lg.owner = owner;
	lg.inflight = 0;
	lg.stopping = lg.failed = 0;
	lg.retry_at = 0;
	return 0;
}

void log_close(void)
{
	if (lg.fd < 0)
		return;
	lg.loop = NULL;
	lg.inflight = 0;
	note_drops();
	flush_sync();
	close(lg.fd);
	lg.fd = -1;
	free(lg.buf.mem);
	memset(&lg.buf, 0, sizeof(lg.buf));
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	size_t n;
	va_list ap;
	int k;

	if (lg.fd < 0)
		return;
	n = format_prefix(line, sizeof(line), level);
	va_start(ap, fmt);
	k = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	n = MIN(n + (size_t)MAX(k, 0), sizeof(line) - 2);
	line[n++] = '\n';
	if (!lg.loop) {
		note_drops();
		log_buffer_append(&lg.buf, line, n);
		flush_sync();
		return;
	}
	/* the note for dropped lines waits until a write has made room */
	log_buffer_append(&lg.buf, line, n);
	if (!lg.stopping)
		submit();
}
