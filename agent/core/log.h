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

#endif
