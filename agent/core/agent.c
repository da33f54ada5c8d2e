/*
 * agent.c - the daemon put together: one loop (loop.h) with its modules
 * registered in order: the connection layer (conn.h: TCP, accept,
 * routing), membership's transport (udp.h), signals, the CLI's server
 * (ctl.h), SDFS and the tasks layer (worker, coordinator).  This file owns the node's identity
 * (address, boot epoch, frame sequence), seals every frame the node sends and keeps the one replay
 * table for what it receives.
 */
#include "core/agent.h"
#include "core/conn.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/udp.h"
#include "ctl/ctl.h"
#include "sdfs/sdfs.h"
#include "sdfs/sdfs_client.h"
#include "sdfs/sdfs_wire.h"
#include "tasks/coord.h"
#include "tasks/worker.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

/* TCP connections at once, in and out: sized for 1000 nodes (a coordinator
 * holds a task stream to every worker, besides SDFS streams and clients). */
#define MAX_CONNS	2048
#define LEAVE_LINGER_MS 300
#define REPLAY_SENDERS	65536 /* nodes and CLI clients heard from in the last 30-60 s */

enum op { OP_SIGNAL = 1 };

struct agent {
	const struct agent_opts *o;
	struct loop *loop;
	int owner; /* this file's own module: signals */
	int udp_fd, tcp_fd, sigfd, sig_armed;
	struct signalfd_siginfo si;
	struct swim *swim;
	struct udp *udp;
	struct conns *conns;
	struct ctl *ctl;
	struct sdfs *sdfs;
	struct sdfs_client *sdfs_client;
	struct worker *worker;
	struct coord *coord;
	struct metrics *metrics; /* with --metrics */
	struct wire_replay *replay;
	struct wire_addr self;
	uint64_t epoch, seq;
	char log_path[4096], exe[4096];
	uint64_t rejected[WIRE_REJECT_MAX];
	/* membership changes this agent saw (/metrics: idunno_member_*_total) */
	uint64_t n_joins, n_suspicions, n_refutes, n_failures, n_leaves;
};

/* ---- identity: sealing and admitting frames ---- */

static int seal(void *arg, uint8_t type, struct wire_addr to, const void *body, size_t len,
		uint8_t *out, size_t cap)
{
	struct agent *a = arg;
	struct wire_hdr h = {.type = type,
			     .sender = a->self,
			     .epoch = a->epoch,
			     .seq = ++a->seq,
			     .sent_ms = util_wall_ms(),
			     .to = to};

	return wire_seal(&a->o->key, &h, body, len, out, cap);
}

static enum wire_reject admit(void *arg, const struct wire_hdr *h)
{
	struct agent *a = arg;

	return wire_replay_check(a->replay, h, util_wall_ms());
}

static enum wire_reject fresh(void *arg, const struct wire_hdr *h)
{
	struct agent *a = arg;

	return wire_replay_fresh(a->replay, h, util_wall_ms());
}

static void rejected(void *arg, enum wire_reject r)
{
	struct agent *a = arg;

	a->rejected[r < WIRE_REJECT_MAX ? r : WIRE_R_PAYLOAD]++;
}

/* ---- leaving ---- */

static void leave(void *arg, const char *why)
{
	struct agent *a = arg;

	if (udp_leaving(a->udp))
		return;
	log_msg(LOG_INFO, "leaving the cluster (%s)", why);
	conns_stop_accepting(a->conns);
	udp_leave(a->udp, LEAVE_LINGER_MS);
}

/* ---- this file's module: signals ---- */

static void arm_signal(struct agent *a)
{
	struct io_uring_sqe *sqe = loop_sqe(a->loop);

	io_uring_prep_read(sqe, a->sigfd, &a->si, sizeof(a->si), 0);
	io_uring_sqe_set_data64(sqe, LOOP_UD(a->owner, OP_SIGNAL, 0));
	a->sig_armed = 1;
}

static void complete(void *m, unsigned op, uint64_t idx, int res, uint32_t flags)
{
	struct agent *a = m;
	char why[32];

	(void)op;
	(void)idx;
	(void)flags;
	a->sig_armed = 0;
	if (res == sizeof(a->si)) {
		snprintf(why, sizeof(why), "signal %u", a->si.ssi_signo);
		leave(a, why);
	} else if (!loop_stopping(a->loop)) {
		arm_signal(a);
	}
}

static size_t stats(void *m, char *buf, size_t cap)
{
	struct agent *a = m;
	size_t off = 0;

	for (int r = 1; r < WIRE_REJECT_MAX && off < cap; r++)
		off += (size_t)snprintf(buf + off, cap - off, "rejected_%s %llu\n",
					wire_reject_names[r], (unsigned long long)a->rejected[r]);
	if (off < cap)
		off += (size_t)MAX(
			0,
			snprintf(
				buf + off, cap - off,
				"member_joins %llu\nmember_suspicions %llu\nmember_refutes %llu\n"
				"member_failures %llu\nmember_leaves %llu\nself_incarnation %llu\n",
				(unsigned long long)a->n_joins, (unsigned long long)a->n_suspicions,
				(unsigned long long)a->n_refutes, (unsigned long long)a->n_failures,
				(unsigned long long)a->n_leaves,
				(unsigned long long)(a->swim ? swim_self(a->swim)->incarnation
							     : 0)));
	return MIN(off, cap);
}

static void cancel(void *m)
{
	struct agent *a = m;

	if (a->sig_armed)
		loop_cancel(a->loop, LOOP_UD(a->owner, OP_SIGNAL, 0));
}

static int pending(void *m)
{
	struct agent *a = m;

	return a->sig_armed;
}

static const struct loop_ops agent_ops = {
	.name = "agent",
	.complete = complete,
	.stats = stats,
	.cancel = cancel,
	.pending = pending,
};

static size_t all_stats(void *arg, char *buf, size_t cap)
{
	struct agent *a = arg;

	return loop_stats(a->loop, buf, cap);
}

static size_t describe(void *arg, char *buf, size_t cap)
{
	struct agent *a = arg;

	size_t off = a->worker ? worker_describe(a->worker, buf, cap) : 0;

	if (off < cap) /* the replication factor, for agent fsck */
		off += (size_t)MAX(0, snprintf(buf + off, cap - off, "sdfs_replicas %d\n",
					       a->o->replicas > 0 ? a->o->replicas : 4));
	off = MIN(off, cap);

	if (a->coord && off < cap)
		off += coord_describe(a->coord, buf + off, cap - off);
	return off;
}

/* /metrics beyond the modules' counters: the coordinator's jobs. */
static void render_jobs(void *arg, struct prom_buf *b)
{
	struct agent *a = arg;

	if (a->coord)
		coord_metrics(a->coord, b);
}

/* ---- membership's events ---- */

static void on_member(void *arg, const struct swim_member *m, enum swim_status old)
{
	struct agent *a = arg;
	char who[32];

	wire_addr_str(m->addr, who, sizeof(who));
	if (old == SWIM_STATUS_MAX || (old >= SWIM_FAILED && m->status == SWIM_ALIVE))
		a->n_joins++; /* new, or back (restarted) */
	else if (m->status == SWIM_SUSPECT)
		a->n_suspicions++;
	else if (old == SWIM_SUSPECT && m->status == SWIM_ALIVE)
		a->n_refutes++;
	if (m->status == SWIM_FAILED && old != SWIM_FAILED)
		a->n_failures++;
	else if (m->status == SWIM_LEFT && old != SWIM_LEFT)
		a->n_leaves++;
	if (old == SWIM_STATUS_MAX)
		log_msg(LOG_INFO, "member %s joined (incarnation %llu)", who,
			(unsigned long long)m->incarnation);
	else
		log_msg(m->status == SWIM_FAILED ? LOG_WARN : LOG_INFO,
			"member %s %s -> %s (incarnation %llu)", who, swim_status_names[old],
			swim_status_names[m->status], (unsigned long long)m->incarnation);
	loop_member_changed(a->loop, m, (int)old);
}

static int sdfs_live(void *arg, struct wire_addr *out, int max)
{
	struct agent *a = arg;
	int n = swim_members(a->swim, NULL, 0), k = 0;
	struct swim_member *m = xcalloc((size_t)n + 1, sizeof(*m));

	n = swim_members(a->swim, m, n); /* the first is this agent */
	for (int i = 0; i < n && k < max; i++)
		if (m[i].status == SWIM_ALIVE || m[i].status == SWIM_SUSPECT)
			out[k++] = m[i].addr;
	free(m);
	return k;
}

/* ---- setup ---- */

static int open_sockets(struct agent *a, char *err, size_t errlen)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(a->o->bind.port),
				 .sin_addr.s_addr = htonl(a->o->bind.ip)};
	int one = 1, rcv = 1 << 20;
	char where[32];

	wire_addr_str(a->o->bind, where, sizeof(where));
	a->udp_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	a->tcp_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (a->udp_fd < 0 || a->tcp_fd < 0) {
		util_seterr(err, errlen, "socket: %s", strerror(errno));
		return -errno;
	}
	setsockopt(a->udp_fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	setsockopt(a->tcp_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* A killed predecessor's sockets live on until the kernel has torn
	 * down its io_uring (in-flight operations first): wait up to 3 s. */
	for (int tries = 0;; tries++) {
		int e = 0;
		if (bind(a->udp_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINVAL)
			e = errno;
		else if (bind(a->tcp_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINVAL)
			e = errno;
		else if (listen(a->tcp_fd, 64) < 0)
			e = errno;
		if (!e)
			return 0;
		if (e != EADDRINUSE || tries == 30) {
			util_seterr(err, errlen, "cannot bind %s: %s", where, strerror(e));
			return -e;
		}
		usleep(100000);
	}
}

/* Every connection is a descriptor: take what the hard limit allows. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int open_signals(struct agent *a, char *err, size_t errlen)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	a->sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (a->sigfd < 0) {
		util_seterr(err, errlen, "signalfd: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

/* The tasks layer: the in-loop SDFS client, this node's worker, the
 * coordinator (active on the node the role rule names). */
static void worker_hello(void *arg, uint64_t epoch, struct wire_addr coordinator,
			 struct wire_addr standby)
{
	struct agent *a = arg;

	if (a->coord)
		coord_learn(a->coord, epoch, coordinator, standby);
}

static int start_tasks(struct agent *a, char *err, size_t errlen)
{
	const struct agent_opts *o = a->o;
	struct sdfs_client_env cenv = {.loop = a->loop,
				       .conns = a->conns,
				       .key = &o->key,
				       .replicas = o->replicas > 0 ? o->replicas : 4,
				       .live = sdfs_live,
				       .arg = a};
	char engine[4200], ring[64], *slash;
	struct worker_env wenv = {.loop = a->loop,
				  .conns = a->conns,
				  .data_dir = o->data_dir,
				  .engine = o->no_engine ? NULL
					    : o->engine	 ? o->engine
							 : engine,
				  .engine_threads = o->engine_threads,
				  .ring_name = ring,
				  .hello = worker_hello,
				  .arg = a};
	int ret = sdfs_client_new(&cenv, &a->sdfs_client);

	if (ret) {
		util_seterr(err, errlen, "sdfs client: %s", strerror(-ret));
		return ret;
	}
	snprintf(engine, sizeof(engine), "%s", a->exe);
	slash = strrchr(engine, '/');
	snprintf(slash ? slash + 1 : engine,
		 sizeof(engine) - (size_t)(slash ? slash + 1 - engine : 0), "engine");
	/* one ring per node on this machine: its address names it */
	snprintf(ring, sizeof(ring), "idunno-%08x-%u", a->self.ip, a->self.port);
	wenv.sdfs = a->sdfs_client;
	ret = worker_new(&wenv, &a->worker, err, errlen);
	if (ret)
		return ret;
	ret = coord_new(&(struct coord_env){.loop = a->loop,
					    .conns = a->conns,
					    .sdfs = a->sdfs_client,
					    .swim = a->swim,
					    .self = a->self,
					    .joining = o->have_join,
					    .never = o->no_coordinator,
					    .queue_max = o->coord_queue_max},
			&a->coord);
	if (ret) {
		util_seterr(err, errlen, "coordinator: %s", strerror(-ret));
		return ret;
	}
	if (o->have_metrics)
		ret = metrics_new(&(struct metrics_env){.loop = a->loop,
							.swim = a->swim,
							.bind = o->metrics,
							.render = render_jobs,
							.arg = a},
				  &a->metrics, err, errlen);
	return ret;
}

static int start_modules(struct agent *a, char *err, size_t errlen)
{
	const struct agent_opts *o = a->o;
	struct conns_env cenv = {.key = &o->key,
				 .self = a->self,
				 .listen_fd = a->tcp_fd,
				 .max_conns = MAX_CONNS,
				 .seal = seal,
				 .admit = admit,
				 .rejected = rejected,
				 .arg = a};
	struct udp_env uenv = {.loop = a->loop,
			       .fd = a->udp_fd,
			       .swim = a->swim,
			       .key = &o->key,
			       .self = a->self,
			       .seal = seal,
			       .fresh = fresh,
			       .admit = admit,
			       .rejected = rejected,
			       .arg = a};
	struct ctl_env tenv = {.loop = a->loop,
			       .swim = a->swim,
			       .log_path = a->log_path,
			       .exe = a->exe,
			       .leave = leave,
			       .stats = all_stats,
			       .describe = describe,
			       .arg = a};
	struct sdfs_env senv = {.key = &o->key,
				.self = a->self,
				.replicas = o->replicas > 0 ? o->replicas : 4,
				.live = sdfs_live,
				.arg = a};
	char sdir[4200];
	int ret;

	ret = conns_new(a->loop, &cenv, &a->conns);
	if (ret) {
		util_seterr(err, errlen, "connections: %s", strerror(-ret));
		return ret;
	}
	ret = udp_new(&uenv, &a->udp, err, errlen);
	if (ret)
		return ret;
	a->udp_fd = -1; /* udp owns it */
	a->owner = loop_register(a->loop, &agent_ops, a);
	tenv.conns = a->conns;
	ret = a->owner < 0 ? a->owner : ctl_new(&tenv, &a->ctl);
	if (ret) {
		util_seterr(err, errlen, "ctl: %s", strerror(-ret));
		return ret;
	}
	snprintf(sdir, sizeof(sdir), "%s/sdfs", o->data_dir);
	ret = sdfs_new(&senv, a->loop, a->conns, sdir, &a->sdfs, err, errlen);
	if (ret)
		return ret;
	return start_tasks(a, err, errlen);
}

int agent_run(const struct agent_opts *o, char *err, size_t errlen)
{
	struct agent *a = xcalloc(1, sizeof(*a));
	char where[32];
	ssize_t n;
	int ret;

	a->o = o;
	a->self = o->advertise.ip ? o->advertise : o->bind; /* --advertise, else --bind */
	raise_fd_limit();
	a->epoch = util_wall_ms() * 1000000ull;
	a->udp_fd = a->tcp_fd = a->sigfd = -1;
	a->replay = wire_replay_new(REPLAY_SENDERS, a->epoch / 1000000); /* refuses older frames */
	n = readlink("/proc/self/exe", a->exe, sizeof(a->exe) - 1);
	a->exe[n > 0 ? n : 0] = '\0';
	snprintf(a->log_path, sizeof(a->log_path), "%s/agent.log", o->data_dir);
	ret = log_open(a->log_path);
	if (ret) {
		util_seterr(err, errlen, "%s: %s", a->log_path, strerror(-ret));
		goto out;
	}
	ret = open_sockets(a, err, errlen);
	if (!ret)
		ret = open_signals(a, err, errlen);
	if (!ret) {
		ret = loop_new(512, &a->loop);
		if (ret)
			util_seterr(err, errlen, "io_uring: %s", strerror(-ret));
	}
	if (ret)
		goto out;
	/* a restarted node comes back as a newer incarnation: its boot time */
	a->swim = swim_new(&o->swim, a->self, util_wall_ms(), a->epoch ^ (uint64_t)getpid(),
			   loop_now_ms());
	swim_set_event(a->swim, on_member, a);
	ret = start_modules(a, err, errlen);
	if (ret)
		goto out;
	wire_addr_str(a->self, where, sizeof(where));
	log_msg(LOG_INFO, "agent %s starting (incarnation %llu)", where,
		(unsigned long long)swim_self(a->swim)->incarnation);
	if (!wire_addr_eq(o->bind, a->self)) {
		char b[32];
		wire_addr_str(o->bind, b, sizeof(b));
		log_msg(LOG_INFO, "listening on %s, advertised as %s", b, where);
	}
	if (o->have_join) {
		char seed[32];
		wire_addr_str(o->join[0], seed, sizeof(seed));
		log_msg(LOG_INFO, "joining through %s%s", seed,
			o->njoin > 1 ? " (and others)" : "");
		swim_join_seeds(a->swim, o->join, MAX(o->njoin, 1), loop_now_ms());
	}
	arm_signal(a);
	log_attach(a->loop); /* the loop writes the log from here on */
	ret = loop_run(a->loop);
	log_msg(LOG_INFO, "agent %s stopped", where);
out:
	/* the ring goes first: nothing of ours is in flight after it */
	loop_free(a->loop);
	metrics_free(a->metrics);
	coord_free(a->coord);
	worker_free(a->worker);
	sdfs_client_free(a->sdfs_client);
	sdfs_free(a->sdfs);
	ctl_free(a->ctl);
	udp_free(a->udp);
	conns_free(a->conns);
	swim_free(a->swim);
	wire_replay_free(a->replay);
	if (a->udp_fd >= 0)
		close(a->udp_fd);
	if (a->tcp_fd >= 0)
		close(a->tcp_fd);
	if (a->sigfd >= 0)
		close(a->sigfd);
	log_close();
	free(a);
	return ret;
}
