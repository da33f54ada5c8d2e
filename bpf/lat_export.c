/*
 * lat_export.c - the exporter's series (see lat_export.h).
 */
#include "lat_export.h"
#include "idunno_commit.h"
#include "latency.h"
#include "model.h"
#include "util.h"
#include "version.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NODE_MAX 64

struct series {
	char node[NODE_MAX];
	__u32 job, model;
	struct lat_val gone[2]; /* folded from exited engines, [cold] */
	struct lat_val now[2];	/* the living's entries at the last sweep */
	int live;		/* living entries at the last sweep */
	uint64_t last_live_ns;
};

struct proc {
	__u32 tgid;
	int seen; /* in the map at this sweep */
	char node[NODE_MAX];
};

struct lat_export {
	char host[NODE_MAX];
	struct series **s;
	int ns, scap;
	struct proc *p;
	int np, pcap;
	__u32 *dead;
	int ndead, dcap;
	uint64_t forgotten, entries;
};

/* Label values kept to a safe alphabet. */
static void clean(const char *v, char *out, size_t cap)
{
	size_t k = 0;

	for (; *v && k + 1 < cap; v++)
		if ((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z') ||
		    (*v >= '0' && *v <= '9') || strchr("-_.:", *v))
			out[k++] = *v;
	out[k] = '\0';
}

/*
 * The node an engine's ring names: an agent names its ring
 * idunno-IIIIIIII-PORT (its IPv4 address in hex, agent/core/agent.c), the
 * node is then IP:PORT; any other ring name is the node as it is.
 */
static void node_of_ring(const char *ring, char *out, size_t cap)
{
	unsigned ip, port;
	char end;

	if (sscanf(ring, "idunno-%8x-%u%c", &ip, &port, &end) == 2 && port <= 65535)
		snprintf(out, cap, "%u.%u.%u.%u:%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255,
			 ip & 255, port);
	else
		clean(ring, out, cap);
}

struct lat_export *lat_export_new(void)
{
	struct lat_export *x = xcalloc(1, sizeof(*x));
	char h[256] = "";

	if (gethostname(h, sizeof(h) - 1) < 0 || !h[0])
		snprintf(h, sizeof(h), "localhost");
	clean(h, x->host, sizeof(x->host));
	return x;
}

void lat_export_free(struct lat_export *x)
{
	if (!x)
		return;
	for (int i = 0; i < x->ns; i++)
		free(x->s[i]);
	free(x->s);
	free(x->p);
	free(x->dead);
	free(x);
}

static struct proc *proc_of(struct lat_export *x, __u32 tgid)
{
	char path[64], args[4096];
	struct proc *p;
	FILE *f;
	size_t n;

	for (int i = 0; i < x->np; i++)
		if (x->p[i].tgid == tgid)
			return &x->p[i];
	if (x->np == x->pcap) {
		x->pcap = x->pcap ? 2 * x->pcap : 16;
		x->p = xrealloc(x->p, (size_t)x->pcap * sizeof(*x->p));
	}
	p = &x->p[x->np++];
	*p = (struct proc){.tgid = tgid};
	snprintf(p->node, sizeof(p->node), "%s", x->host);
	snprintf(path, sizeof(path), "/proc/%u/cmdline", tgid);
	f = fopen(path, "r");
	if (!f)
		return p;
	n = fread(args, 1, sizeof(args) - 1, f);
	fclose(f);
	args[n] = '\0';
	for (size_t i = 0; i < n; i += strlen(args + i) + 1)
		if (!strcmp(args + i, "--ring") && i + 7 < n) {
			node_of_ring(args + i + 7, p->node, sizeof(p->node));
			break;
		}
	if (!p->node[0])
		snprintf(p->node, sizeof(p->node), "%s", x->host);
	return p;
}

const char *lat_export_node(struct lat_export *x, __u32 tgid)
{
	return proc_of(x, tgid)->node;
}

static struct series *series_of(struct lat_export *x, const char *node, __u32 job, __u32 model,
				uint64_t now_ns)
{
	struct series *s;

	for (int i = 0; i < x->ns; i++)
		if (x->s[i]->job == job && x->s[i]->model == model && !strcmp(x->s[i]->node, node))
			return x->s[i];
	if (x->ns == x->scap) {
		x->scap = x->scap ? 2 * x->scap : 16;
		x->s = xrealloc(x->s, (size_t)x->scap * sizeof(*x->s));
	}
	s = x->s[x->ns++] = xcalloc(1, sizeof(*s));
	snprintf(s->node, sizeof(s->node), "%s", node);
	s->job = job;
	s->model = model;
	s->last_live_ns = now_ns;
	return s;
}

static void val_add(struct lat_val *d, const struct lat_val *v)
{
	hist_merge(&d->svc, &v->svc);
	hist_merge(&d->wait, &v->wait);
	d->errors += v->errors;
	d->queries += v->queries;
}

struct sweep {
	struct lat_export *x;
	uint64_t now_ns;
};

static int alive(__u32 tgid)
{
	return kill((pid_t)tgid, 0) == 0 || errno == EPERM;
}

static int take(const struct lat_key *k, const struct lat_val *v, void *arg)
{
	struct sweep *w = arg;
	struct lat_export *x = w->x;
	struct proc *p = proc_of(x, k->tgid);
	struct series *s = series_of(x, p->node, k->job, k->model, w->now_ns);
	int cold = k->cold ? 1 : 0;

	x->entries++;
	if (alive(k->tgid)) {
		p->seen = 1;
		val_add(&s->now[cold], v);
		s->live++;
		s->last_live_ns = w->now_ns;
		return 0;
	}
	val_add(&s->gone[cold], v); /* exited: its values stay in the series */
	for (int i = 0; i < x->ndead; i++)
		if (x->dead[i] == k->tgid)
			return 0;
	if (x->ndead == x->dcap) {
		x->dcap = x->dcap ? 2 * x->dcap : 16;
		x->dead = xrealloc(x->dead, (size_t)x->dcap * sizeof(*x->dead));
	}
	x->dead[x->ndead++] = k->tgid;
	return 0;
}

void lat_export_sweep(struct lat_export *x, struct latency *l, uint64_t now_ns, uint64_t retain_ns)
{
	struct sweep w = {x, now_ns};
	int k = 0;

	for (int i = 0; i < x->ns; i++) {
		memset(x->s[i]->now, 0, sizeof(x->s[i]->now));
		x->s[i]->live = 0;
	}
	for (int i = 0; i < x->np; i++)
		x->p[i].seen = 0;
	x->ndead = 0;
	x->entries = 0;
	latency_foreach(latency_fd(l), take, &w);
	for (int i = 0; i < x->ndead; i++) {
		x->entries -= (uint64_t)latency_forget(l, x->dead[i]);
		x->forgotten++;
	}
	/* processes no longer in the map (expired, or whose pid may be reused) */
	for (int i = 0; i < x->np; i++)
		if (x->p[i].seen)
			x->p[k++] = x->p[i];
	x->np = k;
	k = 0;
	for (int i = 0; i < x->ns; i++) {
		struct series *s = x->s[i];
		if (!s->live && now_ns - s->last_live_ns > retain_ns)
			free(s);
		else
			x->s[k++] = s;
	}
	x->ns = k;
}

static void labels(const struct series *s, char *out, size_t cap)
{
	snprintf(out, cap, "node=\"%s\",idunno_job=\"%u\",model=\"%s\"", s->node, s->job,
		 model_name((enum model_id)s->model));
}

/* One of the series' lat_val, gone + now. */
static void total(const struct series *s, int cold, struct lat_val *out)
{
	*out = s->gone[cold];
	val_add(out, &s->now[cold]);
}

enum fam { F_SVC, F_COLD, F_WAIT, F_QUERIES, F_ERRORS, F_MAX };

static const struct {
	const char *name, *type, *help;
} fams[F_MAX] = {
	{"idunno_query_service_seconds", "histogram",
	 "Engine time per run (a batch of queries), start probe to end probe; runs that built "
	 "their plan are in idunno_query_cold_service_seconds."},
	{"idunno_query_cold_service_seconds", "histogram",
	 "Engine time of the runs that built their plan (the first at a batch size after a model "
	 "load)."},
	{"idunno_query_ring_wait_seconds", "histogram",
	 "Time from a run's enqueue on the ring to its start in the engine."},
	{"idunno_queries_total", "counter", "Queries (images) the engine finished."},
	{"idunno_query_errors_total", "counter", "Queries of runs that finished with an error."},
};

void lat_export_render(struct lat_export *x, struct latency *l, struct prom_buf *b)
{
	struct lat_val *v = xmalloc(2 * sizeof(*v));
	uint64_t drops[LAT_DROP_MAX];
	char lb[256];

	prom_build_info(b, "exporter", IDUNNO_VERSION, IDUNNO_COMMIT);
	for (int f = 0; f < F_MAX; f++) {
		prom_family(b, fams[f].name, fams[f].type, fams[f].help);
		for (int i = 0; i < x->ns; i++) {
			total(x->s[i], 0, &v[0]);
			total(x->s[i], 1, &v[1]);
			labels(x->s[i], lb, sizeof(lb));
			if (f == F_SVC || f == F_WAIT)
				prom_hist(b, fams[f].name, lb, f == F_SVC ? &v[0].svc : &v[0].wait);
			else if (f == F_COLD && v[1].svc.count)
				prom_hist(b, fams[f].name, lb, &v[1].svc);
			else if (f == F_QUERIES || f == F_ERRORS)
				prom_printf(
					b, "%s{%s} %llu\n", fams[f].name, lb,
					(unsigned long long)(f == F_QUERIES
								     ? v[0].queries + v[1].queries
								     : v[0].errors + v[1].errors));
		}
	}
	free(v);
	latency_drops(l, drops);
	prom_family(b, "idunno_exporter_dropped_total", "counter",
		    "Observations the probes could not keep: lats_full, no room in the map for a "
		    "new (engine, job, model) entry; starts_full, too many runs in flight.");
	prom_printf(b, "idunno_exporter_dropped_total{reason=\"lats_full\"} %llu\n",
		    (unsigned long long)drops[LAT_DROP_LATS_FULL]);
	prom_printf(b, "idunno_exporter_dropped_total{reason=\"starts_full\"} %llu\n",
		    (unsigned long long)drops[LAT_DROP_STARTS_FULL]);
	prom_family(b, "idunno_exporter_expired_processes_total", "counter",
		    "Engine processes that exited and whose map entries were folded and deleted.");
	prom_printf(b, "idunno_exporter_expired_processes_total %llu\n",
		    (unsigned long long)x->forgotten);
	prom_family(b, "idunno_exporter_map_entries", "gauge",
		    "Entries in the probes' map (one per living engine, job, model and cold).");
	prom_printf(b, "idunno_exporter_map_entries %llu\n", (unsigned long long)x->entries);
	prom_family(b, "idunno_exporter_series", "gauge",
		    "(node, idunno_job, model) series exported.");
	prom_printf(b, "idunno_exporter_series %d\n", x->ns);
}
