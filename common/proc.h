/*
 * proc.h - starting and stopping child processes (the agent's engine, and
 * the tests' and benchmarks' engines).
 */
#ifndef IDUNNO_PROC_H
#define IDUNNO_PROC_H

#include <sys/types.h>

/* Starts argv[0] with argv. Returns 0 and the pid, or -errno. */
int proc_spawn(char *const argv[], pid_t *pid);
/*
 * Waits up to timeout_ms for pid to exit.  Returns its exit status as
 * waitpid() gives it (>= 0), or -ETIMEDOUT.
 */
int proc_wait(pid_t pid, int timeout_ms);

#endif
