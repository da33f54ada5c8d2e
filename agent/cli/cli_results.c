/*
 * cli_results.c - `agent results JOB [LOCAL] [--json]` (C4): every result
 * of the job, each query once, in the order recorded (rseq).
 *
 * The coordinator keeps a job's latest results in memory and puts the
 * older ones to SDFS in parts (tasks/result_part.h), dropping them from
 * memory once they are there.  So the CLI reads the parts first (listed
 * under results/JOB/, in name order, which is rseq order), then asks the
 * coordinator for the results after the last one read.  Its answer says
 * up to which rseq results are in SDFS: when that passed the ones wanted
 * (a part was put meanwhile), the CLI reads the new parts and asks again.
 * The CLI adds the class names (models/imagenet_classes.txt).
 */
#include "cli/cli.h"
#include "cli/sdfs_cli.h"
#include "model.h"
#include "tasks/coord_rpc.h"
#include "tasks/result_part.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PART_READ_MAX (16u << 20) /* a part larger than this is refused */
#define ROUNDS_MAX    20	  /* SDFS, then memory, then SDFS again ... */

struct rs {
	struct cli *c;
	const char *job;
	FILE *f;
	uint64_t next; /* the rseq wanted next */
	uint64_t n;
	int bad;	    /* a malformed line or a gap: the output is not complete */
	cli_result_fn each; /* instead of printing (cli_results_each) */
	void *arg;
};

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

/* One result, as text or a JSON line. */
static void result_print(struct rs *s, const struct coord_result *r, const char *input)
{
	const struct coord_answer *a = &r->a;
	FILE *f = s->f;
	char worker[32];

	wire_addr_str(a->worker, worker, sizeof(worker));
	s->n++;
	if (s->c->json) {
		fprintf(f, "{\"query\":%llu,\"image\":", (unsigned long long)a->qid);
		json_str(f, input);
		if (a->qid & COORD_QID_CLIENT)
			fprintf(f, ",\"client\":%llu,\"cqid\":%llu", (unsigned long long)r->client,
				(unsigned long long)r->cqid);
		fprintf(f,
			",\"worker\":\"%s\",\"status\":%d,\"service_ms\":%.3f,\"done_ms\":%llu,"
			"\"top5\":[",
			worker, a->status, (double)a->service_ns / 1e6,
			(unsigned long long)a->done_ms);
		for (int k = 0; k < COORD_TOP && !a->status; k++) {
			fprintf(f, "%s{\"class\":%u,\"name\":", k ? "," : "", a->cls[k]);
			json_str(f, model_imagenet_classes[a->cls[k]]);
			fprintf(f, ",\"prob\":%.6f}", (double)a->prob[k]);
		}
		fprintf(f, "]}\n");
		return;
	}
	fprintf(f, "%-8llu %-24s %-22s", (unsigned long long)a->qid, input, worker);
	if (a->status)
		fprintf(f, "  failed: %s",
			strerror(a->status < 0 && a->status > -4096 ? -a->status : EIO));
	for (int k = 0; k < COORD_TOP && !a->status; k++)
		fprintf(f, "%s%s %.4f", k ? ", " : "  ", model_imagenet_classes[a->cls[k]],
			(double)a->prob[k]);
	fputc('\n', f);
}

/* A result read (rseq r->rseq): printed when it is the next one wanted. */
static void take(struct rs *s, const struct coord_result *r, const char *input)
{
	if (r->rseq < s->next)
		return; /* read already */
	if (r->rseq > s->next) {
		fprintf(stderr, "agent results: job %s: results %llu to %llu are missing\n", s->job,
			(unsigned long long)s->next, (unsigned long long)r->rseq - 1);
		s->bad = 1;
	}
	if (s->each)
		s->each(s->arg, r, input);
	else
		result_print(s, r, input);
	s->next = r->rseq + 1;
}

/* ---- the parts in SDFS ---- */

static int read_part(struct rs *s, const char *name)
{
	struct coord_result r;
	char input[DATASET_NAME_MAX * 6 + 1];
	uint8_t *data;
	size_t len;
	uint64_t version;
	int ret = sdfs_get_mem(&s->c->cl, name, PART_READ_MAX, &data, &len, &version);

	if (ret == -ENOENT)
		return 0; /* listed, then gone: its results are elsewhere */
	if (ret) {
		fprintf(stderr, "agent results: %s: %s\n", name, strerror(-ret));
		return -1;
	}
	for (char *p = (char *)data, *end = p + len; p < end;) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (result_part_parse(p, ll, &r, input, sizeof(input))) {
			fprintf(stderr, "agent results: %s: a malformed line\n", name);
			s->bad = 1;
		} else {
			take(s, &r, input);
		}
		p += ll + 1;
	}
	free(data);
	return 0;
}

/* The parts that may hold s->next and after. 0 or -1. */
static int read_parts(struct rs *s)
{
	char prefix[RESULT_PART_NAME_MAX];
	struct sdfs_entry *e;
	int n, from = 0, ret = 0;

	snprintf(prefix, sizeof(prefix), RESULT_PART_DIR "%s/", s->job);
	n = sdfs_list(&s->c->cl, prefix, &e);
	if (n < 0)
		return -1;
	for (int i = 0; i < n; i++) { /* the last part starting at or before next */
		uint64_t first;
		if (result_part_name_rseq(e[i].name, &first) == 0 && first <= s->next)
			from = i;
	}
	for (int i = from; i < n && !ret; i++) {
		uint64_t first;
		if (result_part_name_rseq(e[i].name, &first) == 0)
			ret = read_part(s, e[i].name);
	}
	free(e);
	return ret;
}

/* ---- the coordinator's memory ---- */

/* "RSEQ QID WORKER STATUS SERVICE_NS DONE_MS C0 P0 .. C4 P4 IMAGE-NAME" (coord_rpc.h). */
static int raw_parse(char *line, struct coord_result *r, char **input)
{
	unsigned long long rseq, qid, service, done;
	unsigned cls[COORD_TOP];
	double prob[COORD_TOP];
	char worker[32];
	int status, off = 0;

	if (sscanf(line, "%llu %llu %31s %d %llu %llu %u %lf %u %lf %u %lf %u %lf %u %lf %n", &rseq,
		   &qid, worker, &status, &service, &done, &cls[0], &prob[0], &cls[1], &prob[1],
		   &cls[2], &prob[2], &cls[3], &prob[3], &cls[4], &prob[4], &off) != 16 ||
	    !off)
		return -1;
	memset(r, 0, sizeof(*r));
	if (wire_addr_parse(worker, 0, &r->a.worker))
		return -1;
	for (int k = 0; k < COORD_TOP; k++) {
		if (cls[k] >= MODEL_CLASSES)
			return -1;
		r->a.cls[k] = (uint16_t)cls[k];
		r->a.prob[k] = (float)prob[k];
	}
	r->rseq = rseq;
	r->a.qid = qid;
	r->a.status = status;
	r->a.service_ns = service;
	r->a.done_ms = done;
	*input = line + off;
	return 0;
}

/*
 * The results in memory from s->next: 0 when every one was read, 1 when
 * some have gone to SDFS since (read the parts again), -1 on an error.
 */
static int read_memory(struct rs *s)
{
	struct coord_rpc_req req = {.cmd = COORD_RPC_RESULTS};

	snprintf(req.job, sizeof(req.job), "%s", s->job);
	for (;;) {
		unsigned long long next = 0, persisted = 0;
		char *line, *save = NULL, *head, *input;
		struct coord_result r;
		uint8_t *body;
		size_t len;
		int more;

		req.from = s->next;
		if (cli_job_call(s->c, "results", &req, &body, &len))
			return -1;
		head = strtok_r((char *)body + 1, "\n", &save);
		more = head && sscanf(head, "more %llu persisted %llu", &next, &persisted) == 2;
		if (!more && (!head || sscanf(head, "end persisted %llu", &persisted) != 1)) {
			fprintf(stderr, "agent results: a malformed answer\n");
			free(body);
			return -1;
		}
		if (persisted >= s->next) { /* gone to SDFS since */
			free(body);
			return 1;
		}
		for (line = strtok_r(NULL, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			if (raw_parse(line, &r, &input)) {
				fprintf(stderr, "agent results: a malformed result line\n");
				s->bad = 1;
				continue;
			}
			take(s, &r, input);
		}
		free(body);
		if (!more || next <= req.from)
			return 0;
	}
}

/* Every result of s->job in rseq order, each once: 0, or 1 (said why). */
static int read_all(struct rs *s)
{
	for (int round = 0;; round++) {
		int m;
		if (round == ROUNDS_MAX) {
			fprintf(stderr,
				"agent results: job %s: its results kept moving to SDFS "
				"while read (%d rounds): try again\n",
				s->job, ROUNDS_MAX);
			return 1;
		}
		if (read_parts(s))
			return 1;
		m = read_memory(s);
		if (m <= 0)
			return m < 0 || s->bad;
	}
}

int cli_results_each(struct cli *c, const char *job, cli_result_fn each, void *arg)
{
	struct rs s = {.c = c, .f = stdout, .next = 1, .job = job, .each = each, .arg = arg};

	return read_all(&s);
}

int cli_results(struct cli *c)
{
	struct rs s = {.c = c, .f = stdout, .next = 1};
	int ret = 1;

	if (c->nargs < 1 || c->nargs > 2) {
		fprintf(stderr, "usage: agent results JOB [LOCAL] [--json]\n");
		return 2;
	}
	if (coord_job_id_check(c->arg[0])) {
		fprintf(stderr, "agent results: no job %s (a job id is 1..%d of [a-z0-9-])\n",
			c->arg[0], COORD_JOB_ID_MAX);
		return 1;
	}
	s.job = c->arg[0];
	if (c->nargs == 2 && !(s.f = fopen(c->arg[1], "w"))) {
		fprintf(stderr, "agent results: %s: %s\n", c->arg[1], strerror(errno));
		return 1;
	}
	ret = read_all(&s);
	if (s.f != stdout) {
		if (fclose(s.f) && !ret) {
			fprintf(stderr, "agent results: %s: %s\n", c->arg[1], strerror(errno));
			ret = 1;
		} else if (!ret) {
			printf("%llu results of job %s written to %s\n", (unsigned long long)s.n,
			       s.job, c->arg[1]);
		}
	}
	return ret;
}
