/*
 * serve.c - the engine's serving loop over the shared-memory ring.
 *
 * Models (serve_models.c): the ring's model table may change at any time;
 * the engine (re)loads a slot whose generation moved, between entries
 * (when ring_next says the table changed, and again before each entry for
 * its own slot), and publishes each slot's status back through the ring.
 *
 * Inputs: float32 tensors in the data area, or (RING_F_JPEG) references
 * to JPEG bytes in files of the ring's file table, read with pread through
 * a small cache of open files keyed by table index and generation, then
 * decoded and preprocessed as `engine classify` does (on the exact path,
 * or the fast one when serve_main is asked for it).  A failed
 * image gets its own status and a zero tensor in the batch (so the batch
 * size, and its compiled plan, stay the same); the others run.
 *
 * Every entry and every reference is checked before use: a model slot
 * that is empty or failed to load, a batch size out of range, offsets
 * outside the data area, a file index, offset or length that is bad, a
 * file that is short, unreadable or not a regular file: each completes
 * with an error status.  Nothing from the ring or the files can crash
 * the engine.
 */
#include "serve_int.h"
#include "image.h"
#include "model.h"
#include "net.h"
#include "probes.h"
#include "ring.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(RING_CLASSES == MODEL_CLASSES, "the agent checks results against RING_CLASSES");

/* ---- files ---- */

/* An open descriptor for file table entry idx at its current generation. */
static int file_fd(struct served *s, uint32_t idx)
{
	uint32_t gen = ring_file_gen(s->re, idx);
	struct open_file *victim = &s->files[0];
	char path[RING_PATH_MAX];
	struct stat st;
	int fd;

	if (!gen)
		return -EIO;
	for (int i = 0; i < SERVE_FILES; i++) {
		struct open_file *f = &s->files[i];
		if (f->gen && f->idx == idx) {
			if (f->gen == gen) {
				f->used = ++s->tick;
				return f->fd;
			}
			close(f->fd); /* replaced by the owner */
			f->gen = 0;
		}
		if (!f->gen ? victim->gen != 0 : victim->gen && f->used < victim->used)
			victim = f;
	}
	if (ring_file_get(s->re, idx, &gen, path))
		return -EIO;
	/* O_NONBLOCK: a FIFO must not stall the engine in open(). */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -EIO;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EIO;
	}
	if (victim->gen)
		close(victim->fd);
	*victim = (struct open_file){.idx = idx, .gen = gen, .fd = fd, .used = ++s->tick};
	return fd;
}

/* Closes the files whose table entries changed (the engine is idle). */
static void files_sweep(struct served *s)
{
	for (int i = 0; i < SERVE_FILES; i++) {
		struct open_file *f = &s->files[i];
		if (f->gen && ring_file_gen(s->re, f->idx) != f->gen) {
			close(f->fd);
			f->gen = 0;
		}
	}
}

/* Reads the bytes im names into s->jpeg. 0, or -EIO. */
static int image_read(struct served *s, const struct ring_img *im)
{
	size_t got = 0;
	int fd;

	if (im->file >= RING_MAX_FILES || im->len == 0 || im->len > RING_IMG_MAX_LEN ||
	    im->off > (uint64_t)INT64_MAX - im->len)
		return -EIO;
	fd = file_fd(s, im->file);
	if (fd < 0)
		return -EIO;
	if (s->jpeg_cap < im->len) {
		free(s->jpeg);
		s->jpeg = xmalloc(im->len);
		s->jpeg_cap = im->len;
	}
	while (got < im->len) {
		ssize_t n = pread(fd, s->jpeg + got, im->len - got, (off_t)(im->off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO; /* past the end, or unreadable */
		got += (size_t)n;
	}
	return 0;
}

/* ---- entries ---- */

static int all_finite(const float *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isfinite(v[i]))
			return 0;
	return 1;
}

static void image_error(struct served *s, const struct ring_sqe *e, uint32_t b, int status,
			const char *why)
{
	if (++s->image_errors <= SERVE_LOGGED_IMAGES)
		fprintf(stderr, "engine serve: query %llu image %u: %s (%s)%s\n",
			(unsigned long long)e->query, b, strerror(-status), why,
			s->image_errors == SERVE_LOGGED_IMAGES ? "; further image errors are "
								 "not logged"
							       : "");
}

/* Decodes the entry's JPEG references into s->tensors; per-image status. */
static void jpeg_inputs(struct served *s, const struct ring_sqe *e, const uint8_t *refs)
{
	char err[512];

	if (s->tensors_cap < e->batch) {
		free(s->tensors);
		s->tensors = xaligned_alloc((size_t)e->batch * IMAGE_BYTES);
		s->tensors_cap = e->batch;
	}
	for (uint32_t b = 0; b < e->batch; b++) {
		float *t = s->tensors + (size_t)b * MODEL_IN_ELEMS;
		struct ring_img im;
		int st;

		memcpy(&im, refs + (size_t)b * sizeof(im), sizeof(im)); /* read once */
		st = image_read(s, &im);
		if (st) {
			util_seterr(err, sizeof(err), "file %u, %u bytes at %llu", im.file, im.len,
				    (unsigned long long)im.off);
		} else {
			st = image_from_jpeg_mode(s->jpeg, im.len, s->o->fast_jpeg, t, err,
						  sizeof(err));
			if (st)
				st = st == -ENOMEM ? -ENOMEM : -EBADMSG;
			else if (!all_finite(t, MODEL_IN_ELEMS))
				st = -EDOM, util_seterr(err, sizeof(err), "non-finite input");
		}
		if (st) {
			image_error(s, e, b, st, err);
			memset(t, 0, IMAGE_BYTES); /* keeps the batch size; its result is dropped */
		}
		s->status[b] = st;
	}
	if (s->jpeg_cap > SERVE_JPEG_KEEP) {
		free(s->jpeg);
		s->jpeg = NULL;
		s->jpeg_cap = 0;
	}
}

static void result_fail(struct ring_result *r, int32_t status)
{
	for (int k = 0; k < 5; k++) {
		r->idx[k] = -1;
		r->prob[k] = 0;
	}
	r->status = status;
}

static void results_fail(struct ring_result *res, uint32_t n, int32_t status)
{
	for (uint32_t b = 0; b < n; b++)
		result_fail(&res[b], status);
}

/*
 * Runs one entry whose model slot is ready (net) and whose results lie in
 * the data area.  Fills every result; returns the entry's status: 0 when
 * at least one image succeeded, else the first image's error, or the
 * entry's own error (then every result carries it).
 */
static int32_t run_entry(struct served *s, const struct ring_sqe *e, struct net *net)
{
	size_t size = ring_engine_data_size(s->re);
	uint8_t *data = ring_engine_data(s->re);
	int jpeg = (e->flags & RING_F_JPEG) != 0;
	size_t in_len = (size_t)e->batch * (jpeg ? sizeof(struct ring_img) : IMAGE_BYTES);
	struct ring_result *res = (struct ring_result *)(data + e->out_off);
	const float *in;
	int32_t first_err = 0;
	uint32_t good = 0, ok = 0;
	char err[512];
	int ret;

	if (e->in_off > size || in_len > size - e->in_off || (e->in_off & (jpeg ? 7 : 3))) {
		results_fail(res, e->batch, -ERANGE);
		return -ERANGE;
	}
	if (jpeg) {
		jpeg_inputs(s, e, data + e->in_off);
		in = s->tensors;
	} else {
		in = (const float *)(data + e->in_off);
		for (uint32_t b = 0; b < e->batch; b++) {
			s->status[b] = all_finite(in + (size_t)b * MODEL_IN_ELEMS, MODEL_IN_ELEMS)
					       ? 0
					       : -EDOM;
			if (s->status[b])
				image_error(s, e, b, -EDOM, "non-finite input");
		}
	}
	for (uint32_t b = 0; b < e->batch; b++)
		good += s->status[b] == 0;
	if (good) {
		/* A tensor with a NaN runs too: samples do not mix, its result is dropped. */
		ret = net_run(net, (int)e->batch, in, s->logits, err, sizeof(err));
		if (ret) {
			fprintf(stderr, "engine serve: query %llu: %s\n",
				(unsigned long long)e->query, err);
			ret = ret < 0 && ret > -4096 ? ret : -EIO;
			results_fail(res, e->batch, ret);
			return ret;
		}
	}
	for (uint32_t b = 0; b < e->batch; b++) {
		const float *l = s->logits + (size_t)b * MODEL_CLASSES;
		struct net_top5 t;
		if (!s->status[b] && !all_finite(l, MODEL_CLASSES)) {
			s->status[b] = -EDOM;
			image_error(s, e, b, -EDOM, "non-finite logits");
		}
		if (s->status[b]) {
			result_fail(&res[b], s->status[b]);
			if (!first_err)
				first_err = s->status[b];
			continue;
		}
		net_top5(l, &t);
		memcpy(res[b].idx, t.idx, sizeof(res[b].idx));
		memcpy(res[b].prob, t.prob, sizeof(res[b].prob));
		res[b].status = 0;
		ok++;
	}
	return ok ? 0 : first_err;
}

/* Checks the entry, readies its model, runs it.  The entry's status. */
static int32_t serve_entry(struct served *s, const struct ring_sqe *e)
{
	size_t size = ring_engine_data_size(s->re);
	size_t out_len = (size_t)e->batch * sizeof(struct ring_result);
	struct ring_result *res;
	int32_t st;

	if (e->batch < 1 || e->batch > RING_MAX_BATCH ||
	    ((e->flags & RING_F_JPEG) && e->batch > RING_MAX_JPEG_BATCH))
		return -EINVAL;
	if (e->out_off > size || out_len > size - e->out_off || (e->out_off & 3))
		return -ERANGE; /* nowhere to write results */
	res = (struct ring_result *)((uint8_t *)ring_engine_data(s->re) + e->out_off);
	st = e->model < RING_MAX_MODELS ? serve_slot_sync(s, e->model) : -ENOENT;
	if (!st && !s->slots[e->model].net)
		st = -ENOENT;
	if (st) {
		results_fail(res, e->batch, st);
		return st;
	}
	return run_entry(s, e, s->slots[e->model].net);
}

int serve_main(const char *ring_name, const struct serve_opts *o)
{
	struct served s;
	struct ring_sqe e;
	int ret;

	memset(&s, 0, sizeof(s));
	s.o = o;
	for (int i = 0; i < RING_MAX_MODELS; i++)
		s.slots[i].status = -ENOENT; /* generation 0: never set */
	ret = ring_attach(ring_name, &s.re);
	if (ret) {
		fprintf(stderr, "engine serve: cannot attach to ring '%s': %s\n", ring_name,
			ret == -EPROTO ? "not an IDunno ring of this version" : strerror(-ret));
		return 1;
	}
	ring_set_notify_fd(s.re, o->notify_fd);
	s.logits = xmalloc((size_t)RING_MAX_BATCH * MODEL_CLASSES * sizeof(float));
	s.status = xcalloc(RING_MAX_BATCH, sizeof(*s.status));
	fprintf(stderr, "engine serve: attached to '%s' as generation %u\n", ring_name,
		ring_gen(s.re));
	for (;;) {
		struct ring_cqe c;
		struct slot *sl;
		uint64_t built;
		ret = ring_next(s.re, &e, 1000);
		if (ret == -EAGAIN) {
			serve_slots_sync_all(&s);
			continue;
		}
		if (ret == -ETIMEDOUT) {
			files_sweep(&s);
			continue;
		}
		if (ret)
			break; /* stop asked, or the owner is gone */
		ring_set_busy(s.re, util_now_ns());
		c = (struct ring_cqe){.seq = e.seq,
				      .query = e.query,
				      .job = e.job,
				      .batch = e.batch,
				      .gen = ring_gen(s.re),
				      .out_off = e.out_off,
				      .enqueue_ns = e.enqueue_ns};
		/* A model (re)load belongs to the ring wait, not to the query's service. */
		if (!(e.flags & RING_F_NOWORK) && e.model < RING_MAX_MODELS)
			serve_slot_sync(&s, e.model);
		sl = e.model < RING_MAX_MODELS ? &s.slots[e.model] : NULL;
		built = sl && sl->net ? net_plans_built(sl->net) : 0;
		/* A plan's creation for a new batch size is a cold start, like
		 * a model's load: wait, for the probes and the ring alike, not
		 * the service time the scheduler and the histograms take (the
		 * run is still labelled cold; an error is the run's to report). */
		if (sl && sl->net && !(e.flags & RING_F_NOWORK) && e.batch >= 1 &&
		    e.batch <= ((e.flags & RING_F_JPEG) ? RING_MAX_JPEG_BATCH : RING_MAX_BATCH)) {
			char perr[8];
			(void)net_prepare(sl->net, (int)e.batch, perr, sizeof(perr));
		}
		idunno_query_start(e.job, e.query, e.batch, e.enqueue_ns,
				   sl && sl->net ? (uint32_t)net_model(sl->net)
						 : (uint32_t)MODEL_MAX);
		c.start_ns = util_now_ns();
		c.status = e.flags & RING_F_NOWORK ? 0 : serve_entry(&s, &e);
		c.end_ns = util_now_ns();
		idunno_query_end(e.job, e.query, c.status,
				 sl && sl->net && net_plans_built(sl->net) != built ? PROBE_COLD
										    : 0);
		ring_complete(s.re, &c); /* and idle, until the next entry */
	}
	for (int i = 0; i < RING_MAX_MODELS; i++)
		net_free(s.slots[i].net);
	for (int i = 0; i < SERVE_FILES; i++)
		if (s.files[i].gen)
			close(s.files[i].fd);
	free(s.logits);
	free(s.tensors);
	free(s.jpeg);
	free(s.status);
	ring_detach(s.re);
	return 0;
}
