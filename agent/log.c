/*
 * log.c - the agent's log file and local grep.
 *
 * Lines go through stdio to the page cache; a log line never waits for the
 * disk (the file is not synced).
 */
#include "log.h"
#include "util.h"

#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static FILE *log_file;
static const char *const level_names[LOG_LEVEL_MAX] = {"DEBUG", "INFO", "WARN", "ERROR"};

int log_open(const char *path)
{
	log_file = fopen(path, "ae");
	if (!log_file)
		return -errno;
	setvbuf(log_file, NULL, _IOLBF, 0);
	return 0;
}

void log_close(void)
{
	if (log_file)
		fclose(log_file);
	log_file = NULL;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	struct timeval tv;
	struct tm tm;
	char ts[32];
	va_list ap;

	if (!log_file)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(log_file, "%s.%03ldZ %-5s ", ts, (long)(tv.tv_usec / 1000), level_names[level]);
	va_start(ap, fmt);
	vfprintf(log_file, fmt, ap);
	va_end(ap);
	fputc('\n', log_file);
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
