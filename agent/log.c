/*
 * log.c - the agent's log file and local grep.
 *
 * The event loop never writes the file itself: a write to the page cache
 * can still wait (for an ext4 journal commit, or when dirty pages are
 * throttled), and a loop that waits misses its SWIM deadlines.  log_msg
 * formats the line and appends it to a buffer; a writer thread empties the
 * buffer into the file.  Should the disk stall long enough to fill the
 * buffer (1 MiB), lines are dropped and counted, and the count is logged
 * once the writer catches up: the loop never waits for it.
 */
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_BUF	     (1u << 20)
#define LINE_MAX_LEN 2048

static struct {
	int fd;
	pthread_t writer;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *buf; /* lines not yet written */
	size_t len;
	unsigned long dropped;
	int stop, running;
} lg = {.fd = -1, .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static const char *const level_names[LOG_LEVEL_MAX] = {"DEBUG", "INFO", "WARN", "ERROR"};

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* a log that cannot be written is not worth a crash */
		p += w;
		n -= (size_t)w;
	}
}

static void *writer_main(void *arg)
{
	char *out = xmalloc(LOG_BUF);

	(void)arg;
	pthread_mutex_lock(&lg.mu);
	for (;;) {
		size_t n;
		unsigned long dropped;
		while (!lg.len && !lg.stop)
			pthread_cond_wait(&lg.cv, &lg.mu);
		if (!lg.len && lg.stop)
			break;
		n = lg.len;
		memcpy(out, lg.buf, n);
		lg.len = 0;
		dropped = lg.dropped;
		lg.dropped = 0;
		pthread_mutex_unlock(&lg.mu);
		write_all(lg.fd, out, n);
		if (dropped) {
			char note[96];
			int k = snprintf(note, sizeof(note),
					 "(log: %lu lines dropped while the disk was stalled)\n",
					 dropped);
			write_all(lg.fd, note, (size_t)k);
		}
		pthread_mutex_lock(&lg.mu);
	}
	pthread_mutex_unlock(&lg.mu);
	free(out);
	return NULL;
}

int log_open(const char *path)
{
	int ret;

	lg.fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (lg.fd < 0)
		return -errno;
	lg.buf = xmalloc(LOG_BUF);
	lg.len = 0;
	lg.stop = 0;
	ret = pthread_create(&lg.writer, NULL, writer_main, NULL);
	if (ret) {
		close(lg.fd);
		lg.fd = -1;
		free(lg.buf);
		lg.buf = NULL;
		return -ret;
	}
	lg.running = 1;
	return 0;
}

void log_close(void)
{
	if (!lg.running)
		return;
	pthread_mutex_lock(&lg.mu);
	lg.stop = 1;
	pthread_cond_signal(&lg.cv);
	pthread_mutex_unlock(&lg.mu);
	pthread_join(lg.writer, NULL); /* it writes what is left first */
	lg.running = 0;
	close(lg.fd);
	lg.fd = -1;
	free(lg.buf);
	lg.buf = NULL;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	struct timeval tv;
	struct tm tm;
	char line[LINE_MAX_LEN];
	size_t n;
	va_list ap;
	int k;

	if (!lg.running)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	k = snprintf(line + n, sizeof(line) - n, ".%03ldZ %-5s ", (long)(tv.tv_usec / 1000),
		     level_names[level]);
	n += (size_t)MAX(k, 0);
	va_start(ap, fmt);
	k = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	n = MIN(n + (size_t)MAX(k, 0), sizeof(line) - 2); /* a longer line is cut */
	line[n++] = '\n';
	pthread_mutex_lock(&lg.mu);
	if (lg.len + n <= LOG_BUF) {
		memcpy(lg.buf + lg.len, line, n);
		lg.len += n;
		pthread_cond_signal(&lg.cv);
	} else {
		lg.dropped++;
	}
	pthread_mutex_unlock(&lg.mu);
}

static void append(char **out, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (*len + n + 2 > *cap) {
		while (*len + n + 2 > *cap)
			*cap = *cap ? *cap * 2 : 4096;
		*out = realloc(*out, *cap);
		ASSERT(*out);
	}
	memcpy(*out + *len, s, n);
	*len += n;
	(*out)[*len] = '\0';
}

long log_grep(const char *path, const char *pattern, int flags, char **out, size_t *outlen)
{
	regex_t re;
	FILE *f;
	char *line = NULL;
	size_t cap = 0, lcap = 0;
	ssize_t n;
	long count = 0;
	int rc;

	*out = NULL;
	*outlen = 0;
	rc = regcomp(&re, pattern, REG_NOSUB | (flags & GREP_EXTENDED ? REG_EXTENDED : 0));
	if (rc) {
		char msg[256];
		regerror(rc, &re, msg, sizeof(msg));
		append(out, outlen, &cap, msg, strlen(msg));
		return -EINVAL;
	}
	f = fopen(path, "re");
	if (!f) {
		int e = errno;
		regfree(&re);
		return -e;
	}
	while ((n = getline(&line, &lcap, f)) > 0) {
		if (regexec(&re, line, 0, NULL, 0) != 0)
			continue;
		count++;
		if (!(flags & GREP_COUNT) && *outlen < (64u << 20)) {
			append(out, outlen, &cap, line, (size_t)n);
			if (line[n - 1] != '\n')
				append(out, outlen, &cap, "\n", 1);
		}
	}
	free(line);
	fclose(f);
	regfree(&re);
	if (!*out)
		append(out, outlen, &cap, "", 0);
	return count;
}
