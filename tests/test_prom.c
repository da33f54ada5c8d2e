/*
 * Description: the pure parts of the agent's /metrics (agent/core/prom.c,
 * agent/core/http.c): the modules' "name value" stats become idunno_*
 * counters (_total) and the listed gauges, a non-numeric value a state
 * label, each with HELP and TYPE, malformed lines and repeats skipped;
 * a histogram gives cumulative `le` buckets in seconds, 16 an octave
 * (369 bounds from 8.2 us to 68.7 s), +Inf equal to _count, _sum in
 * seconds; Prometheus's histogram_quantile over them is within 6.25 % of
 * the exact p50/p90/p95/p99 of 20000 engine-like latencies (powers of two
 * were up to 40 % off); idunno_build_info; label values are escaped; the HTTP request
 * head parser accepts GET and HEAD of HTTP/1.0 and 1.1 (CRLF or LF, the
 * query cut from the path), asks for more on a partial head, refuses
 * other methods (405) and garbage (400) as soon as it is seen, and every
 * prefix and 100000 random inputs never crash it.
 */
#include "check.h"
#include "core/http.h"
#include "core/prom.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int has(const struct prom_buf *b, const char *s)
{
	return b->p && strstr(b->p, s) != NULL;
}

static void test_stats(void)
{
	struct prom_buf b = {0};
	const char *stats = "tcp_accepted 12\ntcp_open 3\ntcp_open_client 1\nengine_state running\n"
			    "worker_batches 7\nworker_batches_running 2\nbad line here\n"
			    "Upper 1\ntcp_accepted 99\nsdfs_bytes_in 4096\nneg -1\nnovalue\n";
	int n = prom_stats(&b, stats);

	CHECK(n == 7, "7 metrics, got %d:\n%s", n, b.p);
	CHECK(has(&b, "# TYPE idunno_tcp_accepted_total counter\nidunno_tcp_accepted_total 12\n"),
	      "a counter with _total:\n%s", b.p);
	CHECK(!has(&b, "99"), "a repeated name is written once");
	CHECK(has(&b, "# TYPE idunno_tcp_open gauge\nidunno_tcp_open 3\n"), "a gauge");
	CHECK(has(&b, "# TYPE idunno_tcp_open_client gauge\n"), "a gauge by prefix");
	CHECK(has(&b, "idunno_worker_batches_total 7\n") &&
		      has(&b, "# TYPE idunno_worker_batches_running gauge\n"),
	      "worker_batches a counter, worker_batches_running a gauge");
	CHECK(has(&b,
		  "# TYPE idunno_engine_state gauge\nidunno_engine_state{state=\"running\"} 1\n"),
	      "a state as a label");
	CHECK(has(&b, "idunno_sdfs_bytes_in_total 4096\n"), "bytes counter");
	CHECK(!has(&b, "Upper") && !has(&b, "bad") && !has(&b, "novalue") && !has(&b, "neg"),
	      "malformed lines and a negative counter skipped");
	CHECK(has(&b, "# HELP idunno_tcp_accepted_total "), "HELP lines");
	free(b.p);
	b = (struct prom_buf){0};
	CHECK(prom_stats(&b, "") == 0 && b.len == 0, "no stats, nothing");
	free(b.p);
}

static void test_hist(void)
{
	struct prom_buf b = {0};
	static struct hist h;
	char line[128], esc[16];
	uint64_t prev = 0;

	hist_record(&h, 9000);	     /* 9 us */
	hist_record(&h, 3000000);    /* 3 ms */
	hist_record(&h, 3000000);    /* 3 ms */
	hist_record(&h, 1ull << 40); /* 18 min: only +Inf */
	prom_hist(&b, "x_seconds", "job=\"j\"", &h);
	CHECK(has(&b, "x_seconds_bucket{job=\"j\",le=\"8.192e-06\"} 0\n"), "first bucket 0");
	CHECK(has(&b, "x_seconds_bucket{job=\"j\",le=\"8.704e-06\"} 0\n") &&
		      has(&b, "x_seconds_bucket{job=\"j\",le=\"9.216e-06\"} 1\n"),
	      "9 us in (8.704, 9.216] us: 16 buckets an octave");
	CHECK(has(&b, "x_seconds_bucket{job=\"j\",le=\"0.002883584\"} 1\n") &&
		      has(&b, "x_seconds_bucket{job=\"j\",le=\"0.003014656\"} 3\n"),
	      "3 ms in (2.884, 3.015] ms");
	CHECK(has(&b, "x_seconds_bucket{job=\"j\",le=\"68.719476736\"} 3\n"), "last bound 2^36 ns");
	{
		int n = 0;
		for (const char *p = b.p; (p = strstr(p, "_bucket{")) != NULL; p++)
			n++;
		CHECK(n == (int)HIST_LE_N + 1, "%d buckets, want %d", n, HIST_LE_N + 1);
	}
	CHECK(has(&b, "x_seconds_bucket{job=\"j\",le=\"+Inf\"} 4\n") &&
		      has(&b, "x_seconds_count{job=\"j\"} 4\n"),
	      "+Inf and count");
	snprintf(line, sizeof(line), "x_seconds_sum{job=\"j\"} %.9f\n",
		 (9000 + 6000000 + (double)(1ull << 40)) / 1e9);
	CHECK(has(&b, line), "sum in seconds");
	/* cumulative */
	for (const char *p = b.p; (p = strstr(p, "_bucket{")) != NULL; p++) {
		const char *v = strchr(p, '}') + 2;
		uint64_t x = strtoull(v, NULL, 10);
		CHECK(x >= prev, "buckets cumulative");
		prev = x;
	}
	free(b.p);
	prom_escape("a\"b\\c\nd", esc, sizeof(esc));
	CHECK(!strcmp(esc, "a\\\"b\\\\c\\nd"), "escaped: %s", esc);
	prom_escape("abcdefghijklmnopqrstuvwxyz", esc, sizeof(esc));
	CHECK(strlen(esc) < sizeof(esc), "truncated to fit");
}

/*
 * Prometheus's histogram_quantile() over prom_hist's text: the bucket
 * where the rank q * count falls, linear between its bounds.
 */
static double prom_quantile(const char *text, double q)
{
	double le[HIST_LE_N + 1], cum[HIST_LE_N + 1], rank;
	int n = 0;

	for (const char *p = text; (p = strstr(p, "le=\"")) != NULL && n <= (int)HIST_LE_N; p++) {
		if (!strncmp(p + 4, "+Inf", 4))
			break;
		le[n] = strtod(p + 4, NULL);
		cum[n++] = strtod(strchr(p, '}') + 2, NULL);
	}
	rank = q * cum[n - 1];
	for (int i = 0; i < n; i++)
		if (cum[i] >= rank) {
			double lo = i ? le[i - 1] : 0, below = i ? cum[i - 1] : 0;
			return lo + (le[i] - lo) * (rank - below) / (cum[i] - below);
		}
	return le[n - 1];
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Latencies as the engine's (log-normal around 13 ms, some at 40 ms):
 * histogram_quantile over the exported buckets within 6.25 % of exact. */
static void test_quantiles(void)
{
	enum { N = 20000 };
	static struct hist h;
	static uint64_t v[N];
	struct prom_buf b = {0};
	const double qs[] = {0.5, 0.9, 0.95, 0.99};
	uint64_t x = 88172645463325252ull;

	for (int i = 0; i < N; i++) {
		double u = 0;
		for (int k = 0; k < 12; k++) { /* about normal: a sum of 12 uniforms */
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			u += (double)(x >> 11) / 9007199254740992.0;
		}
		v[i] = (uint64_t)((i % 10 ? 13e6 : 40e6) * exp(0.15 * (u - 6)));
		hist_record(&h, v[i]);
	}
	qsort(v, N, sizeof(v[0]), cmp_u64);
	prom_hist(&b, "q_seconds", "a=\"b\"", &h);
	for (size_t k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
		double exact = (double)v[(size_t)(qs[k] * N) - 1] / 1e9,
		       got = prom_quantile(b.p, qs[k]);
		CHECK(fabs(got - exact) <= 0.0625 * exact,
		      "p%g: histogram_quantile %.6f, exact %.6f", qs[k] * 100, got, exact);
		printf("ok  p%g: histogram_quantile %.6f s, exact %.6f s (%+.2f %%)\n", qs[k] * 100,
		       got, exact, 100 * (got - exact) / exact);
	}
	free(b.p);
	b = (struct prom_buf){0};
	prom_build_info(&b, "agent", "1.2", "");
	CHECK(has(&b, "# TYPE idunno_build_info gauge\nidunno_build_info{program=\"agent\","
		      "version=\"1.2\",commit=\"unknown\"} 1\n"),
	      "build info: %s", b.p);
	free(b.p);
}

static enum http_parse parse(const char *s, char *path, int *head)
{
	return http_req_parse(s, strlen(s), path, 64, head);
}

static void test_http(void)
{
	char path[64];
	int head = 0;
	const char *good[] = {"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n",
			      "GET /metrics HTTP/1.0\n\n", "GET /metrics?x=1 HTTP/1.1\r\n\r\n"};
	const char *bad[] = {"hello\r\n\r\n",
			     "GET\r\n\r\n",
			     "GET /metrics\r\n\r\n",
			     "GET metrics HTTP/1.1\r\n\r\n",
			     "GET /metrics HTTP/2.0\r\n\r\n",
			     "GET /metrics HTTP/1.1\r\nno colon\r\n\r\n",
			     "GET /me\x01trics HTTP/1.1\r\n\r\n",
			     "get /metrics HTTP/1.1\r\n\r\n",
			     "GET  /metrics HTTP/1.1\r\n\r\n",
			     "\x16\x03\x01\x02\x00",
			     "GET /metrics HTTP/1.1\r\n\xff\r\n\r\n",
			     "G3T"};
	char big[HTTP_HEAD_MAX + 10];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CHECK(parse(good[i], path, &head) == HTTP_GET && !strcmp(path, "/metrics") && !head,
		      "good %zu: path %s", i, path);
		for (size_t k = 0; k < strlen(good[i]) - 1; k++)
			CHECK(http_req_parse(good[i], k, path, sizeof(path), &head) == HTTP_MORE,
			      "good %zu prefix %zu: more", i, k);
	}
	CHECK(parse("HEAD /x HTTP/1.1\r\n\r\n", path, &head) == HTTP_GET && head &&
		      !strcmp(path, "/x"),
	      "HEAD");
	CHECK(parse("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", path, &head) ==
		      HTTP_METHOD,
	      "POST: 405");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(parse(bad[i], path, &head) == HTTP_BAD, "bad %zu refused", i);
	CHECK(parse("GE", path, &head) == HTTP_MORE, "a partial method: more");
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /", 5);
	CHECK(http_req_parse(big, sizeof(big), path, sizeof(path), &head) == HTTP_BAD,
	      "a head without end refused");
	memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
	CHECK(http_req_parse(big, HTTP_HEAD_MAX, path, sizeof(path), &head) == HTTP_BAD,
	      "HTTP_HEAD_MAX bytes without the blank line refused");
	CHECK(http_req_parse(big, HTTP_HEAD_MAX - 1, path, sizeof(path), &head) == HTTP_MORE,
	      "one byte less: more");
	{ /* a long path is cut to fit */
		char small[4];
		CHECK(http_req_parse("GET /metrics HTTP/1.1\r\n\r\n", 25, small, sizeof(small),
				     &head) == HTTP_GET &&
			      !strcmp(small, "/me"),
		      "path truncated: %s", small);
	}
	/* fuzz: random bytes and mutations of a good head never crash */
	uint64_t r = 88172645463325252ull;
	int gets = 0;
	for (int i = 0; i < 100000; i++) {
		char in[128];
		size_t n = strlen(good[0]);
		memcpy(in, good[0], n);
		for (int k = 0; k < 1 + i % 4 && n; k++) {
			r ^= r << 13, r ^= r >> 7, r ^= r << 17;
			if (i % 2)
				in[r % n] = (char)(r >> 32);
			else
				n = r % n;
		}
		enum http_parse p = http_req_parse(in, n, path, sizeof(path), &head);
		CHECK(p < HTTP_PARSE_MAX, "a verdict");
		gets += p == HTTP_GET;
	}
	printf("fuzz: %d of 100000 mutated heads still parse as a GET\n", gets);
}

int main(void)
{
	test_stats();
	test_hist();
	test_quantiles();
	test_http();
	return t_result();
}
