/*
 * engine_sup.c - supervising the engine (see engine_sup.h).
 *
 * The engine writes the eventfd after posting completions; a read of it
 * is always armed in the loop, and each completion of that read reaps the
 * ring.  A poll on the engine's pidfd completes when it exits; then the
 * ring puts what was in flight back on its queue (ring_recover) and the
 * next engine, after the back-off, runs it.  One state machine, one
 * function per transition: spawn() (-> STARTING), on_attached()
 * (-> RUNNING), on_engine_exit() (-> BACKOFF or CRASHLOOP), and stop().
 */
#include "tasks/engine_sup.h"
#include "tasks/engine_hang.h"
#include "core/log.h"
#include "core/loop.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define BACKOFF_MIN_MS	100
#define BACKOFF_MAX_MS	5000
#define QUICK_EXIT_MS	5000  /* an exit this soon after the start counts as a crash at start */
#define CRASHLOOP_AFTER 5     /* quick exits in a row */
#define CRASHLOOP_MS	30000 /* then retried this rarely */
#define NOTIFY_FD	3     /* the eventfd, as the engine sees it */

enum op { OP_NOTIFY = 1, OP_EXIT };

extern char **environ;

const char *const engine_state_names[ENGINE_STATE_MAX] = {"off",     "starting",  "running",
							  "backoff", "crashloop", "stopping"};

struct engine_sup {
	struct engine_sup_env env; /* its strings point into the copies below */
	char engine[4096], log_path[4096], ring_name[64];
	int owner;
	enum engine_state state;
	struct ring *ring;
	int efd, pidfd;
	pid_t pid;
	uint64_t notify_buf;
	int notify_armed, exit_armed;
	uint32_t gen; /* the engine generation we wait to attach */
	uint64_t started_ms, restart_at, backoff_ms;
	int quick_exits;
	struct hang_clock hang; /* hang detection (engine_hang.h) */
	/* counters */
	uint64_t n_starts, n_crashes, n_hangs, n_batches, n_failed_batches;
	char last_exit[64];
};

static void set_state(struct engine_sup *e, enum engine_state s)
{
	if (e->state == s)
		return;
	e->state = s;
	if (e->env.changed)
		e->env.changed(e->env.arg, s);
}

static void arm_notify(struct engine_sup *e)
{
	struct io_uring_sqe *sqe = loop_sqe(e->env.loop);

	io_uring_prep_read(sqe, e->efd, &e->notify_buf, sizeof(e->notify_buf), 0);
	io_uring_sqe_set_data64(sqe, LOOP_UD(e->owner, OP_NOTIFY, 0));
	e->notify_armed = 1;
}

static void arm_exit(struct engine_sup *e)
{
	struct io_uring_sqe *sqe = loop_sqe(e->env.loop);

	io_uring_prep_poll_add(sqe, e->pidfd, POLLIN);
	io_uring_sqe_set_data64(sqe, LOOP_UD(e->owner, OP_EXIT, 0));
	e->exit_armed = 1;
}

/* -> STARTING: a new engine process on the ring. */
static void spawn(struct engine_sup *e)
{
	char threads[16], fd[16];
	char *argv[] = {(char *)e->env.engine,
			"serve",
			"--ring",
			(char *)e->env.ring_name,
			"--threads",
			threads,
			"--notify-fd",
			fd,
			NULL};
	posix_spawn_file_actions_t fa;
	int ret;

	snprintf(threads, sizeof(threads), "%d", e->env.threads > 0 ? e->env.threads : 1);
	snprintf(fd, sizeof(fd), "%d", NOTIFY_FD);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, e->env.log_path,
					 O_WRONLY | O_APPEND | O_CREAT, 0644);
	posix_spawn_file_actions_adddup2(&fa, e->efd, NOTIFY_FD);
	e->gen = ring_engine_gen(e->ring);
	ret = posix_spawn(&e->pid, e->env.engine, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	e->started_ms = loop_now_ms();
	e->n_starts++;
	if (ret == 0)
		e->pidfd = (int)syscall(SYS_pidfd_open, e->pid, 0);
	if (ret || e->pidfd < 0) {
		snprintf(e->last_exit, sizeof(e->last_exit), "cannot start: %s",
			 strerror(ret ? ret : errno));
		log_msg(LOG_ERROR, "engine %s: %s", e->env.engine, e->last_exit);
		if (ret == 0) { /* started but cannot be watched: do not leave it running */
			kill(e->pid, SIGKILL);
			waitpid(e->pid, NULL, 0);
		}
		e->pid = 0;
		e->pidfd = -1;
		e->quick_exits++;
		e->restart_at = loop_now_ms() + CRASHLOOP_MS;
		set_state(e, ENGINE_CRASHLOOP);
		return;
	}
	arm_exit(e);
	set_state(e, ENGINE_STARTING);
	log_msg(LOG_INFO, "engine started (pid %d, %s threads)", (int)e->pid, threads);
}

/* STARTING -> RUNNING: it attached to the ring. */
static void on_attached(struct engine_sup *e)
{
	e->hang = (struct hang_clock){.progress_ms = loop_now_ms()};
	set_state(e, ENGINE_RUNNING);
	log_msg(LOG_INFO, "engine pid %d attached as generation %u", (int)e->pid,
		ring_engine_gen(e->ring));
}

/* -> BACKOFF or CRASHLOOP: the engine exited (or was killed). */
static void on_engine_exit(struct engine_sup *e)
{
	siginfo_t si = {0};
	uint64_t now = loop_now_ms();
	int resubmitted;

	waitid(P_PIDFD, (id_t)e->pidfd, &si, WEXITED | WNOHANG);
	close(e->pidfd);
	e->pidfd = -1;
	e->pid = 0;
	if (si.si_code == CLD_EXITED)
		snprintf(e->last_exit, sizeof(e->last_exit), "exit %d", si.si_status);
	else
		snprintf(e->last_exit, sizeof(e->last_exit), "signal %d", si.si_status);
	if (e->state == ENGINE_STOPPING)
		return;
	e->n_crashes++;
	resubmitted = ring_recover(e->ring);
	e->quick_exits = now - e->started_ms < QUICK_EXIT_MS ? e->quick_exits + 1 : 0;
	if (e->quick_exits >= CRASHLOOP_AFTER) {
		e->restart_at = now + CRASHLOOP_MS;
		set_state(e, ENGINE_CRASHLOOP);
		log_msg(LOG_ERROR,
			"engine crashes at start (%d times in a row, last %s): retrying in %d s",
			e->quick_exits, e->last_exit, CRASHLOOP_MS / 1000);
		return;
	}
	e->backoff_ms = e->quick_exits ? MIN(MAX(e->backoff_ms * 2, BACKOFF_MIN_MS), BACKOFF_MAX_MS)
				       : BACKOFF_MIN_MS;
	e->restart_at = now + e->backoff_ms;
	set_state(e, ENGINE_BACKOFF);
	log_msg(LOG_WARN,
		"engine stopped (%s); %d batches in flight will re-run; restart in %llu ms",
		e->last_exit, resubmitted, (unsigned long long)e->backoff_ms);
}

static void reap(struct engine_sup *e)
{
	struct ring_cqe c;

	/* one at a time: done() may submit, and a submission may reuse the
	 * data area of an entry reaped before it */
	while (ring_reap(e->ring, &c, 1) == 1) {
		const struct ring_result *res =
			(const struct ring_result *)((const uint8_t *)ring_data(e->ring) +
						     c.out_off);
		hang_progress(&e->hang, loop_now_ms());
		e->n_batches++;
		e->n_failed_batches += c.status != 0;
		e->env.done(e->env.arg, &c, res);
	}
	if (ring_inflight(e->ring) == 0)
		e->hang.expected_ms = 0;
}

static void complete(void *m, unsigned op, uint64_t idx, int res, uint32_t flags)
{
	struct engine_sup *e = m;

	(void)idx, (void)flags;
	if (op == OP_NOTIFY) {
		e->notify_armed = 0;
		if (e->state == ENGINE_STARTING && ring_engine_gen(e->ring) > e->gen)
			on_attached(e);
		reap(e);
		if (res > 0 && e->state != ENGINE_STOPPING)
			arm_notify(e);
	} else if (op == OP_EXIT) {
		e->exit_armed = 0;
		if (e->pidfd >= 0)
			on_engine_exit(e);
	}
}

static uint64_t tick(void *m, uint64_t now)
{
	struct engine_sup *e = m;

	switch (e->state) {
	case ENGINE_STARTING:
		if (ring_engine_gen(e->ring) > e->gen)
			on_attached(e);
		return now + 50;
	case ENGINE_RUNNING:
		if (e->pid && hang_check(&e->hang, now, ring_inflight(e->ring),
					 ring_model_loading(e->ring))) {
			uint64_t since =
				e->hang.load_since ? e->hang.load_since : e->hang.progress_ms;

			e->n_hangs++;
			log_msg(LOG_WARN,
				"engine pid %d made no progress for %llu ms%s: killing it",
				(int)e->pid, (unsigned long long)(now - since),
				e->hang.load_since ? " (loading a model)" : "");
			kill(e->pid, SIGKILL);
			e->hang = (struct hang_clock){.progress_ms = now}; /* once */
		}
		reap(e); /* completions whose notification raced a restart */
		return now + 200;
	case ENGINE_BACKOFF:
	case ENGINE_CRASHLOOP:
		if (now >= e->restart_at)
			spawn(e);
		return e->restart_at;
	default:
		return LOOP_NEVER;
	}
}

static size_t stats(void *m, char *buf, size_t cap)
{
	struct engine_sup *e = m;

	return (size_t)snprintf(
		buf, cap,
		"engine_state %s\nengine_starts %llu\nengine_crashes %llu\nengine_hangs %llu\n"
		"engine_batches %llu\nengine_failed_batches %llu\nengine_inflight %u\n",
		engine_state_names[e->state], (unsigned long long)e->n_starts,
		(unsigned long long)e->n_crashes, (unsigned long long)e->n_hangs,
		(unsigned long long)e->n_batches, (unsigned long long)e->n_failed_batches,
		e->ring ? ring_inflight(e->ring) : 0);
}

/* -> STOPPING: the agent shuts down. */
static void cancel(void *m)
{
	struct engine_sup *e = m;

	if (e->state == ENGINE_OFF)
		return;
	set_state(e, ENGINE_STOPPING);
	if (e->pid)
		kill(e->pid, SIGKILL);
	if (e->notify_armed)
		loop_cancel(e->env.loop, LOOP_UD(e->owner, OP_NOTIFY, 0));
}

static int pending(void *m)
{
	struct engine_sup *e = m;

	return e->notify_armed + e->exit_armed;
}

static const struct loop_ops engine_ops = {
	.name = "engine",
	.complete = complete,
	.tick = tick,
	.stats = stats,
	.cancel = cancel,
	.pending = pending,
};

int engine_sup_submit(struct engine_sup *e, struct ring_sqe *sqe, const void *in, size_t in_len,
		      uint64_t expected_ms)
{
	int ret;

	if (e->state == ENGINE_OFF || e->state == ENGINE_STOPPING)
		return -ENODEV;
	ret = ring_reserve(e->ring, sqe);
	if (ret)
		return ret;
	memcpy((uint8_t *)ring_data(e->ring) + sqe->in_off, in, in_len);
	if (ring_inflight(e->ring) == 0)
		hang_progress(&e->hang, loop_now_ms());
	e->hang.expected_ms = MAX(e->hang.expected_ms, expected_ms);
	return ring_submit(e->ring, sqe);
}

size_t engine_sup_describe(const struct engine_sup *e, char *buf, size_t cap)
{
	return (size_t)snprintf(buf, cap, "engine %s\nengine_restarts %llu\nengine_last_exit %s\n",
				engine_state_names[e->state], (unsigned long long)e->n_crashes,
				e->last_exit[0] ? e->last_exit : "none");
}

int engine_sup_pid(const struct engine_sup *e)
{
	return (int)e->pid;
}

uint32_t engine_sup_inflight(const struct engine_sup *e)
{
	return e->ring ? ring_inflight(e->ring) : 0;
}

enum engine_state engine_sup_state(const struct engine_sup *e)
{
	return e->state;
}

struct ring *engine_sup_ring(struct engine_sup *e)
{
	return e->ring;
}

int engine_sup_new(const struct engine_sup_env *env, struct engine_sup **out, char *err,
		   size_t errlen)
{
	struct engine_sup *e = xcalloc(1, sizeof(*e));
	int ret;

	e->env = *env;
	if (env->engine) {
		snprintf(e->engine, sizeof(e->engine), "%s", env->engine);
		e->env.engine = e->engine;
	}
	snprintf(e->log_path, sizeof(e->log_path), "%s",
		 env->log_path ? env->log_path : "/dev/null");
	snprintf(e->ring_name, sizeof(e->ring_name), "%s", env->ring_name ? env->ring_name : "");
	e->env.log_path = e->log_path;
	e->env.ring_name = e->ring_name;
	e->efd = e->pidfd = -1;
	e->state = ENGINE_OFF;
	if (env->engine) {
		ret = ring_create(env->ring_name, env->ring_slots, env->ring_bytes, &e->ring);
		if (ret) {
			util_seterr(err, errlen, "ring %s: %s", env->ring_name, strerror(-ret));
			goto err;
		}
		e->efd = eventfd(0, EFD_CLOEXEC);
		if (e->efd < 0) {
			ret = -errno;
			util_seterr(err, errlen, "eventfd: %s", strerror(errno));
			goto err;
		}
	}
	e->owner = loop_register(env->loop, &engine_ops, e);
	if (e->owner < 0) {
		ret = e->owner;
		util_seterr(err, errlen, "too many loop modules");
		goto err;
	}
	*out = e;
	if (env->engine) {
		arm_notify(e);
		spawn(e);
	}
	return 0;
err:
	if (e->efd >= 0)
		close(e->efd);
	ring_destroy(e->ring);
	free(e);
	return ret;
}

void engine_sup_free(struct engine_sup *e)
{
	if (!e)
		return;
	if (e->pid) {
		kill(e->pid, SIGKILL);
		waitpid(e->pid, NULL, 0);
	}
	if (e->pidfd >= 0)
		close(e->pidfd);
	if (e->efd >= 0)
		close(e->efd);
	ring_destroy(e->ring);
	free(e);
}
