/*
 * log.h - the agent's log: one file per node in its data folder,
 * timestamped lines with a level, and the local half of distributed grep.
 */
#ifndef IDUNNO_LOG_H
#define IDUNNO_LOG_H

#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_LEVEL_MAX };

struct loop;

/* Opens (appends to) path. Returns 0 or -errno. */
int log_open(const char *path);

/*
 * From now on log_msg only appends to the log's buffer, and the loop
 * writes it out with io_uring writes, one at a time.  Registers the log
 * as a loop module (stats log_lines_dropped, log_write_errors).  When the
 * loop stops, the log writes out what it holds and goes back to writing
 * synchronously.  Call after log_open, right before loop_run: nothing may
 * free the loop without running it once attached.  Returns 0 or -errno
 * (then the log stays synchronous).
 */
int log_attach(struct loop *l);

/* Writes what is buffered (synchronously) and closes the file.  Call once
 * the loop has returned from loop_run, or was never run. */
void log_close(void);

/*
 * Formats one line.  Never blocks once attached: the line goes to a 1 MiB
 * buffer, or, when that is full, is dropped and counted (a line says how
 * many once there is room).  Before log_attach and after the loop has
 * stopped, it writes the line before it returns.  Loop thread only.
 */
__attribute__((format(printf, 2, 3))) void log_msg(enum log_level level, const char *fmt, ...);

#endif
