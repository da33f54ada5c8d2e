/*
 * log.h - the agent's log: one file per node in its data folder,
 * timestamped lines with a level, and the local half of distributed grep.
 */
#ifndef IDUNNO_LOG_H
#define IDUNNO_LOG_H

#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_LEVEL_MAX };

/* Opens (appends to) path. Returns 0 or -errno. */
int log_open(const char *path);
void log_close(void);
__attribute__((format(printf, 2, 3))) void log_msg(enum log_level level, const char *fmt, ...);

#define GREP_COUNT    1 /* count only */
#define GREP_EXTENDED 2 /* POSIX extended regular expressions */

/*
 * Searches the file at path for pattern; appends matching lines (unless
 * GREP_COUNT) to *out (malloc'd, NUL-terminated, grown as needed) and
 * returns the number of matches, or a negative errno (-EINVAL for a bad
 * pattern, with the regex error in *out).
 */
long log_grep(const char *path, const char *pattern, int flags, char **out, size_t *outlen);

#endif
