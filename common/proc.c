/*
 * proc.c - posix_spawn and a bounded waitpid.
 */
#include "proc.h"
#include "util.h"

#include <errno.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

int proc_spawn(char *const argv[], pid_t *pid)
{
	int ret = posix_spawn(pid, argv[0], NULL, NULL, argv, environ);
	return -ret;
}

int proc_wait(pid_t pid, int timeout_ms)
{
	uint64_t deadline = util_now_ns() + (uint64_t)timeout_ms * 1000000ull;

	for (;;) {
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return st;
		if (r < 0)
			return -errno;
		if (util_now_ns() >= deadline)
			return -ETIMEDOUT;
		nanosleep(&(struct timespec){0, 2000000}, NULL);
	}
}
