/*
 * slowio.c - an LD_PRELOAD shim that makes a disk slow for one process:
 * write, pwrite, writev, pwritev, fsync, fdatasync and sync_file_range on
 * a file or folder under $SLOWIO_DIR sleep $SLOWIO_MS (default 200) before
 * they run.  With $SLOWIO_LOG set, each delayed call appends a line
 * "MONO_MS TID PID CALL PATH" to that file (TID == PID: the process's
 * main thread, which in the agent is the event loop).
 *
 * What it cannot slow: io_uring operations (the kernel runs them, libc
 * is not involved), and stdio's own writes (glibc calls its internal
 * write, not the symbol this shim replaces).  So it finds synchronous
 * write(2)/fsync(2)-family calls, which is what must never run on the
 * agent's loop thread.  Built as $(BINDIR)/tests/libslowio.so; not a test
 * itself (tests/test_slow_disk.sh uses it).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static char dir[PATH_MAX];
static size_t dirlen;
static long delay_ms = 200;
static int log_fd = -1;

__attribute__((constructor)) static void slowio_init(void)
{
	const char *d = getenv("SLOWIO_DIR"), *ms = getenv("SLOWIO_MS"), *lg = getenv("SLOWIO_LOG");

	if (d && realpath(d, dir))
		dirlen = strlen(dir);
	if (ms)
		delay_ms = strtol(ms, NULL, 10);
	if (lg)
		log_fd = (int)syscall(SYS_openat, AT_FDCWD, lg,
				      O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

/* Sleeps when fd is a file or folder under the slow folder. */
static void slow(int fd, const char *call)
{
	char link[64], path[PATH_MAX], line[PATH_MAX + 128];
	struct timespec ts;
	ssize_t n;
	int saved = errno, k;

	if (!dirlen || fd < 0)
		return;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n < (ssize_t)dirlen || strncmp(path, dir, dirlen) ||
	    (n > (ssize_t)dirlen && path[dirlen] != '/'))
		goto out;
	path[n] = 0;
	if (log_fd >= 0) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		k = snprintf(line, sizeof(line), "%lld %ld %d %s %s\n",
			     (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
			     (long)syscall(SYS_gettid), (int)getpid(), call, path);
		if (k > 0)
			syscall(SYS_write, log_fd, line, (size_t)k);
	}
	ts.tv_sec = delay_ms / 1000;
	ts.tv_nsec = (delay_ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
out:
	errno = saved;
}

/* libc's own function, looked up once */
#define REAL(name)                                                                                 \
	({                                                                                         \
		static __typeof__(&name) real_;                                                    \
		if (!real_)                                                                        \
			real_ = (__typeof__(&name))dlsym(RTLD_NEXT, #name);                        \
		real_;                                                                             \
	})

ssize_t write(int fd, const void *buf, size_t n)
{
	slow(fd, "write");
	return REAL(write)(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	slow(fd, "pwrite");
	return REAL(pwrite)(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
	slow(fd, "pwrite64");
	return REAL(pwrite64)(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	slow(fd, "writev");
	return REAL(writev)(fd, iov, cnt);
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	slow(fd, "pwritev");
	return REAL(pwritev)(fd, iov, cnt, off);
}

int fsync(int fd)
{
	slow(fd, "fsync");
	return REAL(fsync)(fd);
}

int fdatasync(int fd)
{
	slow(fd, "fdatasync");
	return REAL(fdatasync)(fd);
}

int sync_file_range(int fd, off64_t off, off64_t n, unsigned int flags)
{
	slow(fd, "sync_file_range");
	return REAL(sync_file_range)(fd, off, n, flags);
}
