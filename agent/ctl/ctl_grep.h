/*
 * ctl_grep.h - the local half of distributed grep (the CLI asks every live
 * node and merges the answers).
 */
#ifndef IDUNNO_CTL_GREP_H
#define IDUNNO_CTL_GREP_H

#include <stddef.h>

#define GREP_COUNT    1 /* count only */
#define GREP_EXTENDED 2 /* POSIX extended regular expressions */
#define GREP_ICASE    4 /* ignore case */

/*
 * Searches the file at path for pattern; appends matching lines (unless
 * GREP_COUNT) to *out (malloc'd, NUL-terminated, grown as needed) and
 * returns the number of matches, or a negative errno (-EINVAL for a bad
 * pattern, with the regex error in *out).
 */
long log_grep(const char *path, const char *pattern, int flags, char **out, size_t *outlen);

/*
 * The child side of the agent's grep (`agent __grep-local PATH FLAGS
 * PATTERN`): writes the response body (u8 status, u64 matches, the lines)
 * to stdout.  Returns the exit code.
 */
int ctl_grep_child(const char *path, const char *flags, const char *pattern);

#endif
