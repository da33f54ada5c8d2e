/*
 * exporter.c - serves the engine's per-query latency histograms in the
 * Prometheus text format, from the BPF probes.
 *
 *   exporter [--listen HOST:PORT] [--engine PATH] [--pin-dir DIR]
 *            [--retain-seconds S] [--max-entries N]
 *   exporter --once [--seconds S] [--engine PATH] [--max-entries N]
 *   exporter --no-bpf
 *
 * The series and their labels are lat_export.c's; this file is the
 * command line, the HTTP answers and --once's terminal histograms.
 *
 * Exit codes: 0 clean stop (SIGINT/SIGTERM), 1 error, 2 usage, 3 BPF
 * unavailable (no privilege, no kernel support, or --no-bpf): the
 * scheduler then uses the engine's own timestamps.
 */
#include "core/prom.h"
#include "hist.h"
#include "lat_export.h"
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

#define EXIT_NOBPF 3
#define SWEEP_NS   1000000000ull /* exited engines are expired this often */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void respond(int c, struct lat_export *x, struct latency *lat, uint64_t retain_ns)
{
	char req[4096];
	ssize_t n = 0, r;
	struct timeval tv = {2, 0};
	const char *status = "200 OK", *type = "text/plain; version=0.0.4; charset=utf-8";
	char head[256];
	const char *body;
	size_t blen;
	struct prom_buf b = {0};

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
		lat_export_sweep(x, lat, util_now_ns(), retain_ns);
		lat_export_render(x, lat, &b);
		body = b.p ? b.p : "";
		blen = b.len;
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
	if (write(c, head, strlen(head)) >= 0)
		for (size_t off = 0; off < blen;) {
			ssize_t w = write(c, body + off, blen - off);
			if (w <= 0)
				break;
			off += (size_t)w;
		}
	free(b.p);
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
	printf("  %s: %llu runs\n  %20s : %-8s distribution\n", what, (unsigned long long)h->count,
	       "usecs", "count");
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

	hist_stats(&v->svc, &st);
	printf("node %s, job %u, model %s%s: %llu queries; mean %.3f ms, p50 %.3f, p90 %.3f, "
	       "p99 %.3f ms\n",
	       lat_export_node(arg, k->tgid), k->job, model_name((enum model_id)k->model),
	       k->cold ? " (cold: runs that built their plan)" : "", (unsigned long long)v->queries,
	       st.mean / 1e6, st.p50 / 1e6, st.p90 / 1e6, st.p99 / 1e6);
	print_log2("service time", &v->svc);
	if (v->wait.count)
		print_log2("ring wait", &v->wait);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: exporter [--listen HOST:PORT] [--engine PATH] [--pin-dir DIR]\n"
		"                [--retain-seconds S] [--max-entries N]\n"
		"       exporter --once [--seconds S] [--engine PATH] [--max-entries N]\n"
		"       exporter --no-bpf\n"
		"Serves the engine's per-query latency at http://HOST:PORT/metrics\n"
		"(default 127.0.0.1:9435), its map pinned at DIR/lats (default %s);\n"
		"series no living engine added to for S seconds (300) are dropped;\n"
		"the map holds N (engine, job, model) entries (%d).  --once prints\n"
		"histograms after S seconds (10) and pins nothing.\n"
		"Exit code 3: BPF is unavailable here.\n",
		LATENCY_PIN_DIR, LATENCY_MAX_ENTRIES);
}

/* A number option's value in [lo, hi]: 0, or 2 (usage) with the reason said. */
static int number(const char *opt, const char *v, double lo, double hi, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(v, &end);
	if (errno || end == v || *end || *out < lo || *out > hi) {
		fprintf(stderr, "exporter: %s wants a number from %g to %g, got '%s'\n", opt, lo,
			hi, v);
		return 2;
	}
	return 0;
}

static void serve(int ls, struct latency *lat, double retain)
{
	struct lat_export *x = lat_export_new();
	uint64_t retain_ns = (uint64_t)(retain * 1e9), next_sweep = 0;

	while (!stop) {
		struct pollfd p = {ls, POLLIN, 0};
		int c;
		if (util_now_ns() >= next_sweep) { /* expire exited engines, scraped or not */
			lat_export_sweep(x, lat, util_now_ns(), retain_ns);
			next_sweep = util_now_ns() + SWEEP_NS;
		}
		if (poll(&p, 1, 500) <= 0)
			continue;
		c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		respond(c, x, lat, retain_ns);
		close(c);
	}
	lat_export_free(x);
}

int main(int argc, char **argv)
{
	const char *listen_addr = "127.0.0.1:9435", *pin = LATENCY_PIN_DIR;
	char engine[4096], err[1024];
	int once = 0, nobpf = 0, pin_given = 0, ls = -1, ret;
	double seconds = 10, retain = 300, entries = LATENCY_MAX_ENTRIES;
	struct latency *lat = NULL;

	{
		/* default engine: the one beside this program */
		ssize_t n = readlink("/proc/self/exe", engine, sizeof(engine) - 16);
		char *slash;
		engine[n > 0 ? n : 0] = '\0';
		slash = strrchr(engine, '/');
		snprintf(slash ? slash + 1 : engine, 16, "engine");
	}
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = 0;
		if (!strcmp(o, "--once") || !strcmp(o, "--no-bpf")) {
			*(o[2] == 'o' ? &once : &nobpf) = 1;
			continue;
		}
		if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
			usage(stdout);
			return 0;
		}
		if (strncmp(o, "--", 2) || !v) {
			fprintf(stderr, "exporter: %s: %s\n", o,
				strncmp(o, "--", 2) ? "not an option" : "needs a value");
			usage(stderr);
			return 2;
		}
		i++;
		if (!strcmp(o, "--listen"))
			listen_addr = v;
		else if (!strcmp(o, "--engine"))
			snprintf(engine, sizeof(engine), "%s", v);
		else if (!strcmp(o, "--pin-dir"))
			pin = v, pin_given = 1;
		else if (!strcmp(o, "--seconds"))
			bad = number(o, v, 0, 86400, &seconds);
		else if (!strcmp(o, "--retain-seconds"))
			bad = number(o, v, 0, 1e7, &retain);
		else if (!strcmp(o, "--max-entries"))
			bad = number(o, v, 1, 1 << 20, &entries);
		else {
			fprintf(stderr, "exporter: unknown option %s\n", o);
			usage(stderr);
			return 2;
		}
		if (bad)
			return bad;
	}
	if (nobpf) {
		fprintf(stderr, "exporter: BPF disabled by --no-bpf; latency comes from the "
				"engine's own timestamps\n");
		return EXIT_NOBPF;
	}
	if (once && pin_given) {
		fprintf(stderr,
			"exporter: --once pins nothing; --pin-dir is for a serving exporter\n");
		return 2;
	}
	if (!once) {
		ls = listen_on(listen_addr, err, sizeof(err));
		if (ls < 0) {
			fprintf(stderr, "exporter: %s\n", err);
			return 1;
		}
	}
	/* --once pins nothing: a serving exporter's pin is never touched by it */
	ret = latency_attach(engine, once ? NULL : pin, (unsigned)entries, &lat, err, sizeof(err));
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
		struct lat_export *x = lat_export_new();
		fprintf(stderr, "exporter: tracing %s for %g s\n", engine, seconds);
		while (!stop && util_now_ns() < end)
			usleep(50000);
		latency_foreach(latency_fd(lat), print_entry, x);
		lat_export_free(x);
		latency_detach(lat);
		return 0;
	}
	fprintf(stderr,
		"exporter: serving http://%s/metrics (probes on %s, map pinned at %s/lats)\n",
		listen_addr, engine, pin);
	serve(ls, lat, retain);
	close(ls);
	latency_detach(lat);
	fprintf(stderr, "exporter: stopped\n");
	return 0;
}
