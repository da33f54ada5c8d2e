/*
 * worker.c - the worker side of the task protocol (see worker.h).
 *
 * One task stream at a time: a HELLO with an epoch at least the highest
 * seen takes the worker over (the stream before it is closed).  Each
 * DISPATCH becomes a batch in a fixed table, a state machine:
 *
 *   PREPARING  its model, index and shards are being made local (inputs.h)
 *   QUEUED     ready, waiting for the engine (one batch runs at a time, so
 *              an express DISPATCH can still go before the waiting ones)
 *   RUNNING    in the engine
 *   then one RESULT (or one REFUSE) on the stream, and the slot is free.
 *
 * The batch's ring entry carries its table index and a generation in the
 * query field, so a completion finds its batch, and a completion for a
 * slot reused since is ignored.
 */
#include "tasks/worker.h"
#include "core/conn.h"
#include "core/log.h"
#include "core/loop.h"
#include "err.h"
#include "tasks/cache.h"
#include "tasks/engine_sup.h"
#include "tasks/inputs.h"
#include "tasks/lat_src.h"
#include "tasks/task_wire.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* batches accepted at once: one runs, the rest wait (an express one may
 * come beyond the advertised slots) */
#define BATCHES_MAX   64
#define SEND_MS	      10000
#define RING_SLOTS    64
#define RING_BYTES    (8u << 20)
#define COLD_MS_IMAGE 200 /* expected time per image before any is measured */

enum bstate { B_FREE, B_PREPARING, B_QUEUED, B_RUNNING, B_STATE_MAX };
static const char *const bstate_names[B_STATE_MAX] = {"free", "preparing", "queued", "running"};

struct batch {
	enum bstate state;
	uint32_t gen;
	struct worker *w;
	struct conn *stream; /* the answer goes here (NULL once it closed) */
	struct task_dispatch d;
	struct inputs_req in;
	uint64_t seq; /* the order batches were accepted in */
};

struct worker {
	struct worker_env env;
	int owner;
	struct cache *cache;
	struct engine_sup *engine;
	struct inputs *inputs;
	struct lat_src *lat;
	struct conn *stream;
	uint64_t epoch;		      /* the highest seen */
	struct wire_addr coordinator; /* its coordinator */
	struct batch b[BATCHES_MAX];
	uint32_t gen;
	uint64_t seq;
	uint64_t ms_per_image; /* measured service time, smoothed */
	/* counters */
	uint64_t n_batches, n_queries, n_failed_queries, n_refused, n_streams;
	uint8_t out[TASK_RESULT_MAX];
};

static void on_stream(void *arg, struct conn *c, enum conn_ev ev, uint64_t tag, int res);

/* ---- answers ---- */

#define TAG_CLOSE 1 /* a send after which the stream is closed */

static void send_msg(struct worker *w, struct conn *c, int len)
{
	if (!c || len < 0)
		return;
	if (conn_send_frame(c, WIRE_RPC_RESP, w->out, (size_t)len, SEND_MS, 0))
		conn_close(c);
}

/* The last word on a stream the worker refuses: sent, then closed. */
static void send_last(struct worker *w, struct conn *c, int len)
{
	if (len < 0 || conn_send_frame(c, WIRE_RPC_RESP, w->out, (size_t)len, SEND_MS, TAG_CLOSE))
		conn_close(c);
}

static void refuse(struct worker *w, struct conn *c, uint64_t batch, int error, const char *why)
{
	struct task_refuse m = {.epoch = w->epoch, .batch = batch, .error = error};

	snprintf(m.reason, sizeof(m.reason), "%s", why);
	w->n_refused++;
	send_msg(w, c, task_refuse_encode(&m, w->out, sizeof(w->out)));
}

static void batch_free(struct batch *b)
{
	if (b->state == B_FREE)
		return;
	inputs_release(b->w->inputs, &b->in);
	b->state = B_FREE;
	b->stream = NULL;
}

/* ---- running ---- */

static void submit_queued(struct worker *w);

/* a runs before b: express first, then the order they were accepted in */
static int batch_before(const struct batch *a, const struct batch *b)
{
	int xa = !!(a->d.flags & TASK_DISPATCH_EXPRESS),
	    xb = !!(b->d.flags & TASK_DISPATCH_EXPRESS);

	return xa != xb ? xa : a->seq < b->seq;
}

static int submit(struct worker *w, struct batch *b)
{
	struct ring_sqe e = {.job = b->d.job,
			     .query = ((uint64_t)b->gen << 32) | (uint64_t)(b - w->b),
			     .model = b->in.slot,
			     .batch = b->d.n,
			     .flags = RING_F_JPEG};
	int ret = engine_sup_submit(w->engine, &e, b->in.img, sizeof(struct ring_img) * b->d.n,
				    w->ms_per_image * b->d.n);

	if (ret == 0)
		b->state = B_RUNNING;
	return ret;
}

/* One batch in the engine at a time: the others wait here, so an express
 * batch (TASK_DISPATCH_EXPRESS) can still go before them.  Express ones
 * first, then oldest first. */
static void submit_queued(struct worker *w)
{
	for (;;) {
		struct batch *next = NULL;
		for (int i = 0; i < BATCHES_MAX; i++) {
			struct batch *b = &w->b[i];
			if (b->state == B_RUNNING)
				return; /* its completion submits the next */
			if (b->state == B_QUEUED && (!next || batch_before(b, next)))
				next = b;
		}
		if (!next)
			return;
		int ret = submit(w, next);
		if (ret == -EAGAIN)
			return; /* the ring is full: the next completion retries */
		if (ret) {
			refuse(w, next->stream, next->d.batch, ret, "the engine cannot take it");
			batch_free(next);
		}
	}
}

static void on_inputs(void *arg, int status, const char *why)
{
	struct batch *b = arg;
	struct worker *w = b->w;

	if (status) {
		refuse(w, b->stream, b->d.batch, status, why);
		batch_free(b);
		return;
	}
	b->state = B_QUEUED;
	submit_queued(w);
}

static void on_done(void *arg, const struct ring_cqe *c, const struct ring_result *res)
{
	struct worker *w = arg;
	struct batch *b = &w->b[(c->query & 0xffffffffu) % BATCHES_MAX];
	struct task_result *m;
	uint64_t service = c->end_ns - c->start_ns, wait = c->start_ns - c->enqueue_ns;
	uint8_t src = TASK_LAT_RING;

	if (b->state != B_RUNNING || b->gen != (uint32_t)(c->query >> 32))
		return;
	if (c->status) {
		/* the whole entry failed: the model did not load, say */
		char msg[160] = "the engine failed the batch";
		int st = ring_model_status(engine_sup_ring(w->engine), b->in.slot, NULL);
		if (st < 0 && st != -EINPROGRESS) {
			ring_model_error(engine_sup_ring(w->engine), b->in.slot, msg, sizeof(msg));
			inputs_model_bad(w->inputs, &b->in);
		}
		refuse(w, b->stream, b->d.batch, st < 0 ? IDN_EBADMODEL : c->status, msg);
		batch_free(b);
		submit_queued(w);
		return;
	}
	/* the probes' figures where they run, else the ring's timestamps */
	if (lat_src_batch(w->lat, (uint32_t)engine_sup_pid(w->engine), b->d.job, loop_now_ms(),
			  &service, &wait) == 0)
		src = TASK_LAT_BPF;
	m = xcalloc(1, sizeof(*m));
	*m = (struct task_result){.epoch = b->d.epoch,
				  .batch = b->d.batch,
				  .job = b->d.job,
				  .lat_src = src,
				  .n = b->d.n};
	for (int i = 0; i < b->d.n; i++) {
		struct task_answer *a = &m->a[i];
		struct ring_result one;
		a->id = b->d.q[i].id;
		/* the engine wrote it: checked (a class out of range reads -EIO) */
		a->status = ring_result_take(&res[i], &one);
		a->service_ns = service;
		a->wait_ns = wait;
		for (int k = 0; k < TASK_TOP && !a->status; k++) {
			a->cls[k] = (uint16_t)one.idx[k];
			a->prob[k] = one.prob[k];
		}
		w->n_failed_queries += a->status != 0;
	}
	w->n_batches++;
	w->n_queries += b->d.n;
	w->ms_per_image = (7 * w->ms_per_image + service / 1000000 / b->d.n + 1) / 8;
	send_msg(w, b->stream, task_result_encode(m, w->out, sizeof(w->out)));
	free(m);
	batch_free(b);
	submit_queued(w);
}

/* ---- the stream ---- */

static void dispatch(struct worker *w, struct conn *c, const uint8_t *p, size_t len)
{
	struct batch *b = NULL;
	struct task_dispatch *d = xmalloc(sizeof(*d));
	int ret = task_dispatch_decode(p, len, d);

	if (ret) {
		refuse(w, c, 0, -EINVAL, "malformed DISPATCH");
		goto out;
	}
	if (d->epoch < w->epoch) {
		char why[120];
		snprintf(why, sizeof(why), "stale epoch %llu: this worker has seen %llu",
			 (unsigned long long)d->epoch, (unsigned long long)w->epoch);
		refuse(w, c, d->batch, IDN_ESTALE_EPOCH, why);
		goto out;
	}
	w->epoch = d->epoch;
	if (engine_sup_state(w->engine) == ENGINE_OFF) {
		refuse(w, c, d->batch, -ENODEV, "this agent runs no engine");
		goto out;
	}
	for (int i = 0; i < BATCHES_MAX && !b; i++)
		if (w->b[i].state == B_FREE)
			b = &w->b[i];
	if (!b) {
		refuse(w, c, d->batch, -EBUSY, "too many batches queued on this worker");
		goto out;
	}
	b->w = w;
	b->gen = ++w->gen;
	b->stream = c;
	b->d = *d;
	b->seq = ++w->seq;
	b->state = B_PREPARING;
	memset(&b->in, 0, sizeof(b->in));
	b->in.d = &b->d;
	if (inputs_prepare(w->inputs, &b->in, on_inputs, b)) {
		refuse(w, c, d->batch, -ENODEV, "no engine ring");
		b->state = B_FREE;
	}
out:
	free(d);
}

static void welcome(struct worker *w, struct conn *c, const struct task_hello *h)
{
	struct task_welcome m = {.epoch = MAX(w->epoch, h->epoch),
				 .slots = (uint16_t)w->env.slots,
				 .engine_ok = engine_sup_state(w->engine) == ENGINE_RUNNING,
				 .lat_src = lat_src_bpf(w->lat) ? TASK_LAT_BPF : TASK_LAT_RING};
	char who[32];

	wire_addr_str(h->coordinator, who, sizeof(who));
	if (h->epoch < w->epoch ||
	    (h->epoch == w->epoch && wire_addr_loses_tie(h->coordinator, w->coordinator))) {
		m.status = IDN_ESTALE_EPOCH;
		log_msg(LOG_WARN,
			"task stream from %s refused: epoch %llu, this worker follows %llu%s", who,
			(unsigned long long)h->epoch, (unsigned long long)w->epoch,
			h->epoch == w->epoch ? " of a coordinator of lower address" : "");
		send_last(w, c, task_welcome_encode(&m, w->out, sizeof(w->out)));
		return;
	}
	w->epoch = h->epoch;
	w->coordinator = h->coordinator;
	if (w->stream && w->stream != c) { /* a newer coordinator takes over */
		for (int i = 0; i < BATCHES_MAX; i++)
			if (w->b[i].stream == w->stream)
				w->b[i].stream = c; /* their answers go to the new one */
		conn_close(w->stream);
	}
	w->stream = c;
	w->n_streams++;
	if (w->env.hello)
		w->env.hello(w->env.arg, h->epoch, h->coordinator, h->standby);
	log_msg(LOG_INFO, "task stream from coordinator %s, epoch %llu", who,
		(unsigned long long)h->epoch);
	send_msg(w, c, task_welcome_encode(&m, w->out, sizeof(w->out)));
}

static void on_stream(void *arg, struct conn *c, enum conn_ev ev, uint64_t tag, int res)
{
	struct worker *w = arg;
	struct wire_hdr h;
	const uint8_t *p;
	size_t len;

	if (ev == CONN_EV_CLOSED) {
		for (int i = 0; i < BATCHES_MAX; i++)
			if (w->b[i].stream == c)
				w->b[i].stream =
					NULL; /* nobody to answer: runs on, answer dropped */
		if (w->stream == c)
			w->stream = NULL;
		return;
	}
	if (ev == CONN_EV_SENT) {
		if (res < 0 || tag == TAG_CLOSE)
			conn_close(c);
		return;
	}
	if (ev != CONN_EV_FRAME || res < 0) {
		conn_close(c);
		return;
	}
	conn_frame(c, &h, &p, &len);
	if (h.type == WIRE_RPC_REQ && len > 0 && p[0] == TASK_DISPATCH) {
		dispatch(w, c, p, len);
	} else if (h.type == WIRE_RPC_REQ && len > 0 && p[0] == TASK_HELLO && c == w->stream) {
		/* the coordinator announces its roles again (a new standby) */
		struct task_hello m;
		if (task_hello_decode(p, len, &m) == 0 && m.epoch == w->epoch && w->env.hello)
			w->env.hello(w->env.arg, m.epoch, m.coordinator, m.standby);
	} else if (!(h.type == WIRE_RPC_REQ && len > 0 && p[0] == TASK_HELLO))
		refuse(w, c, 0, -EINVAL, "not a task message");
	if (conn_recv_frame(c, WIRE_HDR_LEN + TASK_DISPATCH_MAX + WIRE_TAG_LEN, 0, 0))
		conn_close(c);
}

/* The first frame of a task stream (routed here by its type byte). */
static void serve(void *arg, struct conn *c, const struct wire_hdr *h, const uint8_t *p, size_t len)
{
	struct worker *w = arg;
	struct task_hello hello;

	(void)h;
	conn_own(c, on_stream, w);
	if (task_hello_decode(p, len, &hello)) {
		struct task_refuse m = {.epoch = w->epoch, .error = -EINVAL};
		snprintf(m.reason, sizeof(m.reason), "a task stream starts with HELLO");
		w->n_refused++;
		send_last(w, c, task_refuse_encode(&m, w->out, sizeof(w->out)));
		return;
	}
	welcome(w, c, &hello);
	if (w->stream == c &&
	    conn_recv_frame(c, WIRE_HDR_LEN + TASK_DISPATCH_MAX + WIRE_TAG_LEN, 0, 0))
		conn_close(c);
}

/* ---- the module ---- */

size_t worker_describe(const struct worker *w, char *buf, size_t cap)
{
	size_t off = engine_sup_describe(w->engine, buf, cap);

	if (off < cap)
		off += (size_t)snprintf(
			buf + off, cap - off, "latency_source %s\nepoch %llu\n",
			task_lat_src_names[lat_src_bpf(w->lat) ? TASK_LAT_BPF : TASK_LAT_RING],
			(unsigned long long)w->epoch);
	return MIN(off, cap);
}

static size_t stats(void *m, char *buf, size_t cap)
{
	struct worker *w = m;
	int n[B_STATE_MAX] = {0};
	size_t off;

	for (int i = 0; i < BATCHES_MAX; i++)
		n[w->b[i].state]++;
	off = (size_t)snprintf(
		buf, cap,
		"worker_batches %llu\nworker_queries %llu\nworker_failed_queries %llu\n"
		"worker_refused %llu\nworker_streams %llu\nworker_epoch %llu\n",
		(unsigned long long)w->n_batches, (unsigned long long)w->n_queries,
		(unsigned long long)w->n_failed_queries, (unsigned long long)w->n_refused,
		(unsigned long long)w->n_streams, (unsigned long long)w->epoch);
	for (int s = B_PREPARING; s < B_STATE_MAX && off < cap; s++)
		off += (size_t)snprintf(buf + off, cap - off, "worker_batches_%s %d\n",
					bstate_names[s], n[s]);
	return MIN(off, cap);
}

static const struct loop_ops worker_ops = {
	.name = "worker",
	.stats = stats,
};

static void engine_changed(void *arg, enum engine_state s)
{
	struct worker *w = arg;

	if (s == ENGINE_RUNNING)
		submit_queued(w);
}

int worker_new(const struct worker_env *env, struct worker **out, char *err, size_t errlen)
{
	struct worker *w = xcalloc(1, sizeof(*w));
	char dir[4200], log_path[4200];
	struct cache_env cenv = {.loop = env->loop,
				 .sdfs = env->sdfs,
				 .dir = dir,
				 .limit = env->cache_limit ? env->cache_limit : (2ull << 30)};
	struct engine_sup_env eenv = {.loop = env->loop,
				      .engine = env->engine,
				      .threads = env->engine_threads,
				      .log_path = log_path,
				      .ring_name = env->ring_name,
				      .ring_slots = RING_SLOTS,
				      .ring_bytes = RING_BYTES,
				      .done = on_done,
				      .changed = engine_changed,
				      .arg = w};
	int ret;

	if (errlen)
		err[0] = '\0';
	w->env = *env;
	w->env.data_dir = w->env.engine = w->env.ring_name = NULL; /* not kept */
	if (w->env.slots <= 0)
		w->env.slots = WORKER_DEFAULT_SLOTS;
	w->ms_per_image = COLD_MS_IMAGE;
	w->lat = lat_src_new(getenv("IDUNNO_BPF_PIN_DIR"));
	snprintf(dir, sizeof(dir), "%s/cache", env->data_dir);
	snprintf(log_path, sizeof(log_path), "%s/engine.log", env->data_dir);
	ret = cache_new(&cenv, &w->cache, err, errlen);
	if (!ret)
		ret = engine_sup_new(&eenv, &w->engine, err, errlen);
	if (!ret)
		ret = inputs_new(env->loop, env->sdfs, w->cache, engine_sup_ring(w->engine),
				 &w->inputs);
	if (!ret) {
		w->owner = loop_register(env->loop, &worker_ops, w);
		ret = w->owner < 0 ? w->owner
				   : conn_route(env->conns, TASK_HELLO, TASK_MSG_END - 1, serve, w);
	}
	if (ret) {
		if (!err[0])
			util_seterr(err, errlen, "worker: %s", strerror(-ret));
		return ret; /* what was registered stays with the loop until it is freed */
	}
	*out = w;
	return 0;
}

void worker_free(struct worker *w)
{
	if (!w)
		return;
	inputs_free(w->inputs);
	lat_src_free(w->lat);
	engine_sup_free(w->engine);
	cache_free(w->cache);
	free(w);
}
