/*
 * Description: the agent's view of the BPF latency probes: attached with
 * latency_attach() to the engine binary, two engines in turn each run 30
 * ResNet18 queries over a ring; reading the pinned map with
 * latency_open_pinned()/latency_job() gives two entries per engine process
 * (nodes stay apart): a cold one with the first query alone (it built its
 * plan: idunno_query_end's PROBE_COLD) and a warm one with the 29 others,
 * queries counted; service and ring-wait counts of exactly 30 each, a
 * service-time sum within 5 % of the engine's own timestamps, and
 * median/p90/p99 within 10 % of the exact quantiles of those timestamps.
 * Skips where BPF cannot be loaded.
 */
#include "hist.h"
#include "latency.h"
#include "ring_load.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

static void check_against(const char *what, const struct hist *h, uint64_t *v, int n)
{
	static const double qs[] = {0.5, 0.9, 0.99};
	double sum = 0;

	for (int i = 0; i < n; i++)
		sum += (double)v[i];
	qsort(v, (size_t)n, sizeof(*v), util_cmp_u64);
	CHECK(h->count == (uint64_t)n, "%s: count %llu, want %d", what,
	      (unsigned long long)h->count, n);
	CHECK(fabs((double)h->sum - sum) <= 0.05 * sum, "%s: sum %llu vs the engine's %.0f", what,
	      (unsigned long long)h->sum, sum);
	for (size_t k = 0; k < ARRAY_SIZE(qs); k++) {
		size_t i = (size_t)ceil(qs[k] * n);
		double want = (double)v[i ? i - 1 : 0], got = hist_quantile(h, qs[k]);
		CHECK(fabs(got - want) <= 0.10 * want + 5000, "%s p%g: %.0f vs %.0f", what,
		      qs[k] * 100, got, want);
	}
	printf("ok  %-10s count %llu, sum %.3f ms (engine %.3f), p50 %.3f ms\n", what,
	       (unsigned long long)h->count, h->sum / 1e6, sum / 1e6, hist_quantile(h, 0.5) / 1e6);
}

struct cold_count {
	__u32 tgid;
	uint64_t runs[2], queries[2]; /* [cold] */
};

static int count_cold(const struct lat_key *k, const struct lat_val *v, void *arg)
{
	struct cold_count *c = arg;

	if (k->tgid == c->tgid && k->job == LOAD_JOB) {
		c->runs[k->cold ? 1 : 0] += v->svc.count;
		c->queries[k->cold ? 1 : 0] += v->queries;
	}
	return 0;
}

int main(void)
{
	enum { N = 30 };
	const char *bin = getenv("IDUNNO_BIN");
	char engine[1024], pin[128], err[1024], dir[] = "/tmp/idunno-latbpf-XXXXXX", cmd[128];
	struct ring_cqe c[2][N];
	pid_t pids[2];
	struct latency *lat;
	int fd, ret;

	bin = bin ? bin : "bin";
	snprintf(engine, sizeof(engine), "%s/engine", bin);
	snprintf(pin, sizeof(pin), "/sys/fs/bpf/idunno-latbpf-%d", (int)getpid());
	ret = latency_attach(engine, pin, 0, &lat, err, sizeof(err));
	if (ret == -EPERM || ret == -ENOSYS || ret == -EOPNOTSUPP)
		T_SKIP("BPF unavailable: %s", err);
	REQUIRE(ret == 0, "latency_attach: %s", err);
	REQUIRE(mkdtemp(dir), "mkdtemp");
	for (int k = 0; k < 2; k++)
		pids[k] = ring_load(bin, dir, N, c[k]);
	fd = latency_open_pinned(pin);
	REQUIRE(fd >= 0, "latency_open_pinned: %s", strerror(-fd));
	for (int k = 0; k < 2; k++) {
		struct hist *svc = xcalloc(1, sizeof(*svc)), *wait = xcalloc(1, sizeof(*wait));
		uint64_t sv[N], wv[N];
		struct hist_stats st;
		int n = latency_job(fd, (__u32)pids[k], LOAD_JOB, svc, wait);
		struct cold_count cc = {(__u32)pids[k], {0}, {0}};
		/* a warm entry and a cold one: the first query built its plan */
		CHECK(n == 2, "engine %d: %d entries for job %d, want 2", (int)pids[k], n,
		      LOAD_JOB);
		latency_foreach(fd, count_cold, &cc);
		CHECK(cc.runs[1] == 1 && cc.queries[1] == 1 && cc.runs[0] == N - 1 &&
			      cc.queries[0] == N - 1,
		      "engine %d: cold %llu runs %llu queries, warm %llu runs %llu queries",
		      (int)pids[k], (unsigned long long)cc.runs[1],
		      (unsigned long long)cc.queries[1], (unsigned long long)cc.runs[0],
		      (unsigned long long)cc.queries[0]);
		for (int i = 0; i < N; i++) {
			sv[i] = c[k][i].end_ns - c[k][i].start_ns;
			wv[i] = c[k][i].start_ns - c[k][i].enqueue_ns;
		}
		check_against("service", svc, sv, N);
		check_against("ring wait", wait, wv, N);
		hist_stats(svc, &st);
		CHECK(st.count == N && st.p50 <= st.p90 && st.p90 <= st.p95 && st.p95 <= st.p99 &&
			      st.mean > 0 && st.std >= 0,
		      "stats out of order");
		free(svc);
		free(wait);
	}
	{
		struct hist *svc = xcalloc(1, sizeof(*svc)), *wait = xcalloc(1, sizeof(*wait));
		CHECK(latency_job(fd, 0, LOAD_JOB, svc, wait) == 4 && svc->count == 2 * N,
		      "all nodes together: %llu queries", (unsigned long long)svc->count);
		free(svc);
		free(wait);
	}
	close(fd);
	latency_detach(lat);
	CHECK(latency_open_pinned(pin) < 0, "map still pinned after detach");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "could not remove %s\n", dir);
	return t_result();
}
