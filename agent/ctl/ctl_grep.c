/*
 * ctl_grep.c - the local half of distributed grep: search this node's log
 * file for a pattern.
 */
#include "ctl/ctl_grep.h"
#include "ctl/rpc.h"
#include "wire/wire.h"
#include "util.h"

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	rc = regcomp(&re, pattern,
		     REG_NOSUB | (flags & GREP_EXTENDED ? REG_EXTENDED : 0) |
			     (flags & GREP_ICASE ? REG_ICASE : 0));
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

int ctl_grep_child(const char *path, const char *flags, const char *pattern)
{
	char *text = NULL;
	size_t len = 0;
	long n = log_grep(path, pattern, (int)strtol(flags, NULL, 10), &text, &len);
	uint8_t head[RPC_GREP_HEAD];

	if (len > WIRE_MAX_PAYLOAD - 64) /* the response is bounded; cut the tail */
		len = WIRE_MAX_PAYLOAD - 64;
	rpc_grep_head_encode(n < 0 ? (uint8_t)-n : 0, n < 0 ? 0 : (uint64_t)n, head);
	if (fwrite(head, 1, sizeof(head), stdout) != sizeof(head) ||
	    fwrite(text, 1, len, stdout) != len || fflush(stdout)) {
		free(text);
		return 1;
	}
	free(text);
	return 0;
}
