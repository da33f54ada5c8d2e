/*
 * Description: ring v2 with a real `engine serve`: a batch of JPEG
 * references into a shard file whose 3rd image is corrupt completes with
 * -EBADMSG for that image alone, and every other image's top-5 matches
 * `engine classify` on the same file; bad references (unset or out-of-range
 * file index, offsets past the end, zero and huge lengths, a directory, a
 * FIFO, a device, a file truncated after the engine opened it, misaligned
 * or out-of-area inputs, an oversized batch, and 400 entries with random
 * fields and references) fail per image or per entry, each completes
 * once, and the engine keeps serving; a model slot set after the engine attached
 * is loaded; weights replaced mid-run change the results of every entry
 * submitted after ring_set_model; a truncated weights file is reported by
 * ring_model_status and its entries fail with that error; the notify
 * eventfd becomes readable after a completion and after a model status
 * change; an engine SIGKILLed mid-JPEG-batch is restarted and every entry
 * completes exactly once with the same results.
 */
#include "check.h"
#include "kern.h"
#include "model.h"
#include "net.h"
#include "proc.h"
#include "ring.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <turbojpeg.h>
#include <unistd.h>

#define NGOOD	8 /* good JPEGs in the shard */
#define CORRUPT 2 /* the batch's 3rd image */
#define MAXQ	64

static char engine[1024], dir[256], shard[512], weights_a[512], weights_b[512], truncw[512];
static struct ring_img good[NGOOD], corrupt, garbage; /* references into the shard */
static float *ref_logits;			      /* NGOOD x 1000, from engine classify */

/* ---- fixtures ---- */

static unsigned char *make_jpeg(int w, int h, unsigned long long seed, unsigned long *len)
{
	tjhandle tj = tjInitCompress();
	unsigned char *rgb = xmalloc((size_t)w * h * 3), *out = NULL;

	/* a smooth gradient under noise: something like a photograph's statistics */
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			for (int c = 0; c < 3; c++) {
				int v = (x * (c + 1) * 255 / w + y * (3 - c) * 255 / h) / 3 +
					(int)(t_randf(&seed) * 40);
				rgb[((size_t)y * w + x) * 3 + c] = (unsigned char)(v < 0     ? 0
										   : v > 255 ? 255
											     : v);
			}
	REQUIRE(tjCompress2(tj, rgb, w, 0, h, TJPF_RGB, &out, len, TJSAMP_420, 90, 0) == 0,
		"encode");
	tjDestroy(tj);
	free(rgb);
	return out;
}

static void append(FILE *f, const void *b, size_t len, struct ring_img *ref)
{
	long at = ftell(f);
	REQUIRE(at >= 0 && fwrite(b, 1, len, f) == len, "write shard");
	if (ref)
		*ref = (struct ring_img){.file = 0, .len = (uint32_t)len, .off = (uint64_t)at};
}

/*
 * The shard: NGOOD JPEGs of ImageNet-like sizes with a few stray bytes
 * between them, a truncated JPEG and random bytes.  Each good JPEG is also
 * written alone, and `engine classify` gives the reference logits.
 */
static void make_fixtures(void)
{
	static const int sizes[NGOOD][2] = {{500, 375}, {375, 500}, {224, 224},	 {640, 480},
					    {300, 200}, {256, 256}, {1000, 700}, {333, 222}};
	char cmd[8192], logits[600];
	FILE *f;
	size_t n = 0;
	int len;

	snprintf(shard, sizeof(shard), "%s/shard-0", dir);
	f = fopen(shard, "wb");
	REQUIRE(f, "create %s", shard);
	len = snprintf(cmd, sizeof(cmd),
		       "'%s' classify --model resnet18 --weights '%s/a.st' "
		       "--threads 1 --logits '%s/ref.logits'",
		       engine, dir, dir);
	for (int i = 0; i < NGOOD; i++) {
		unsigned long jl;
		unsigned char *j = make_jpeg(sizes[i][0], sizes[i][1], 1000 + (unsigned)i, &jl);
		char one[600];
		append(f, "pad", (size_t)(i % 3), NULL);
		append(f, j, jl, &good[i]);
		snprintf(one, sizeof(one), "%s/img%d.jpg", dir, i);
		REQUIRE(util_write_file_atomic(one, j, jl) == 0, "write %s", one);
		len += snprintf(cmd + len, sizeof(cmd) - (size_t)len, " '%s'", one);
		if (i == 1) {
			/* the corrupt one: a JPEG cut short */
			unsigned long cl;
			unsigned char *c = make_jpeg(400, 300, 77, &cl);
			append(f, c, cl * 3 / 5, &corrupt);
			tjFree(c);
		}
		tjFree(j);
	}
	{
		unsigned long long seed = 5;
		unsigned char junk[4096];
		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = (unsigned char)(t_randf(&seed) * 127 + 128);
		append(f, junk, sizeof(junk), &garbage);
	}
	REQUIRE(fclose(f) == 0, "close shard");
	snprintf(cmd + len, sizeof(cmd) - (size_t)len, " > '%s/classify.out' 2>&1", dir);
	REQUIRE(system(cmd) == 0, "engine classify failed: %s", cmd);
	snprintf(logits, sizeof(logits), "%s/ref.logits", dir);
	{
		char *buf;
		REQUIRE(util_read_file(logits, 1u << 26, &buf, &n) == 0 &&
				n == (size_t)NGOOD * MODEL_CLASSES * sizeof(float),
			"reference logits (%zu bytes)", n);
		ref_logits = (float *)buf;
	}
}

/* ---- ring helpers ---- */

static pid_t start_engine(struct ring *r, const char *name, int notify_fd)
{
	char fdarg[16];
	char *args[] = {engine, "serve", "--ring", (char *)name, "--threads",
			"1",	NULL,	 NULL,	   NULL};
	uint32_t gen = ring_engine_gen(r);
	pid_t pid;

	if (notify_fd >= 0) {
		snprintf(fdarg, sizeof(fdarg), "%d", notify_fd);
		args[6] = "--notify-fd";
		args[7] = fdarg;
	}
	REQUIRE(proc_spawn(args, &pid) == 0, "spawn %s", engine);
	REQUIRE(ring_wait_engine(r, gen, 20000) == 0, "engine did not attach");
	return pid;
}

static void stop_engine(struct ring *r, pid_t pid)
{
	int st;

	ring_destroy(r);
	st = proc_wait(pid, 10000);
	CHECK(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "engine did not exit cleanly on stop (status %d)", st);
	if (st < 0) {
		kill(pid, SIGKILL);
		proc_wait(pid, 5000);
	}
}

/* A completion with a copy of its results (taken before the area is reused). */
struct done {
	struct ring_cqe c;
	struct ring_result res[16];
	int count; /* completions seen for the query */
};

static struct done got[MAXQ];

static void submit_jpeg(struct ring *r, uint64_t q, uint32_t slot, const struct ring_img *refs,
			uint32_t n)
{
	struct ring_sqe e = {.query = q, .job = 3, .model = slot, .batch = n, .flags = RING_F_JPEG};

	REQUIRE(q < MAXQ && n <= 16, "test limits");
	REQUIRE(ring_reserve(r, &e) == 0, "reserve %llu", (unsigned long long)q);
	memcpy((char *)ring_data(r) + e.in_off, refs, n * sizeof(*refs));
	REQUIRE(ring_submit(r, &e) == 0, "submit %llu", (unsigned long long)q);
}

/* Reaps n completions into got[] (by query). */
static void collect(struct ring *r, int n)
{
	struct ring_cqe c[16];

	while (n > 0) {
		int k = ring_reap(r, c, 16);
		if (!k)
			REQUIRE(ring_wait(r, 120000) == 0, "no completion within 120 s");
		for (int i = 0; i < k; i++) {
			struct done *d;
			REQUIRE(c[i].query < MAXQ, "unknown query %llu",
				(unsigned long long)c[i].query);
			d = &got[c[i].query];
			d->c = c[i];
			d->count++;
			if (c[i].batch <= 16)
				memcpy(d->res, (char *)ring_data(r) + c[i].out_off,
				       c[i].batch * sizeof(struct ring_result));
		}
		n -= k;
	}
}

/* Waits until the engine has a final word on slot (not -EINPROGRESS). */
static int wait_model(struct ring *r, uint32_t slot, uint32_t *gen)
{
	uint64_t deadline = util_now_ns() + 120000000000ull;
	int st;

	while ((st = ring_model_status(r, slot, gen)) == -EINPROGRESS && util_now_ns() < deadline)
		nanosleep(&(struct timespec){0, 5000000}, NULL);
	return st;
}

/*
 * res matches classify's logits for good image k: the same five classes in
 * the same order (two classes within 1e-5 of each other may swap) with
 * probabilities within 1e-4.
 */
static void check_top5(const struct ring_result *res, int k, const char *what)
{
	const float *l = ref_logits + (size_t)k * MODEL_CLASSES;
	float p[MODEL_CLASSES];
	struct net_top5 t;
	int ok = res->status == 0;

	net_top5(l, &t);
	memcpy(p, l, sizeof(p));
	kern_softmax(p, MODEL_CLASSES);
	for (int i = 0; ok && i < 5; i++) {
		int c = res->idx[i];
		ok = c >= 0 && c < MODEL_CLASSES && fabsf(p[c] - t.prob[i]) <= 1e-5f &&
		     fabsf(res->prob[i] - t.prob[i]) <= 1e-4f;
	}
	CHECK(ok,
	      "%s: image %d: top-5 %d %d %d %d %d (%.5f) status %d, classify says %d %d %d %d %d "
	      "(%.5f)",
	      what, k, res->idx[0], res->idx[1], res->idx[2], res->idx[3], res->idx[4],
	      (double)res->prob[0], res->status, t.idx[0], t.idx[1], t.idx[2], t.idx[3], t.idx[4],
	      (double)t.prob[0]);
}

static int same_top5(const struct ring_result *a, const struct ring_result *b)
{
	return a->status == b->status && !memcmp(a->idx, b->idx, sizeof(a->idx)) &&
	       fabsf(a->prob[0] - b->prob[0]) <= 1e-5f;
}

/* ---- the cases ---- */

/* A JPEG batch with a corrupt 3rd image, then every kind of bad reference. */
static void jpeg_batch(void)
{
	char name[64], path[600];
	struct ring *r;
	struct ring_img refs[16];
	pid_t pid;
	int fifo_ok;

	memset(got, 0, sizeof(got));
	snprintf(name, sizeof(name), "t-jpeg-%d", (int)getpid());
	REQUIRE(ring_create(name, 16, 16u << 20, &r) == 0, "create");
	REQUIRE(ring_set_model(r, 0, "resnet18", weights_a) == 0, "set model");
	REQUIRE(ring_set_file(r, 0, shard) == 0, "set file");
	pid = start_engine(r, name, -1);

	/* q0: seven images, the 3rd corrupt */
	for (int i = 0, k = 0; i < 7; i++)
		refs[i] = i == CORRUPT ? corrupt : good[k++];
	submit_jpeg(r, 0, 0, refs, 7);
	collect(r, 1);
	CHECK(got[0].c.status == 0, "batch with one corrupt image: entry status %d",
	      got[0].c.status);
	CHECK(got[0].res[CORRUPT].status == -EBADMSG && got[0].res[CORRUPT].idx[0] == -1,
	      "corrupt image: status %d", got[0].res[CORRUPT].status);
	for (int i = 0, k = 0; i < 7; i++)
		if (i != CORRUPT)
			check_top5(&got[0].res[i], k++, "batch of 7");
	printf("ok  JPEG batch: corrupt 3rd image -EBADMSG, the other six match classify\n");

	/* q1: bad references, one per image, a good one last */
	{
		struct ring_img big = good[0], zero = good[0], past = good[0], wrap = good[0],
				unset = good[0], outside = good[0], dirref = good[0],
				fiforef = good[0], devref = good[0], huge = good[0];
		struct stat st;
		REQUIRE(stat(shard, &st) == 0, "stat shard");
		big.len = RING_IMG_MAX_LEN + 1;
		huge.off = 0;
		huge.len = RING_IMG_MAX_LEN; /* allowed, but the file is shorter */
		zero.len = 0;
		past.off = (uint64_t)st.st_size - 10;
		wrap.off = UINT64_MAX - 5;
		unset.file = 200;
		outside.file = 100000;
		dirref.file = 1;
		fiforef.file = 2;
		devref.file = 3;
		REQUIRE(ring_set_file(r, 1, dir) == 0, "set dir");
		snprintf(path, sizeof(path), "%s/fifo", dir);
		fifo_ok = mkfifo(path, 0600) == 0;
		REQUIRE(ring_set_file(r, 2, fifo_ok ? path : dir) == 0, "set fifo");
		REQUIRE(ring_set_file(r, 3, "/dev/zero") == 0, "set dev");
		struct ring_img bad[] = {big,	 huge,	  zero,	  past,	   wrap,    unset,  outside,
					 dirref, fiforef, devref, garbage, corrupt, good[5]};
		int32_t want[] = {-EIO, -EIO, -EIO, -EIO,     -EIO,	-EIO, -EIO,
				  -EIO, -EIO, -EIO, -EBADMSG, -EBADMSG, 0};
		submit_jpeg(r, 1, 0, bad, 13);
		collect(r, 1);
		CHECK(got[1].c.status == 0, "entry status %d", got[1].c.status);
		for (int i = 0; i < 13; i++)
			CHECK(got[1].res[i].status == want[i],
			      "bad reference %d: status %d, want %d", i, got[1].res[i].status,
			      want[i]);
		check_top5(&got[1].res[12], 5, "after bad references");
		/* every image bad: the entry fails with the first one's error */
		submit_jpeg(r, 2, 0, bad + 9, 3);
		collect(r, 1);
		CHECK(got[2].c.status == -EIO, "all images bad: entry status %d", got[2].c.status);
	}

	/* q3, q4: a copy of the shard truncated after the engine opened it */
	{
		char copy[600], *buf;
		size_t len;
		snprintf(copy, sizeof(copy), "%s/shard-copy", dir);
		REQUIRE(util_read_file(shard, 1u << 28, &buf, &len) == 0, "read shard");
		REQUIRE(util_write_file_atomic(copy, buf, len) == 0, "copy shard");
		free(buf);
		REQUIRE(ring_set_file(r, 4, copy) == 0, "set copy");
		refs[0] = good[0];
		refs[1] = good[7];
		refs[0].file = refs[1].file = 4;
		submit_jpeg(r, 3, 0, refs, 2);
		collect(r, 1);
		CHECK(got[3].res[0].status == 0 && got[3].res[1].status == 0, "copy: %d %d",
		      got[3].res[0].status, got[3].res[1].status);
		REQUIRE(truncate(copy, (off_t)good[7].off) == 0, "truncate");
		submit_jpeg(r, 4, 0, refs, 2);
		collect(r, 1);
		CHECK(got[4].res[0].status == 0 && got[4].res[1].status == -EIO,
		      "truncated under the engine: %d %d, want 0 -EIO", got[4].res[0].status,
		      got[4].res[1].status);
		check_top5(&got[4].res[0], 0, "truncated copy");
	}

	/* q5..q8: malformed entries */
	{
		struct ring_sqe e = {.query = 5, .batch = 1, .flags = RING_F_JPEG};
		REQUIRE(ring_reserve(r, &e) == 0, "reserve");
		e.in_off = (16u << 20) - 8; /* refs run past the data area */
		REQUIRE(ring_submit(r, &e) == 0, "submit");
		e = (struct ring_sqe){.query = 6, .batch = 1, .flags = RING_F_JPEG};
		REQUIRE(ring_reserve(r, &e) == 0, "reserve");
		e.in_off += 4; /* misaligned */
		REQUIRE(ring_submit(r, &e) == 0, "submit");
		e = (struct ring_sqe){.query = 7, .batch = 1, .flags = RING_F_JPEG};
		REQUIRE(ring_reserve(r, &e) == 0, "reserve");
		e.batch = RING_MAX_JPEG_BATCH + 1; /* forged after the reservation */
		REQUIRE(ring_submit(r, &e) == 0, "submit");
		e = (struct ring_sqe){.query = 8, .batch = 1, .flags = RING_F_JPEG};
		REQUIRE(ring_reserve(r, &e) == 0, "reserve");
		e.out_off = UINT64_MAX - 3;
		REQUIRE(ring_submit(r, &e) == 0, "submit");
		collect(r, 4);
		CHECK(got[5].c.status == -ERANGE && got[5].res[0].status == -ERANGE,
		      "refs outside the area: %d %d", got[5].c.status, got[5].res[0].status);
		CHECK(got[6].c.status == -ERANGE, "misaligned refs: %d", got[6].c.status);
		CHECK(got[7].c.status == -EINVAL, "oversized JPEG batch: %d", got[7].c.status);
		CHECK(got[8].c.status == -ERANGE, "results outside the area: %d", got[8].c.status);
		struct ring_sqe big = {.batch = RING_MAX_JPEG_BATCH + 1, .flags = RING_F_JPEG};
		CHECK(ring_reserve(r, &big) == -EINVAL, "reserve of an oversized JPEG batch");
	}
	/* still serving */
	submit_jpeg(r, 9, 0, &good[3], 1);
	collect(r, 1);
	check_top5(&got[9].res[0], 3, "after malformed entries");
	CHECK(ring_completed(r) == 10, "%llu completions counted",
	      (unsigned long long)ring_completed(r));
	CHECK(ring_engine_busy_since(r) == 0, "busy while idle");
	stop_engine(r, pid);
	if (fifo_ok)
		unlink(path);
	printf("ok  bad references fail per image (-EIO, -EBADMSG), malformed entries per entry; "
	       "the engine keeps serving%s\n",
	       fifo_ok ? "" : " (no FIFO here)");
}

static uint64_t rnd(unsigned long long *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return *s >> 11;
}

/*
 * Entries with random fields and references (forged after the
 * reservation, as a buggy or hostile owner could): each completes once
 * with a documented status, and the engine is still alive and right.
 */
static void fuzz(void)
{
	enum { TOTAL = 400, DATA = 4u << 20 };
	static const int32_t allowed[] = {0,	-EINVAL,  -ERANGE, -ENOENT,
					  -EIO, -EBADMSG, -EDOM,   -EAGAIN};
	unsigned long long seed = 12345;
	unsigned char *count = xcalloc(TOTAL + 1, 1);
	char name[64];
	struct ring *r;
	struct ring_cqe c[16];
	struct stat st;
	int sent = 0, done = 0, bad_status = 0, wst;
	pid_t pid;

	memset(got, 0, sizeof(got));
	REQUIRE(stat(shard, &st) == 0, "stat shard");
	snprintf(name, sizeof(name), "t-fuzz-%d", (int)getpid());
	REQUIRE(ring_create(name, 16, DATA, &r) == 0, "create");
	REQUIRE(ring_set_model(r, 0, "resnet18", weights_a) == 0, "set model");
	REQUIRE(ring_set_file(r, 0, shard) == 0 && ring_set_file(r, 1, dir) == 0 &&
			ring_set_file(r, 2, "/nonexistent/shard") == 0,
		"set files");
	pid = start_engine(r, name, -1);
	while (done < TOTAL) {
		while (sent < TOTAL) {
			uint32_t flags = rnd(&seed) % 4 ? RING_F_JPEG : 0;
			struct ring_sqe e = {.query = (uint64_t)sent,
					     .batch = 1 + (uint32_t)(rnd(&seed) % 4),
					     .flags = flags};
			struct ring_img *refs;
			if (ring_reserve(r, &e))
				break;
			refs = (struct ring_img *)((char *)ring_data(r) + e.in_off);
			for (uint32_t i = 0; flags && i < e.batch; i++) {
				struct ring_img im = good[rnd(&seed) % NGOOD];
				switch (rnd(&seed) % 8) {
				case 0:
					im.file = (uint32_t)(rnd(&seed) % 6);
					break;
				case 1:
					im.off = rnd(&seed) % (uint64_t)st.st_size;
					break;
				case 2:
					im.off = rnd(&seed);
					break;
				case 3:
					im.len = (uint32_t)rnd(&seed);
					break;
				case 4:
					im.len = (uint32_t)(rnd(&seed) % 4096);
					break;
				case 5:
					im.off += rnd(&seed) % 64;
					break;
				default:
					break; /* a good image */
				}
				refs[i] = im;
			}
			switch (rnd(&seed) % 12) {
			case 0:
				e.batch = (uint32_t)rnd(&seed);
				break;
			case 1:
				e.batch = 0;
				break;
			case 2:
				e.in_off = rnd(&seed) % (DATA + 64);
				break;
			case 3:
				e.out_off = rnd(&seed) % (DATA + 64);
				break;
			case 4:
				e.in_off = rnd(&seed);
				break;
			case 5:
				e.out_off = rnd(&seed);
				break;
			case 6:
				e.model = (uint32_t)rnd(&seed);
				break;
			case 7:
				e.model = (uint32_t)(rnd(&seed) % RING_MAX_MODELS);
				break;
			case 8:
				e.flags = (uint32_t)rnd(&seed) & ~RING_F_NOWORK;
				break;
			default:
				break;
			}
			REQUIRE(ring_submit(r, &e) == 0, "submit");
			sent++;
		}
		int k = ring_reap(r, c, 16);
		if (!k)
			REQUIRE(ring_wait(r, 120000) == 0, "no completion within 120 s");
		for (int i = 0; i < k; i++) {
			int ok = 0;
			REQUIRE(c[i].query < TOTAL, "unknown query");
			count[c[i].query]++;
			for (size_t a = 0; a < ARRAY_SIZE(allowed); a++)
				ok |= c[i].status == allowed[a];
			if (!ok && bad_status++ < 5)
				CHECK(ok, "query %llu: undocumented status %d",
				      (unsigned long long)c[i].query, c[i].status);
		}
		done += k;
	}
	for (int q = 0; q < TOTAL; q++)
		CHECK(count[q] == 1, "fuzzed entry %d completed %d times", q, count[q]);
	CHECK(waitpid(pid, &wst, WNOHANG) == 0, "the engine died under fuzzing");
	submit_jpeg(r, 0, 0, &good[4], 1);
	collect(r, 1);
	check_top5(&got[0].res[0], 4, "after fuzzing");
	stop_engine(r, pid);
	free(count);
	printf("ok  %d entries with random fields and references: each completed once, the "
	       "engine alive and right\n",
	       TOTAL);
}

/* Slots set after attach, weights replaced mid-run, a truncated weights file. */
static void dynamic_models(void)
{
	char name[64], err[256];
	struct ring *r;
	struct ring_img two[2] = {good[0], good[6]};
	uint32_t gen = 0;
	pid_t pid;
	int st, trunc_st, differs = 0;

	memset(got, 0, sizeof(got));
	snprintf(name, sizeof(name), "t-models-%d", (int)getpid());
	REQUIRE(ring_create(name, 16, 16u << 20, &r) == 0, "create");
	REQUIRE(ring_set_file(r, 7, shard) == 0, "set file");
	two[0].file = two[1].file = 7;
	pid = start_engine(r, name, -1);
	CHECK(ring_model_status(r, 1, &gen) == -ENOENT, "unset slot");
	{ /* it made itself a batch process, 5 steps nicer than its parent */
		int want = getpriority(PRIO_PROCESS, 0) + 5;

		errno = 0;
		CHECK(getpriority(PRIO_PROCESS, (id_t)pid) == (want > 19 ? 19 : want) && !errno,
		      "engine niceness %d, want %d", getpriority(PRIO_PROCESS, (id_t)pid), want);
		CHECK(sched_getscheduler(pid) == SCHED_BATCH, "engine policy %d, want SCHED_BATCH",
		      sched_getscheduler(pid));
		printf("ok  the engine runs as SCHED_BATCH, 5 steps nicer than its parent\n");
	}

	REQUIRE(ring_set_model(r, 1, "resnet18", weights_a) == 0, "set model");
	/* the load (weights, then the plans for the engine's --warm sizes, 1
	 * and 4 by default: hundreds of ms) shows as loading, and ends */
	{
		uint64_t deadline = util_now_ns() + 120000000000ull;
		int seen = 0;

		while ((st = ring_model_status(r, 1, &gen)) == -EINPROGRESS &&
		       util_now_ns() < deadline) {
			seen |= ring_model_loading(r);
			nanosleep(&(struct timespec){0, 1000000}, NULL);
		}
		CHECK(seen, "the load was never seen as loading (ring_model_loading)");
		CHECK(!ring_model_loading(r), "loading still said after the load");
	}
	CHECK(st == 0 && gen == 1, "slot set after attach: status %d gen %u", st, gen);
	submit_jpeg(r, 0, 1, two, 2);
	collect(r, 1);
	check_top5(&got[0].res[0], 0, "slot set after attach");
	check_top5(&got[0].res[1], 6, "slot set after attach");
	printf("ok  a model slot set after the engine attached is loaded (generation 1)\n");

	/* Mid-run: three entries queued, new weights, three more; then back. */
	for (int q = 1; q <= 3; q++)
		submit_jpeg(r, (uint64_t)q, 1, two, 2);
	REQUIRE(ring_set_model(r, 1, "resnet18", weights_b) == 0, "replace");
	for (int q = 4; q <= 6; q++)
		submit_jpeg(r, (uint64_t)q, 1, two, 2);
	collect(r, 6);
	REQUIRE(ring_set_model(r, 1, "resnet18", weights_a) == 0, "replace back");
	for (int q = 7; q <= 8; q++)
		submit_jpeg(r, (uint64_t)q, 1, two, 2);
	collect(r, 2);
	for (int q = 4; q <= 6; q++) {
		CHECK(got[q].c.status == 0 && same_top5(&got[q].res[0], &got[4].res[0]) &&
			      same_top5(&got[q].res[1], &got[4].res[1]),
		      "entry %d after the replacement differs from entry 4", q);
		differs += !same_top5(&got[q].res[0], &got[0].res[0]) ||
			   !same_top5(&got[q].res[1], &got[0].res[1]);
	}
	CHECK(differs == 3, "only %d of 3 entries after the replacement changed", differs);
	for (int q = 1; q <= 3; q++) /* queued before: either weights */
		CHECK(same_top5(&got[q].res[0], &got[0].res[0]) ||
			      same_top5(&got[q].res[0], &got[4].res[0]),
		      "entry %d queued before the replacement: neither weights' result", q);
	for (int q = 7; q <= 8; q++) {
		check_top5(&got[q].res[0], 0, "weights set back");
		check_top5(&got[q].res[1], 6, "weights set back");
	}
	st = wait_model(r, 1, &gen);
	CHECK(st == 0 && gen == 3, "after two replacements: status %d gen %u", st, gen);
	printf("ok  weights replaced mid-run change every entry submitted after ring_set_model\n");

	REQUIRE(ring_set_model(r, 2, "resnet18", truncw) == 0, "set truncated");
	st = trunc_st = wait_model(r, 2, &gen);
	CHECK(st < 0 && st != -ENOENT && gen == 1, "truncated weights: status %d gen %u", st, gen);
	CHECK(ring_model_error(r, 2, err, sizeof(err)) == st && strstr(err, "truncated"),
	      "truncated weights: message '%s'", err);
	submit_jpeg(r, 9, 2, two, 2);
	submit_jpeg(r, 10, 1, two, 2); /* the other slot is unharmed */
	collect(r, 2);
	CHECK(got[9].c.status == st && got[9].res[0].status == st && got[9].res[1].status == st,
	      "entry for the failed slot: %d %d %d, want %d", got[9].c.status, got[9].res[0].status,
	      got[9].res[1].status, st);
	CHECK(got[10].c.status == 0 && same_top5(&got[10].res[0], &got[0].res[0]),
	      "the loaded slot after a failed load");
	/* the slot recovers when set to good weights; an emptied slot is -ENOENT */
	REQUIRE(ring_set_model(r, 2, "alexnet", weights_a) == 0, "wrong architecture");
	st = wait_model(r, 2, &gen);
	CHECK(st == -EINVAL && gen == 2, "resnet18 weights as alexnet: %d gen %u", st, gen);
	REQUIRE(ring_set_model(r, 2, "resnet18", weights_a) == 0, "good");
	st = wait_model(r, 2, &gen);
	CHECK(st == 0 && gen == 3, "slot set to good weights: %d gen %u", st, gen);
	REQUIRE(ring_set_model(r, 2, NULL, NULL) == 0, "empty");
	submit_jpeg(r, 11, 2, two, 2);
	collect(r, 1);
	CHECK(ring_model_status(r, 2, &gen) == -ENOENT && got[11].c.status == -ENOENT,
	      "emptied slot: entry status %d", got[11].c.status);
	CHECK(ring_set_model(r, RING_MAX_MODELS, "resnet18", weights_a) == -EINVAL &&
		      ring_set_model(r, 0, "", weights_a) == -EINVAL &&
		      ring_set_file(r, RING_MAX_FILES, shard) == -EINVAL,
	      "bad slot or name accepted");
	stop_engine(r, pid);
	printf("ok  a truncated weights file: ring_model_status %d, its entries fail with it; "
	       "the other slots run\n",
	       trunc_st);
}

/* The eventfd is signalled after completions and model status changes. */
static void notify(void)
{
	char name[64];
	struct ring *r;
	struct ring_sqe e = {.query = 0, .batch = 1, .flags = RING_F_NOWORK};
	struct pollfd p;
	uint64_t v = 0;
	uint32_t gen;
	pid_t pid;
	int efd = eventfd(0, EFD_NONBLOCK); /* no EFD_CLOEXEC: the engine inherits it */

	REQUIRE(efd >= 0, "eventfd");
	memset(got, 0, sizeof(got));
	snprintf(name, sizeof(name), "t-notify-%d", (int)getpid());
	REQUIRE(ring_create(name, 8, 1u << 20, &r) == 0, "create");
	pid = start_engine(r, name, efd);
	CHECK(read(efd, &v, sizeof(v)) < 0 && errno == EAGAIN, "readable before any completion");
	REQUIRE(ring_reserve(r, &e) == 0 && ring_submit(r, &e) == 0, "submit");
	p = (struct pollfd){.fd = efd, .events = POLLIN};
	CHECK(poll(&p, 1, 60000) == 1 && (p.revents & POLLIN), "eventfd not readable");
	CHECK(read(efd, &v, sizeof(v)) == sizeof(v) && v >= 1, "eventfd count %llu",
	      (unsigned long long)v);
	collect(r, 1);
	CHECK(got[0].c.status == 0 && ring_completed(r) == 1, "completion");

	REQUIRE(ring_set_model(r, 0, "resnet18", weights_a) == 0, "set model");
	CHECK(poll(&p, 1, 60000) == 1, "eventfd not readable after a model status change");
	CHECK(wait_model(r, 0, &gen) == 0, "model not loaded");
	stop_engine(r, pid);
	close(efd);
	printf("ok  the notify eventfd becomes readable after a completion and a model load\n");
}

/* SIGKILL inside a JPEG batch: restarted, every entry exactly once, same results. */
static void kill_midbatch(void)
{
	enum { TOTAL = 12, BATCH = 4 };
	char name[64];
	struct ring *r;
	struct ring_img refs[TOTAL][BATCH];
	uint32_t gen;
	pid_t pid;
	int resubmitted, st;
	uint64_t deadline;

	memset(got, 0, sizeof(got));
	snprintf(name, sizeof(name), "t-jkill-%d", (int)getpid());
	REQUIRE(ring_create(name, 16, 16u << 20, &r) == 0, "create");
	REQUIRE(ring_set_model(r, 0, "resnet18", weights_a) == 0, "set model");
	REQUIRE(ring_set_file(r, 0, shard) == 0, "set file");
	pid = start_engine(r, name, -1);
	for (int q = 0; q < TOTAL; q++) {
		for (int i = 0; i < BATCH; i++)
			refs[q][i] = good[(q + i) % NGOOD];
		submit_jpeg(r, (uint64_t)q, 0, refs[q], BATCH);
	}
	/* Wait until one entry completed and the engine is inside the next. */
	deadline = util_now_ns() + 120000000000ull;
	while ((ring_completed(r) < 1 || !ring_engine_busy_since(r)) && util_now_ns() < deadline)
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	REQUIRE(ring_completed(r) >= 1 && ring_engine_busy_since(r), "engine never got busy");
	CHECK(ring_engine_busy_since(r) <= util_now_ns(), "busy since the future");
	kill(pid, SIGKILL);
	REQUIRE(proc_wait(pid, 10000) >= 0, "killed engine not reaped");
	resubmitted = ring_recover(r);
	CHECK(resubmitted > 0 && resubmitted < TOTAL, "%d resubmitted", resubmitted);
	CHECK(ring_engine_busy_since(r) == 0, "a dead engine still busy");
	CHECK(ring_model_status(r, 0, &gen) == -EINPROGRESS, "a dead engine's model status kept");
	pid = start_engine(r, name, -1);
	collect(r, TOTAL);
	for (int q = 0; q < TOTAL; q++) {
		CHECK(got[q].count == 1, "entry %d completed %d times", q, got[q].count);
		CHECK(got[q].c.status == 0, "entry %d status %d", q, got[q].c.status);
		for (int i = 0; i < BATCH; i++)
			check_top5(&got[q].res[i], (q + i) % NGOOD, "across the kill");
	}
	CHECK(ring_duplicates(r) == 0, "duplicates %llu", (unsigned long long)ring_duplicates(r));
	st = ring_model_status(r, 0, &gen);
	CHECK(st == 0 && gen == 1, "the new engine's model: %d gen %u", st, gen);
	stop_engine(r, pid);
	printf("ok  engine killed mid-JPEG-batch: %d resubmitted, all %d completed exactly once, "
	       "same results\n",
	       resubmitted, TOTAL);
}

int main(void)
{
	const char *bin = getenv("IDUNNO_BIN");
	char err[512], cmd[300];

	snprintf(engine, sizeof(engine), "%s/engine", bin ? bin : "bin");
	if (access(engine, X_OK))
		T_SKIP("no engine binary at %s (build first)", engine);
	snprintf(dir, sizeof(dir), "/tmp/idunno-rjpeg-XXXXXX");
	REQUIRE(mkdtemp(dir), "mkdtemp");
	snprintf(weights_a, sizeof(weights_a), "%s/a.st", dir);
	snprintf(weights_b, sizeof(weights_b), "%s/b.st", dir);
	snprintf(truncw, sizeof(truncw), "%s/trunc.st", dir);
	REQUIRE(model_generate_weights(MODEL_RESNET18, 5, weights_a, err, sizeof(err)) == 0, "%s",
		err);
	REQUIRE(model_generate_weights(MODEL_RESNET18, 6, weights_b, err, sizeof(err)) == 0, "%s",
		err);
	{
		char *buf;
		size_t len;
		REQUIRE(util_read_file(weights_a, 1u << 28, &buf, &len) == 0, "read weights");
		REQUIRE(util_write_file_atomic(truncw, buf, len / 2) == 0, "write truncated");
		free(buf);
	}
	make_fixtures();
	jpeg_batch();
	fuzz();
	dynamic_models();
	notify();
	kill_midbatch();
	free(ref_logits);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "could not remove %s\n", dir);
	return t_result();
}
