/*
 * Description: the agent <-> engine shared-memory ring with a real
 * `engine serve` process: 20000 batches through queue and data-area
 * wrap-around complete exactly once and in order; a full ring pushes back
 * (-EAGAIN) without losing anything; an engine SIGKILLed mid-batch is
 * replaced and every in-flight batch is resubmitted and completed exactly
 * once with the same results; malformed entries complete with an error
 * and the engine keeps serving, and a tensor with a NaN fails only its own
 * image (-EDOM) while the rest of its batch runs; the engine exits when its owner stops the
 * ring or dies.
 */
#include "check.h"
#include "model.h"
#include "proc.h"
#include "ring.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static char engine[1024], tmpdir[256];

static pid_t start_engine(struct ring *r, const char *name)
{
	char *args[] = {engine, "serve", "--ring", (char *)name, "--threads", "1", NULL};
	uint32_t gen = ring_engine_gen(r);
	pid_t pid;

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

static int submit(struct ring *r, uint64_t q, uint32_t batch, uint32_t flags, uint32_t model)
{
	struct ring_sqe e = {.query = q, .job = 7, .batch = batch, .flags = flags, .model = model};
	int ret = ring_reserve(r, &e);
	if (ret)
		return ret;
	return ring_submit(r, &e);
}

/* Thousands of batches through wrap-around of the queues and the data area. */
static void wraparound(void)
{
	const int total = 20000;
	char name[64];
	struct ring *r;
	struct ring_cqe c[16];
	unsigned char *seen = xcalloc(total, 1);
	int sent = 0, done = 0, next_expected = 0;
	pid_t pid;

	snprintf(name, sizeof(name), "t-wrap-%d", (int)getpid());
	/* 8 slots and room for about 5 small batches: both wrap thousands of times */
	REQUIRE(ring_create(name, 8, ring_batch_bytes(2) * 5 + 4096, &r) == 0, "create");
	pid = start_engine(r, name);
	while (done < total) {
		while (sent < total) {
			int ret = submit(r, (uint64_t)sent, 1 + sent % 2, RING_F_NOWORK, 0);
			if (ret == -EAGAIN)
				break;
			REQUIRE(ret == 0, "submit %d: %d", sent, ret);
			sent++;
		}
		int n = ring_reap(r, c, 16);
		if (!n)
			ring_wait(r, 1000);
		for (int i = 0; i < n; i++) {
			uint64_t q = c[i].query;
			REQUIRE(q < (uint64_t)total, "completion for unknown query %llu",
				(unsigned long long)q);
			CHECK(!seen[q], "query %llu completed twice", (unsigned long long)q);
			CHECK(q == (uint64_t)next_expected, "out of order: %llu after %d",
			      (unsigned long long)q, next_expected - 1);
			CHECK(c[i].status == 0 && c[i].batch == 1 + q % 2, "bad completion");
			seen[q] = 1;
			next_expected = (int)q + 1;
			done++;
		}
	}
	CHECK(ring_duplicates(r) == 0, "%llu duplicates", (unsigned long long)ring_duplicates(r));
	stop_engine(r, pid);
	free(seen);
	printf("ok  %d batches through wrap-around, each exactly once, in order\n", total);
}

/* No engine yet: the ring fills and says so; then everything completes. */
static void backpressure(void)
{
	char name[64];
	struct ring *r;
	struct ring_cqe c[16];
	int sent = 0, done = 0, ret;
	pid_t pid;

	snprintf(name, sizeof(name), "t-full-%d", (int)getpid());
	REQUIRE(ring_create(name, 16, 64u << 20, &r) == 0, "create");
	while ((ret = submit(r, (uint64_t)sent, 1, RING_F_NOWORK, 0)) == 0)
		sent++;
	CHECK(ret == -EAGAIN, "full ring returned %d, not -EAGAIN", ret);
	CHECK(sent == 16, "%d entries fit in 16 slots", sent);
	CHECK(ring_inflight(r) == 16, "in flight %u", ring_inflight(r));
	{
		struct ring_sqe big = {.batch = RING_MAX_BATCH};
		CHECK(ring_reserve(r, &big) == -E2BIG,
		      "a batch larger than the data area accepted");
	}
	{
		/* full: no reservation, and giving back none is harmless */
		struct ring_sqe a = {.batch = 1}, toobig = {.batch = RING_MAX_BATCH + 1};
		CHECK(ring_reserve(r, &a) == -EAGAIN, "reserve with every slot in flight");
		CHECK(ring_reserve(r, &toobig) == -EINVAL, "a batch over RING_MAX_BATCH");
		ring_unreserve(r);
	}
	pid = start_engine(r, name);
	CHECK(ring_engine_pid(r) == pid, "engine pid %d, spawned %d", ring_engine_pid(r), (int)pid);
	while (done < sent) {
		int n = ring_reap(r, c, 16);
		if (!n)
			CHECK(ring_wait(r, 10000) == 0, "no completion within 10 s");
		done += n;
	}
	{
		struct ring_sqe a = {.batch = 2}, b = {.batch = 2};
		REQUIRE(ring_reserve(r, &a) == 0, "reserve");
		CHECK(ring_reserve(r, &b) == -EBUSY, "a second pending reservation");
		ring_unreserve(r);
		CHECK(ring_reserve(r, &b) == 0 && b.in_off == a.in_off,
		      "after unreserve the same room is handed out (%llu, %llu)",
		      (unsigned long long)b.in_off, (unsigned long long)a.in_off);
		ring_unreserve(r);
	}
	CHECK(ring_inflight(r) == 0 && submit(r, 99, 1, RING_F_NOWORK, 0) == 0,
	      "ring not usable after draining");
	stop_engine(r, pid);
	printf("ok  full ring pushes back, nothing lost\n");
}

/* Real ResNet18 batches; the engine is killed mid-batch and replaced. */
static void kill_midbatch(const char *weights)
{
	enum { TOTAL = 24, NIMG = 3 };
	char name[64];
	struct ring *r;
	struct ring_cqe c[16];
	struct ring_result ref[NIMG];
	int have_ref[NIMG] = {0}, count[TOTAL] = {0}, done = 0, killed = 0, resubmitted = 0;
	int after_kill = 0;
	unsigned long long seed = 99;
	float *img = xmalloc((size_t)NIMG * MODEL_IN_ELEMS * sizeof(float));
	pid_t pid;

	for (size_t i = 0; i < (size_t)NIMG * MODEL_IN_ELEMS; i++)
		img[i] = t_randf(&seed);
	snprintf(name, sizeof(name), "t-kill-%d", (int)getpid());
	REQUIRE(ring_create(name, 32, 64u << 20, &r) == 0, "create");
	REQUIRE(ring_set_model(r, 0, "resnet18", weights) == 0, "set model");
	pid = start_engine(r, name);
	for (int q = 0; q < TOTAL; q++) {
		struct ring_sqe e = {.query = (uint64_t)q, .job = 1, .batch = 1, .model = 0};
		REQUIRE(ring_reserve(r, &e) == 0, "reserve %d", q);
		/* inputs written once, in place; the engine reads them there */
		memcpy((char *)ring_data(r) + e.in_off, img + (size_t)(q % NIMG) * MODEL_IN_ELEMS,
		       MODEL_IN_ELEMS * sizeof(float));
		REQUIRE(ring_submit(r, &e) == 0, "submit %d", q);
	}
	while (done < TOTAL) {
		int n = ring_reap(r, c, 16);
		if (!n)
			REQUIRE(ring_wait(r, 60000) == 0, "no completion within 60 s");
		for (int i = 0; i < n; i++) {
			int q = (int)c[i].query, k = q % NIMG;
			const struct ring_result *res;
			REQUIRE(q >= 0 && q < TOTAL, "unknown query %d", q);
			count[q]++;
			after_kill += c[i].gen == 2;
			CHECK(c[i].status == 0, "query %d status %d", q, c[i].status);
			res = (const struct ring_result *)((const char *)ring_data(r) +
							   c[i].out_off);
			CHECK(res->status == 0, "query %d image status %d", q, res->status);
			if (!have_ref[k]) {
				ref[k] = *res;
				have_ref[k] = 1;
			}
			CHECK(!memcmp(ref[k].idx, res->idx, sizeof(res->idx)) &&
				      fabsf(ref[k].prob[0] - res->prob[0]) <= 1e-5f,
			      "query %d (image %d): top-5 differs from an earlier run", q, k);
			done++;
		}
		if (!killed && done >= 3) {
			/* the engine is now inside a batch, with ~20 queued behind it */
			CHECK(ring_inflight(r) > 0, "nothing in flight at the kill");
			kill(pid, SIGKILL);
			REQUIRE(proc_wait(pid, 10000) >= 0, "killed engine not reaped");
			resubmitted = ring_recover(r);
			CHECK(resubmitted > 0, "nothing resubmitted");
			pid = start_engine(r, name);
			CHECK(ring_engine_gen(r) == 2, "generation %u after restart",
			      ring_engine_gen(r));
			killed = 1;
		}
	}
	for (int q = 0; q < TOTAL; q++)
		CHECK(count[q] == 1, "query %d completed %d times", q, count[q]);
	CHECK(after_kill >= resubmitted, "%d completions from the new engine, %d resubmitted",
	      after_kill, resubmitted);
	CHECK(ring_duplicates(r) == 0, "duplicates %llu", (unsigned long long)ring_duplicates(r));
	stop_engine(r, pid);
	free(img);
	printf("ok  engine killed mid-batch: %d resubmitted, all %d completed exactly once, "
	       "same results\n",
	       resubmitted, TOTAL);
}

/* Entries the engine must refuse without falling over. */
static void malformed(const char *weights)
{
	char name[64];
	struct ring *r;
	struct ring_cqe c[5];
	pid_t pid;
	int got = 0;
	int32_t status[5] = {1, 1, 1, 1, 1};
	uint64_t nan_out = 0;

	snprintf(name, sizeof(name), "t-bad-%d", (int)getpid());
	REQUIRE(ring_create(name, 8, 8u << 20, &r) == 0, "create");
	REQUIRE(ring_set_model(r, 0, "resnet18", weights) == 0, "set model");
	REQUIRE(ring_set_model(r, 1, "nosuchnet", weights) == 0, "set model");
	pid = start_engine(r, name);
	{
		struct ring_sqe e = {.query = 0, .batch = 1, .model = 3}; /* empty slot */
		REQUIRE(ring_reserve(r, &e) == 0 && ring_submit(r, &e) == 0, "submit");
	}
	{
		struct ring_sqe e = {.query = 1, .batch = 1, .model = 0};
		REQUIRE(ring_reserve(r, &e) == 0, "reserve");
		e.in_off = (8u << 20) - 100; /* inputs run past the data area */
		REQUIRE(ring_submit(r, &e) == 0, "submit");
	}
	{
		struct ring_sqe e = {.query = 2, .batch = 1, .model = 1}; /* unknown model name */
		REQUIRE(ring_reserve(r, &e) == 0 && ring_submit(r, &e) == 0, "submit");
	}
	{
		struct ring_sqe e = {.query = 3, .batch = 1, .model = 0}; /* a good one after */
		REQUIRE(ring_reserve(r, &e) == 0, "reserve");
		memset((char *)ring_data(r) + e.in_off, 0, MODEL_IN_ELEMS * sizeof(float));
		REQUIRE(ring_submit(r, &e) == 0, "submit");
	}
	{
		/* three tensors, the second with a NaN: it alone fails */
		struct ring_sqe e = {.query = 4, .batch = 3, .model = 0};
		float *in, nan = NAN;
		REQUIRE(ring_reserve(r, &e) == 0, "reserve");
		in = (float *)((char *)ring_data(r) + e.in_off);
		memset(in, 0, 3 * MODEL_IN_ELEMS * sizeof(float));
		memcpy(&in[MODEL_IN_ELEMS + 12345], &nan, sizeof(nan));
		nan_out = e.out_off;
		REQUIRE(ring_submit(r, &e) == 0, "submit");
	}
	while (got < 5) {
		int n = ring_reap(r, c, 5);
		if (!n)
			REQUIRE(ring_wait(r, 30000) == 0, "no completion within 30 s");
		for (int i = 0; i < n; i++)
			status[c[i].query] = c[i].status;
		got += n;
	}
	CHECK(status[0] == -ENOENT, "empty model slot: status %d", status[0]);
	CHECK(status[1] == -ERANGE, "offsets outside the data area: status %d", status[1]);
	CHECK(status[2] == -EINVAL, "unknown model name: status %d", status[2]);
	CHECK(status[3] == 0, "good entry after bad ones: status %d", status[3]);
	CHECK(status[4] == 0, "a batch with one NaN tensor: entry status %d", status[4]);
	{
		const struct ring_result *res =
			(const struct ring_result *)((const char *)ring_data(r) + nan_out);
		char err[256];
		uint32_t gen = 99;
		CHECK(res[0].status == 0 && res[2].status == 0 && res[1].status == -EDOM,
		      "per-image status %d %d %d, want 0 -EDOM 0", res[0].status, res[1].status,
		      res[2].status);
		CHECK(res[1].idx[0] == -1 && res[0].idx[0] == res[2].idx[0] && res[0].idx[0] >= 0,
		      "results of the NaN batch: %d %d %d", res[0].idx[0], res[1].idx[0],
		      res[2].idx[0]);
		CHECK(ring_model_status(r, 1, &gen) == -EINVAL && gen == 1,
		      "slot with an unknown model: status %d gen %u", ring_model_status(r, 1, &gen),
		      gen);
		CHECK(ring_model_error(r, 1, err, sizeof(err)) == -EINVAL &&
			      strstr(err, "nosuchnet"),
		      "slot error '%s'", err);
		CHECK(ring_model_status(r, 0, &gen) == 0 && gen == 1, "slot 0: gen %u", gen);
		CHECK(ring_model_status(r, 3, &gen) == -ENOENT, "empty slot");
	}
	stop_engine(r, pid);
	printf("ok  malformed entries complete with errors; a NaN tensor fails only "
	       "itself; the engine keeps serving\n");
}

/* The owner dies without stopping the ring: the engine notices and exits. */
static void owner_dies(void)
{
	char name[64];
	pid_t owner, eng = 0;
	int fds[2], st;

	snprintf(name, sizeof(name), "t-orphan-%d", (int)getpid());
	REQUIRE(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0, "subreaper");
	REQUIRE(pipe(fds) == 0, "pipe");
	owner = fork();
	REQUIRE(owner >= 0, "fork");
	if (owner == 0) {
		struct ring *r;
		pid_t p;
		if (ring_create(name, 8, 1u << 20, &r))
			_exit(1);
		p = start_engine(r, name);
		if (write(fds[1], &p, sizeof(p)) != sizeof(p))
			_exit(1);
		_exit(0); /* dies holding the ring: no ring_destroy */
	}
	REQUIRE(read(fds[0], &eng, sizeof(eng)) == sizeof(eng), "engine pid");
	proc_wait(owner, 5000);
	st = proc_wait(eng, 10000);
	CHECK(st >= 0, "engine still running 10 s after its owner died");
	if (st < 0) {
		kill(eng, SIGKILL);
		proc_wait(eng, 5000);
	}
	{
		char path[128];
		snprintf(path, sizeof(path), "/dev/shm/idunno-%s", name);
		unlink(path);
	}
	close(fds[0]);
	close(fds[1]);
	printf("ok  engine exits when its owner dies\n");
}

int main(void)
{
	const char *bin = getenv("IDUNNO_BIN");

	snprintf(engine, sizeof(engine), "%s/engine", bin ? bin : "bin");
	if (access(engine, X_OK))
		T_SKIP("no engine binary at %s (build first)", engine);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/idunno-ring-XXXXXX");
	REQUIRE(mkdtemp(tmpdir), "mkdtemp");
	{
		char weights[512], err[512];
		snprintf(weights, sizeof(weights), "%s/r18.safetensors", tmpdir);
		REQUIRE(model_generate_weights(MODEL_RESNET18, 5, weights, err, sizeof(err)) == 0,
			"%s", err);
		wraparound();
		backpressure();
		kill_midbatch(weights);
		malformed(weights);
		owner_dies();
	}
	{
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd))
			fprintf(stderr, "could not remove %s\n", tmpdir);
	}
	return t_result();
}
