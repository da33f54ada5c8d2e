/*
 * qgen - submits queries to jobs through any agent and checks that each
 * was answered exactly once (docs/qgen.md).
 *
 *   qgen [--agent HOST:PORT]... [--key-file FILE]
 *        (--rate R [--poisson] | --concurrency C) (--duration S | --count N)
 *        [--drain S] [--reconnect S] [--client ID] [--seed N] [--json]
 *        [--ledger FILE] [--check-results] JOB...
 *
 * Open loop (--rate: R queries per second per job, evenly spaced or with
 * Poisson arrivals; a slow cluster cannot slow the sender, and latency is
 * measured from each query's due time) or closed loop (--concurrency: C
 * queries of each job in flight).  Images are drawn at random from each
 * job's dataset (by index; the count comes with the connection).  At the
 * end: per job throughput and latency percentiles, and the ledger's
 * verdict (with --check-results, also against the job's results: each
 * answered query there once); the exit status is 0 only when no query was
 * lost, duplicated, unexpected or left unacknowledged (busy ones are
 * counted, not errors).
 */
#include "qgen.h"

#include "cli/resolve.h"

#include "core/agent.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage_text(FILE *f)
{
	fprintf(f,
		"usage: qgen [--agent HOST:PORT]... [--key-file FILE]\n"
		"            (--rate R [--poisson] | --concurrency C) (--duration S | --count N)\n"
		"            [--drain S] [--reconnect S] [--client ID] [--seed N] [--json]\n"
		"            [--ledger FILE] [--check-results] JOB...\n\n"
		"Submits queries to each JOB through any agent and checks that each was\n"
		"answered exactly once (docs/qgen.md).\n\n"
		"options:\n"
		"  --agent HOST:PORT   an agent to connect through; repeat for several\n"
		"                      (default $IDUNNO_AGENT, else 127.0.0.1:7600)\n"
		"  --key-file FILE     the cluster key (default $IDUNNO_KEY_FILE, else\n"
		"                      ./cluster.key)\n"
		"  --rate R            open loop: R queries per second per job\n"
		"  --poisson           ... with Poisson arrivals\n"
		"  --concurrency C     closed loop: C queries of each job in flight\n"
		"  --duration S        submit for S seconds, or\n"
		"  --count N           N queries per job\n"
		"  --drain S           then wait up to S s for the answers still out (30);\n"
		"                      SIGINT or SIGTERM: stop submitting, drain, report\n"
		"  --reconnect S       keep reconnecting a broken connection for S s (30)\n"
		"  --client ID         the client id (a number above 0; default random)\n"
		"  --seed N            the seed of the images drawn\n"
		"  --json              the report as one JSON object\n"
		"  --ledger FILE       every query's fate, JSON Lines\n"
		"  --check-results     also check against the job's results in SDFS\n\n"
		"exit 0 when no query was lost, duplicated, unexpected or left\n"
		"unacknowledged; 1 otherwise; 2 on bad usage.\n\n"
		"example:\n  qgen --agent 10.0.0.1:7600 --concurrency 32 --duration 60 1-m0r1\n");
}

static int usage(const char *why, const char *arg)
{
	if (why)
		fprintf(stderr, "qgen: %s%s%s\n", why, arg ? ": " : "", arg ? arg : "");
	else
		usage_text(stderr);
	return 2;
}

static int num(const char *s, double lo, double hi, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return errno || end == s || *end || !(*out >= lo && *out <= hi) ? -1 : 0;
}

static int parse(struct qgen *g, int argc, char **argv, const char **key_file)
{
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		double d;
		if (!strcmp(o, "--poisson")) {
			g->poisson = 1;
			continue;
		}
		if (!strcmp(o, "--json")) {
			g->json = 1;
			continue;
		}
		if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
			usage_text(stdout);
			return -1; /* done: exit 0 */
		}
		if (!strcmp(o, "--check-results")) {
			g->check_results = 1;
			continue;
		}
		if (o[0] != '-') {
			struct qjob *j;
			if (coord_job_id_check(o))
				return usage("not a job id", o);
			g->j = xrealloc(g->j, (size_t)(g->nj + 1) * sizeof(*g->j));
			j = &g->j[g->nj++];
			memset(j, 0, sizeof(*j));
			snprintf(j->id, sizeof(j->id), "%s", o);
			j->s.fd = -1;
			ledger_init(&j->L);
			continue;
		}
		if (!v)
			return usage("a value is missing after", o);
		i++;
		if (!strcmp(o, "--agent")) {
			char err[320];
			if (g->nagents == 16)
				return usage("--agent: 16 at most", v);
			if (addr_resolve(v, AGENT_DEFAULT_PORT, &g->agents[g->nagents++], err,
					 sizeof(err)))
				return usage("--agent", err);
		} else if (!strcmp(o, "--key-file")) {
			*key_file = v;
		} else if (!strcmp(o, "--rate")) {
			if (num(v, 0.001, 1e6, &g->rate))
				return usage("--rate wants queries per second in (0, 1e6]", v);
		} else if (!strcmp(o, "--concurrency")) {
			if (num(v, 1, 1e6, &d))
				return usage("--concurrency wants 1..1000000", v);
			g->conc = (uint32_t)d;
		} else if (!strcmp(o, "--duration")) {
			if (num(v, 0.001, 1e6, &g->duration))
				return usage("--duration wants seconds above 0", v);
		} else if (!strcmp(o, "--count")) {
			if (num(v, 1, 1e9, &d))
				return usage("--count wants 1..1e9 queries", v);
			g->count = (uint64_t)d;
		} else if (!strcmp(o, "--drain")) {
			if (num(v, 0, 1e6, &g->drain_s))
				return usage("--drain wants seconds", v);
		} else if (!strcmp(o, "--reconnect")) {
			if (num(v, 0, 1e6, &g->reconnect_s))
				return usage("--reconnect wants seconds", v);
		} else if (!strcmp(o, "--client")) {
			if (num(v, 1, 1.8e19, &d))
				return usage("--client wants a number above 0", v);
			g->client_id = strtoull(v, NULL, 10);
		} else if (!strcmp(o, "--seed")) {
			if (num(v, 0, 1e18, &d))
				return usage("--seed wants a number", v);
			g->seed = (uint64_t)d;
		} else if (!strcmp(o, "--ledger")) {
			g->ledger_path = v;
		} else {
			return usage("unknown option", o);
		}
	}
	if (!g->nj)
		return usage("no job named", NULL);
	if ((g->rate > 0) == (g->conc > 0))
		return usage("give one of --rate (open loop) and --concurrency (closed loop)",
			     NULL);
	if ((g->duration > 0) == (g->count > 0))
		return usage("give one of --duration and --count", NULL);
	if (g->poisson && !(g->rate > 0))
		return usage("--poisson is for the open loop (--rate)", NULL);
	if (!g->nagents) { /* $IDUNNO_AGENT, else the local agent */
		const char *env = getenv("IDUNNO_AGENT");
		char err[320];
		if (addr_resolve(env && *env ? env : "127.0.0.1", AGENT_DEFAULT_PORT,
				 &g->agents[g->nagents++], err, sizeof(err)))
			return usage("$IDUNNO_AGENT", err);
	}
	return 0;
}

static void write_ledger(const struct qgen *g, FILE *f)
{
	for (int i = 0; i < g->nj; i++) {
		const struct qjob *j = &g->j[i];
		for (uint64_t k = 0; k < j->L.n; k++) {
			const struct lq *q = &j->L.q[k];
			char who[32];
			if (!q->sent)
				continue;
			wire_addr_str(q->a.worker, who, sizeof(who));
			fprintf(f, "{\"job\":\"%s\",\"cqid\":%llu,\"image\":%u,\"due_ms\":%.3f,",
				j->id, (unsigned long long)k, q->image, (double)q->t_sched / 1e3);
			fprintf(f, "\"submitted_ms\":%.3f,\"acked_ms\":", (double)q->t_sub / 1e3);
			if (q->t_ack == LEDGER_NONE)
				fprintf(f, "null,\"ack\":null,");
			else
				fprintf(f, "%.3f,\"ack\":\"%s\",", (double)q->t_ack / 1e3,
					sub_status_names[q->ack]);
			if (q->answers)
				fprintf(f,
					"\"answered_ms\":%.3f,\"query\":%llu,\"status\":%d,"
					"\"worker\":\"%s\",\"class\":%u,",
					(double)q->t_ans / 1e3, (unsigned long long)q->a.qid,
					q->a.status, who, q->a.cls[0]);
			else
				fprintf(f, "\"answered_ms\":null,");
			fprintf(f, "\"answers\":%u,\"resubmits\":%u,\"duplicated\":%s}\n",
				q->answers, q->resubmits, q->duplicated ? "true" : "false");
		}
		for (uint64_t k = 0; k < j->L.unexpected && k < LEDGER_UNEXPECTED_KEPT; k++)
			fprintf(f, "{\"job\":\"%s\",\"cqid\":%llu,\"unexpected\":true}\n", j->id,
				(unsigned long long)j->L.unexpected_cqid[k]);
	}
}

/* The report; returns whether every ledger is clean and no job was lost. */
static int report(const struct qgen *g, uint64_t now)
{
	struct ledger_verdict t = {0};
	int ok = 1;

	if (g->json)
		printf("{\"mode\":\"%s\",\"elapsed_s\":%.3f,\"jobs\":[",
		       g->rate > 0 ? (g->poisson ? "open-poisson" : "open") : "closed",
		       (double)now / 1e6);
	else
		printf("%-16s %9s %9s %6s %6s %9s %8s %8s %8s %8s %8s\n", "JOB", "SUBMITTED",
		       "ANSWERED", "BUSY", "FAILED", "RATE/S", "P50_MS", "P90_MS", "P99_MS",
		       "P99.9_MS", "MAX_MS");
	for (int i = 0; i < g->nj; i++) {
		const struct qjob *j = &g->j[i];
		struct ledger_verdict v;
		double p[5] = {0}, span;
		ledger_check(&j->L, &v);
		ledger_latency(&j->L, p);
		span = j->last_ans > 0 ? (double)j->last_ans / 1e6 : 0;
		ok &= ledger_clean(&v) && !j->gone;
		ok &= !g->check_results || (j->res_checked && !j->res_missing && !j->res_twice);
		t.submitted += v.submitted, t.acknowledged += v.acknowledged;
		t.answered += v.answered, t.lost += v.lost, t.duplicated += v.duplicated;
		t.unexpected += v.unexpected, t.unacked += v.unacked;
		t.resubmitted += v.resubmitted, t.busy += v.busy;
		if (g->json)
			printf("%s{\"job\":\"%s\",\"submitted\":%llu,\"acknowledged\":%llu,"
			       "\"answered\":%llu,\"busy\":%llu,\"refused\":%llu,\"failed\":%llu,"
			       "\"throughput\":%.3f,\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,"
			       "\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f},\"lost\":%llu,"
			       "\"duplicated\":%llu,\"unexpected\":%llu,\"unacknowledged\":%llu,"
			       "\"resubmitted\":%llu,\"reconnects\":%llu,",
			       i ? "," : "", j->id, (unsigned long long)v.submitted,
			       (unsigned long long)v.acknowledged, (unsigned long long)v.answered,
			       (unsigned long long)v.busy, (unsigned long long)v.refused,
			       (unsigned long long)v.failed,
			       span > 0 ? (double)v.answered / span : 0, p[0] / 1e3, p[1] / 1e3,
			       p[2] / 1e3, p[3] / 1e3, p[4] / 1e3, (unsigned long long)v.lost,
			       (unsigned long long)v.duplicated, (unsigned long long)v.unexpected,
			       (unsigned long long)v.unacked, (unsigned long long)v.resubmitted,
			       (unsigned long long)j->reconnects);
		if (g->json && j->res_checked)
			printf("\"results_missing\":%llu,\"results_twice\":%llu,",
			       (unsigned long long)j->res_missing,
			       (unsigned long long)j->res_twice);
		if (g->json)
			printf("\"error\":");
		else
			printf("%-16s %9llu %9llu %6llu %6llu %9.2f %8.2f %8.2f %8.2f %8.2f "
			       "%8.2f\n",
			       j->id, (unsigned long long)v.submitted,
			       (unsigned long long)v.answered, (unsigned long long)v.busy,
			       (unsigned long long)v.failed,
			       span > 0 ? (double)v.answered / span : 0, p[0] / 1e3, p[1] / 1e3,
			       p[2] / 1e3, p[3] / 1e3, p[4] / 1e3);
		if (!g->json && j->res_checked)
			printf("%-16s results: %llu answered queries missing, %llu there twice\n",
			       "", (unsigned long long)j->res_missing,
			       (unsigned long long)j->res_twice);
		if (g->json && (j->gone || (g->check_results && !j->res_checked))) {
			putchar('"');
			for (const char *s = j->why; *s; s++)
				if (*s != '"' && *s != '\\' && (unsigned char)*s >= 0x20)
					putchar(*s);
			printf("\"}");
		} else if (g->json) {
			printf("null}");
		}
		if (j->gone || (g->check_results && !j->res_checked))
			fprintf(stderr, "qgen: job %s: %s\n", j->id, j->why);
	}
	if (g->json)
		printf("],\"ledger\":{\"submitted\":%llu,\"acknowledged\":%llu,\"answered\":%llu,"
		       "\"lost\":%llu,\"duplicated\":%llu,\"unexpected\":%llu,"
		       "\"unacknowledged\":%llu,\"resubmitted\":%llu},\"ok\":%s}\n",
		       (unsigned long long)t.submitted, (unsigned long long)t.acknowledged,
		       (unsigned long long)t.answered, (unsigned long long)t.lost,
		       (unsigned long long)t.duplicated, (unsigned long long)t.unexpected,
		       (unsigned long long)t.unacked, (unsigned long long)t.resubmitted,
		       ok ? "true" : "false");
	else
		printf("ledger: submitted %llu, acknowledged %llu, answered %llu, busy %llu; "
		       "lost %llu, duplicated %llu, unexpected %llu, unacknowledged %llu; "
		       "re-submitted %llu: %s\n",
		       (unsigned long long)t.submitted, (unsigned long long)t.acknowledged,
		       (unsigned long long)t.answered, (unsigned long long)t.busy,
		       (unsigned long long)t.lost, (unsigned long long)t.duplicated,
		       (unsigned long long)t.unexpected, (unsigned long long)t.unacked,
		       (unsigned long long)t.resubmitted, ok ? "OK" : "FAILED");
	return ok;
}

static void on_stop(int sig)
{
	(void)sig;
	qgen_stop = 1;
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_stop, .sa_flags = SA_RESETHAND};
	struct qgen *g = xcalloc(1, sizeof(*g));
	const char *key_file = getenv("IDUNNO_KEY_FILE");
	struct wire_key key;
	int ret;

	if (sodium_init() < 0) {
		fprintf(stderr, "qgen: libsodium failed to start\n");
		return 1;
	}
	g->drain_s = 30;
	g->reconnect_s = 30;
	ret = parse(g, argc, argv, &key_file);
	if (ret) {
		ret = ret < 0 ? 0 : ret;
		goto out;
	}
	g->key_file = key_file ? key_file : "cluster.key";
	ret = wire_key_load(key_file ? key_file : "cluster.key", &key);
	if (ret) {
		fprintf(stderr, "qgen: key file %s: %s\n", key_file ? key_file : "cluster.key",
			ret == -EINVAL ? "not a key" : strerror(-ret));
		ret = 1;
		goto out;
	}
	client_init(&g->cl, g->agents[0], &key);
	g->client_id = g->client_id ? g->client_id : subc_random_id();
	g->tty = isatty(2);
	g->m = xmalloc(sizeof(*g->m));
	g->ack = xmalloc(sizeof(*g->ack));
	g->res = xmalloc(sizeof(*g->res));
	g->t0_ns = util_now_ns();
	ret = qgen_open(g);
	if (ret)
		goto out;
	g->t0_ns = util_now_ns();
	g->end_us = (uint64_t)(g->duration * 1e6);
	/* the first one ends the submitting; a second one qgen at once */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	qgen_loop(g);
	for (int i = 0; g->check_results && i < g->nj; i++)
		if (!g->j[i].gone)
			qgen_check_results(g, &g->j[i]);
	ret = report(g, qgen_now(g)) ? 0 : 1;
	if (g->ledger_path) {
		FILE *f = fopen(g->ledger_path, "w");
		if (f)
			write_ledger(g, f);
		if (!f || fclose(f)) {
			fprintf(stderr, "qgen: --ledger %s: %s\n", g->ledger_path, strerror(errno));
			ret = 1;
		}
	}
out:
	for (int i = 0; i < g->nj; i++) {
		subc_close(&g->j[i].s);
		ledger_free(&g->j[i].L);
	}
	free(g->j);
	free(g->m);
	free(g->ack);
	free(g->res);
	free(g);
	return ret;
}
