/*
 * exporter.c - serves the engine's per-query latency histograms in the
 * Prometheus text format, from the BPF probes.
 *
 *   exporter [--listen HOST:PORT] [--engine PATH] [--pin-dir DIR]
 *   exporter --once [--seconds S] [--engine PATH]
 *   exporter --no-bpf
 *
 * Exit codes: 0 clean stop (SIGINT/SIGTERM), 1 error, 2 usage, 3 BPF
 * unavailable (no privilege, no kernel support, or --no-bpf): the
 * scheduler then uses the engine's own timestamps.
 */
#include "hist.h"
#include "latency.h"
#include "model.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define EXIT_NOBPF   3
#define PROM_MIN_EXP 10 /* le buckets at 2^10 .. 2^36 ns: 1 us .. 69 s */
#define PROM_MAX_EXP 36

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* A growing text buffer. */
struct buf {
	char *p;
	size_t len, cap;
};

__attribute__((format(printf, 2, 3))) static void bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if ((size_t)n < b->cap - b->len)
			break;
		b->cap = b->cap ? b->cap * 2 : 65536;
		b->p = realloc(b->p, b->cap);
		ASSERT(b->p);
	}
	b->len += (size_t)n;
}

/* node label: the ring name an engine serves (its node), else pid<N>. */
struct label {
	__u32 tgid;
	char node[64];
};

static struct label labels[256];
static int nlabels;

static const char *node_of(__u32 tgid)
{
	char path[64], args[4096];
	struct label *l;
	FILE *f;
	size_t n;

	for (int i = 0; i < nlabels; i++)
		if (labels[i].tgid == tgid)
			return labels[i].node;
	l = &labels[nlabels < (int)ARRAY_SIZE(labels) ? nlabels++ : (int)ARRAY_SIZE(labels) - 1];
	l->tgid = tgid;
	snprintf(l->node, sizeof(l->node), "pid%u", tgid);
	snprintf(path, sizeof(path), "/proc/%u/cmdline", tgid);
	f = fopen(path, "r");
	if (!f)
		return l->node;
	n = fread(args, 1, sizeof(args) - 1, f);
	fclose(f);
	args[n] = '\0';
	for (size_t i = 0; i < n; i += strlen(args + i) + 1)
		if (!strcmp(args + i, "--ring") && i + 6 < n) {
			const char *v = args + i + 7;
			size_t k = 0;
			/* label values: keep to a safe alphabet */
			for (; *v && k + 1 < sizeof(l->node); v++)
				if ((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z') ||
				    (*v >= '0' && *v <= '9') || strchr("-_.:", *v))
					l->node[k++] = *v;
			l->node[k] = '\0';
			break;
		}
	return l->node;
}

struct entry {
	struct lat_key k;
	struct lat_val *v;
};

struct entries {
	struct entry *e;
	int n, cap;
};

static int collect(const struct lat_key *k, const struct lat_val *v, void *arg)
{
	struct entries *es = arg;

	if (es->n == es->cap) {
		es->cap = es->cap ? es->cap * 2 : 16;
		es->e = realloc(es->e, (size_t)es->cap * sizeof(*es->e));
		ASSERT(es->e);
	}
	es->e[es->n].k = *k;
	es->e[es->n].v = memcpy(xmalloc(sizeof(*v)), v, sizeof(*v));
	es->n++;
	return 0;
}

static void free_entries(struct entries *es)
{
	for (int i = 0; i < es->n; i++)
		free(es->e[i].v);
	free(es->e);
}

static void labels_of(const struct lat_key *k, char *out, size_t len)
{
	snprintf(out, len, "node=\"%s\",job=\"%u\",model=\"%s\"", node_of(k->tgid), k->job,
		 model_name((enum model_id)k->model));
}

static void histogram_family(struct buf *b, const struct entries *es, const char *name,
			     const char *help, int wait)
{
	bprintf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (int i = 0; i < es->n; i++) {
		const struct hist *h = wait ? &es->e[i].v->wait : &es->e[i].v->svc;
		char lb[256];
		labels_of(&es->e[i].k, lb, sizeof(lb));
		for (unsigned e = PROM_MIN_EXP; e <= PROM_MAX_EXP; e++)
			bprintf(b, "%s_bucket{%s,le=\"%.9g\"} %llu\n", name, lb,
				(double)(1ull << e) / 1e9,
				(unsigned long long)hist_count_below_pow2(h, e));
		bprintf(b, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name, lb,
			(unsigned long long)h->count);
		bprintf(b, "%s_sum{%s} %.9f\n", name, lb, (double)h->sum / 1e9);
		bprintf(b, "%s_count{%s} %llu\n", name, lb, (unsigned long long)h->count);
	}
}

static void counter_family(struct buf *b, const struct entries *es, const char *name,
			   const char *help, int errors)
{
	bprintf(b, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	for (int i = 0; i < es->n; i++) {
		char lb[256];
		labels_of(&es->e[i].k, lb, sizeof(lb));
		bprintf(b, "%s{%s} %llu\n", name, lb,
			(unsigned long long)(errors ? es->e[i].v->errors : es->e[i].v->svc.count));
	}
}

static void metrics(int fd, struct buf *b)
{
	struct entries es = {0};

	b->len = 0;
	latency_foreach(fd, collect, &es);
	histogram_family(b, &es, "idunno_query_service_seconds",
			 "Engine time per query, from its start probe to its end probe.", 0);
	histogram_family(b, &es, "idunno_query_ring_wait_seconds",
			 "Time from a query's enqueue on the ring to its start in the engine.", 1);
	counter_family(b, &es, "idunno_queries_total", "Queries the engine finished.", 0);
	counter_family(b, &es, "idunno_query_errors_total",
		       "Queries that finished with an error status.", 1);
	free_entries(&es);
}

static void respond(int c, int fd, struct buf *b)
{
	char req[4096];
	ssize_t n = 0, r;
	struct timeval tv = {2, 0};
	const char *status = "200 OK", *type = "text/plain; version=0.0.4; charset=utf-8";
	char head[256];
	const char *body;
	size_t blen;

	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (n < (ssize_t)sizeof(req) - 1 &&
	       (r = read(c, req + n, sizeof(req) - 1 - (size_t)n)) > 0) {
		n += r;
		req[n] = '\0';
		if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
			break;
	}
	req[n > 0 ? n : 0] = '\0';
	if (!strncmp(req, "GET /metrics ", 13) || !strncmp(req, "GET /metrics?", 13)) {
		metrics(fd, b);
		body = b->p ? b->p : "";
		blen = b->len;
	} else if (!strncmp(req, "GET / ", 6)) {
		body = "IDunno latency exporter: see /metrics\n";
		blen = strlen(body);
		type = "text/plain";
	} else {
		status = "404 Not Found";
		body = "not found\n";
		blen = strlen(body);
		type = "text/plain";
	}
	snprintf(head, sizeof(head),
		 "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: "
		 "close\r\n\r\n",
		 status, type, blen);
	if (write(c, head, strlen(head)) < 0)
		return;
	for (size_t off = 0; off < blen;) {
		ssize_t w = write(c, body + off, blen - off);
		if (w <= 0)
			return;
		off += (size_t)w;
	}
}

static int listen_on(const char *hostport, char *err, size_t errlen)
{
	char host[64];
	const char *colon = strrchr(hostport, ':');
	struct sockaddr_in sa = {.sin_family = AF_INET};
	long port;
	int s, one = 1;

	if (!colon || (size_t)(colon - hostport) >= sizeof(host) ||
	    (port = strtol(colon + 1, NULL, 10)) <= 0 || port > 65535) {
		util_seterr(err, errlen, "--listen wants HOST:PORT, got '%s'", hostport);
		return -EINVAL;
	}
	memcpy(host, hostport, (size_t)(colon - hostport));
	host[colon - hostport] = '\0';
	if (inet_pton(AF_INET, host[0] ? host : "0.0.0.0", &sa.sin_addr) != 1) {
		util_seterr(err, errlen, "--listen: '%s' is not an IPv4 address", host);
		return -EINVAL;
	}
	sa.sin_port = htons((uint16_t)port);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 16) < 0) {
		int e = errno;
		util_seterr(err, errlen, "cannot listen on %s: %s", hostport, strerror(e));
		close(s);
		return -e;
	}
	return s;
}

/* --once: bcc-style power-of-two histograms of each (node, job, model). */
static void print_log2(const char *what, const struct hist *h)
{
	uint64_t counts[48] = {0}, max = 0;
	int lo = 48, hi = -1;

	for (unsigned i = 0; i < HIST_NBUCKETS; i++) {
		uint64_t low = hist_bucket_low(i) / 1000; /* us */
		int e = 0;
		while (e < 47 && (1ull << (e + 1)) <= low)
			e++;
		if (!h->b[i])
			continue;
		counts[e] += h->b[i];
		lo = e < lo ? e : lo;
		hi = e > hi ? e : hi;
	}
	printf("  %s: %llu queries\n  %20s : %-8s distribution\n", what,
	       (unsigned long long)h->count, "usecs", "count");
	for (int e = lo; e <= hi; e++)
		max = counts[e] > max ? counts[e] : max;
	for (int e = lo; e <= hi; e++) {
		char bar[41];
		int w = max ? (int)(counts[e] * 40 / max) : 0;
		memset(bar, '*', (size_t)w);
		bar[w] = '\0';
		printf("  %9llu -> %-9llu : %-8llu |%-40s|\n", e ? 1ull << e : 0ull,
		       (1ull << (e + 1)) - 1, (unsigned long long)counts[e], bar);
	}
}

static int print_entry(const struct lat_key *k, const struct lat_val *v, void *arg)
{
	struct hist_stats st;

	(void)arg;
	hist_stats(&v->svc, &st);
	printf("node %s, job %u, model %s: mean %.3f ms, p50 %.3f, p90 %.3f, p99 %.3f ms\n",
	       node_of(k->tgid), k->job, model_name((enum model_id)k->model), st.mean / 1e6,
	       st.p50 / 1e6, st.p90 / 1e6, st.p99 / 1e6);
	print_log2("service time", &v->svc);
	if (v->wait.count)
		print_log2("ring wait", &v->wait);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: exporter [--listen HOST:PORT] [--engine PATH] [--pin-dir DIR]\n"
		   "       exporter --once [--seconds S] [--engine PATH]\n"
		   "       exporter --no-bpf\n"
		   "Serves the engine's per-query latency at http://HOST:PORT/metrics\n"
		   "(default 127.0.0.1:9435); --once prints histograms after S seconds (10).\n"
		   "Exit code 3: BPF is unavailable here.\n");
}

int main(int argc, char **argv)
{
	const char *listen_addr = "127.0.0.1:9435", *pin = LATENCY_PIN_DIR;
	char engine[4096], err[1024];
	int once = 0, nobpf = 0, ls = -1, ret;
	double seconds = 10;
	struct latency *lat = NULL;
	struct buf b = {0};

	{
		/* default engine: the one beside this program */
		ssize_t n = readlink("/proc/self/exe", engine, sizeof(engine) - 16);
		char *slash;
		engine[n > 0 ? n : 0] = '\0';
		slash = strrchr(engine, '/');
		snprintf(slash ? slash + 1 : engine, 16, "engine");
	}
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--listen") && i + 1 < argc)
			listen_addr = argv[++i];
		else if (!strcmp(argv[i], "--engine") && i + 1 < argc)
			snprintf(engine, sizeof(engine), "%s", argv[++i]);
		else if (!strcmp(argv[i], "--pin-dir") && i + 1 < argc)
			pin = argv[++i];
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "--once"))
			once = 1;
		else if (!strcmp(argv[i], "--no-bpf"))
			nobpf = 1;
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (nobpf) {
		fprintf(stderr, "exporter: BPF disabled by --no-bpf; latency comes from the "
				"engine's own timestamps\n");
		return EXIT_NOBPF;
	}
	if (!once) {
		ls = listen_on(listen_addr, err, sizeof(err));
		if (ls < 0) {
			fprintf(stderr, "exporter: %s\n", err);
			return 1;
		}
	}
	ret = latency_attach(engine, pin, &lat, err, sizeof(err));
	if (ret) {
		/* EPERM: no privilege; ENOSYS/EOPNOTSUPP: no kernel support.  (EACCES
		 * is the verifier refusing the program: a bug, not the machine.) */
		int nop = ret == -EPERM || ret == -ENOSYS || ret == -EOPNOTSUPP;
		fprintf(stderr, "exporter: %s%s\n", err,
			nop ? "\nexporter: BPF is unavailable here (it needs root, or CAP_BPF and "
			      "CAP_PERFMON); latency comes from the engine's own timestamps"
			    : "");
		if (ls >= 0)
			close(ls);
		return nop ? EXIT_NOBPF : 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	if (once) {
		uint64_t end = util_now_ns() + (uint64_t)(seconds * 1e9);
		fprintf(stderr, "exporter: tracing %s for %g s\n", engine, seconds);
		while (!stop && util_now_ns() < end)
			usleep(50000);
		latency_foreach(latency_fd(lat), print_entry, NULL);
		latency_detach(lat);
		return 0;
	}
	fprintf(stderr,
		"exporter: serving http://%s/metrics (probes on %s, map pinned at %s/lats)\n",
		listen_addr, engine, pin);
	while (!stop) {
		struct pollfd p = {ls, POLLIN, 0};
		int c;
		if (poll(&p, 1, 500) <= 0)
			continue;
		c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		respond(c, latency_fd(lat), &b);
		close(c);
	}
	free(b.p);
	close(ls);
	latency_detach(lat);
	fprintf(stderr, "exporter: stopped\n");
	return 0;
}
