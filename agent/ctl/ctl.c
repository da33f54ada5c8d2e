/*
 * ctl.c - the CLI's server (see ctl.h): one table of commands, each
 * answered with one response frame on the connection it came in on.
 */
#include "ctl/ctl.h"
#include "core/conn.h"
#include "core/log.h"
#include "core/loop.h"
#include "ctl/ctl_grep.h"
#include "ctl/rpc.h"
#include "membership/swim.h"
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
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define CTL_SEND_MS   5000
#define GREP_MAX      4		  /* greps at once */
#define GREP_CHUNK    (64u << 10) /* read from the child at a time */
#define GREP_LIMIT_MS 20000	  /* a child still running then is killed */

enum op { OP_GREP_READ = 1, OP_GREP_EXIT };

struct grep_job {
	int used;
	struct conn *conn;
	pid_t pid;
	int pidfd, out; /* the child's pid and stdout */
	uint8_t *buf;	/* its answer: the response body */
	size_t len, cap;
	int eof, exited, status, pending;
	uint64_t started;
};

struct ctl {
	struct ctl_env env;
	int owner;
	struct grep_job grep[GREP_MAX];
	uint64_t n_served, n_grep_busy;
};

typedef void (*cmd_fn)(struct ctl *t, struct conn *c, const struct rpc_req *req);

/* ---- answering ---- */

static void on_conn(void *arg, struct conn *c, enum conn_ev ev, uint64_t tag, int res)
{
	(void)arg, (void)tag, (void)res;
	if (ev == CONN_EV_SENT) /* one answer per connection */
		conn_close(c);
}

static void respond(struct ctl *t, struct conn *c, const uint8_t *body, size_t len)
{
	conn_own(c, on_conn, t);
	if (conn_send_frame(c, WIRE_RPC_RESP, body, len, CTL_SEND_MS, 0) == 0)
		t->n_served++;
	else
		conn_close(c);
}

static void respond_text(struct ctl *t, struct conn *c, uint8_t status, const char *text)
{
	size_t len = strlen(text);
	uint8_t *b = xmalloc(len + 1);

	b[0] = status;
	memcpy(b + 1, text, len);
	respond(t, c, b, len + 1);
	free(b);
}

/* ---- the commands ---- */

static void cmd_self(struct ctl *t, struct conn *c, const struct rpc_req *req)
{
	char text[2048] = "";
	uint8_t body[2200];
	int len;

	(void)req;
	if (t->env.describe)
		t->env.describe(t->env.arg, text, sizeof(text));
	len = rpc_self_encode(swim_self(t->env.swim), text, body, sizeof(body));
	if (len < 0)
		respond_text(t, c, EMSGSIZE, "description too large");
	else
		respond(t, c, body, (size_t)len);
}

static void cmd_members(struct ctl *t, struct conn *c, const struct rpc_req *req)
{
	int n = swim_members(t->env.swim, NULL, 0);
	struct swim_member *m = xcalloc((size_t)n + 1, sizeof(*m));
	size_t cap = 3 + ((size_t)n + 1) * 15;
	uint8_t *body = xmalloc(cap);
	int len;

	(void)req;
	n = swim_members(t->env.swim, m, n);
	len = rpc_members_encode(0, m, n, body, cap);
	if (len < 0)
		respond_text(t, c, EMSGSIZE, "member list too large");
	else
		respond(t, c, body, (size_t)len);
	free(body);
	free(m);
}

static void cmd_leave(struct ctl *t, struct conn *c, const struct rpc_req *req)
{
	(void)req;
	respond_text(t, c, 0, "leaving");
	t->env.leave(t->env.arg, "asked over RPC");
}

static void cmd_stats(struct ctl *t, struct conn *c, const struct rpc_req *req)
{
	size_t cap = 64 << 10;
	char *text = xmalloc(cap);
	size_t n = (size_t)snprintf(text, cap, "rpc_served %llu\nrpc_grep_busy %llu\n",
				    (unsigned long long)t->n_served,
				    (unsigned long long)t->n_grep_busy);

	(void)req;
	t->env.stats(t->env.arg, text + n, cap - n);
	respond_text(t, c, 0, text);
	free(text);
}

/* ---- grep, in a child ---- */

static void grep_arm_read(struct ctl *t, struct grep_job *g)
{
	struct io_uring_sqe *sqe = loop_sqe(t->env.loop);

	if (g->cap - g->len < GREP_CHUNK) {
		g->cap = g->cap ? 2 * g->cap : GREP_CHUNK;
		g->buf = xrealloc(g->buf, g->cap);
	}
	io_uring_prep_read(sqe, g->out, g->buf + g->len,
			   (unsigned)MIN(GREP_CHUNK, WIRE_MAX_PAYLOAD - g->len), 0);
	io_uring_sqe_set_data64(sqe, LOOP_UD(t->owner, OP_GREP_READ, g - t->grep));
	g->pending++;
}

static void grep_finish(struct ctl *t, struct grep_job *g)
{
	siginfo_t si = {0};

	if (g->pending || !g->eof || !g->exited)
		return;
	waitid(P_PIDFD, (id_t)g->pidfd, &si, WEXITED | WNOHANG);
	if (si.si_code == CLD_EXITED && si.si_status == 0 && g->len >= 9)
		respond(t, g->conn, g->buf, g->len);
	else
		respond_text(t, g->conn, EIO, "grep: the search process failed");
	close(g->pidfd);
	close(g->out);
	free(g->buf);
	*g = (struct grep_job){0};
}

static void cmd_grep(struct ctl *t, struct conn *c, const struct rpc_req *req)
{
	struct grep_job *g = NULL;
	posix_spawn_file_actions_t fa;
	char flags[8];
	char *argv[] = {(char *)t->env.exe,	 "__grep-local",
			(char *)t->env.log_path, flags,
			(char *)req->arg,	 NULL};
	int pfd[2], ret;
	pid_t pid;

	for (int i = 0; i < GREP_MAX && !g; i++)
		if (!t->grep[i].used)
			g = &t->grep[i];
	if (!g) {
		t->n_grep_busy++;
		respond_text(t, c, EAGAIN, "grep: too many searches at once on this agent");
		return;
	}
	snprintf(flags, sizeof(flags), "%u", req->flags);
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		respond_text(t, c, EAGAIN, "grep: no pipe");
		return;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
	ret = posix_spawn(&pid, t->env.exe, &fa, NULL, argv, NULL);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (ret) {
		close(pfd[0]);
		respond_text(t, c, EAGAIN, "grep: cannot start the search");
		return;
	}
	*g = (struct grep_job){.used = 1, .conn = c, .pid = pid, .out = pfd[0]};
	g->started = loop_now_ms();
	g->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (g->pidfd < 0) { /* cannot watch it: wait for it the plain way */
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(g->out);
		*g = (struct grep_job){0};
		respond_text(t, c, EAGAIN, "grep: no pidfd");
		return;
	}
	grep_arm_read(t, g);
	{
		struct io_uring_sqe *sqe = loop_sqe(t->env.loop);
		io_uring_prep_poll_add(sqe, g->pidfd, POLLIN);
		io_uring_sqe_set_data64(sqe, LOOP_UD(t->owner, OP_GREP_EXIT, g - t->grep));
		g->pending++;
	}
}

static void complete(void *m, unsigned op, uint64_t idx, int res, uint32_t flags)
{
	struct ctl *t = m;
	struct grep_job *g = &t->grep[idx % GREP_MAX];

	(void)flags;
	g->pending--;
	if (op == OP_GREP_READ) {
		if (res > 0)
			g->len += (size_t)res;
		if (res <= 0 || g->len >= WIRE_MAX_PAYLOAD - 64) {
			g->eof = 1;
			if (res > 0) /* the answer is bounded: the child's tail is cut */
				kill(g->pid, SIGKILL);
		} else {
			grep_arm_read(t, g);
		}
	} else {
		g->exited = 1;
	}
	grep_finish(t, g);
}

static uint64_t tick(void *m, uint64_t now_ms)
{
	struct ctl *t = m;

	for (int i = 0; i < GREP_MAX; i++)
		if (t->grep[i].used && !t->grep[i].exited &&
		    now_ms > t->grep[i].started + GREP_LIMIT_MS)
			kill(t->grep[i].pid, SIGKILL);
	return now_ms + 1000;
}

static void cancel(void *m)
{
	struct ctl *t = m;

	for (int i = 0; i < GREP_MAX; i++)
		if (t->grep[i].used)
			kill(t->grep[i].pid, SIGKILL);
}

static int pending(void *m)
{
	struct ctl *t = m;
	int n = 0;

	for (int i = 0; i < GREP_MAX; i++)
		n += t->grep[i].pending;
	return n;
}

/* ---- dispatch ---- */

static const struct {
	uint8_t cmd;
	cmd_fn fn;
} commands[] = {
	{RPC_MEMBERS, cmd_members}, {RPC_SELF, cmd_self},   {RPC_LEAVE, cmd_leave},
	{RPC_GREP, cmd_grep},	    {RPC_STATS, cmd_stats},
};

static void serve(void *arg, struct conn *c, const struct wire_hdr *h, const uint8_t *payload,
		  size_t len)
{
	struct ctl *t = arg;
	struct rpc_req req;

	(void)h;
	if (rpc_req_decode(payload, len, &req) == 0)
		for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
			if (commands[i].cmd == req.cmd) {
				commands[i].fn(t, c, &req);
				return;
			}
	respond_text(t, c, EINVAL, "malformed or unknown command");
}

static const struct loop_ops ctl_ops = {
	.name = "ctl",
	.complete = complete,
	.tick = tick,
	.cancel = cancel,
	.pending = pending,
};

int ctl_new(const struct ctl_env *env, struct ctl **out)
{
	struct ctl *t = xcalloc(1, sizeof(*t));
	int ret;

	t->env = *env;
	t->owner = loop_register(env->loop, &ctl_ops, t);
	ret = t->owner < 0 ? t->owner
			   : conn_route(env->conns, RPC_MEMBERS, RPC_CMD_MAX - 1, serve, t);
	if (ret < 0) {
		free(t);
		return ret;
	}
	*out = t;
	return 0;
}

void ctl_free(struct ctl *t)
{
	free(t);
}
