/*
 * cli_submit.c - `agent submit JOB IMAGE... [--client ID] [--json]`: submits
 * the named images of the job's dataset as client queries (ids 0, 1, ...
 * in argument order) on one submitter's connection (submit_client.h),
 * waits for every result and prints each as it comes: text like `agent
 * results`, or JSON Lines {"cqid","image","query","ack","worker","status",
 * "service_ms","top5":[{"class","name","prob"}]}.  The same --client and
 * images again are answered from the job's results without running again.
 * Exit 0 when every query was answered without error, 1 otherwise (busy,
 * an unknown image, a failed query, the connection lost).
 */
#include "cli/cli.h"
#include "cli/submit_client.h"
#include "model.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IDLE_MS 120000 /* no message for this long: give up */

struct q {
	const char *name;
	uint8_t ack, done; /* ack: SUB_STATUS_MAX until acknowledged */
	uint8_t stored;	   /* answered before, its result to be read from the job's results */
};

static void print_result(struct cli *c, const struct q *q, const struct sub_result *r)
{
	const struct coord_answer *a = &r->a;
	char who[32];

	wire_addr_str(a->worker, who, sizeof(who));
	if (!c->json) {
		printf("%-6llu %-24s %-22s", (unsigned long long)r->cqid, q->name, who);
		if (a->status)
			printf("  failed: %s", strerror(a->status > -4096 ? -a->status : EIO));
		for (int k = 0; k < COORD_TOP && !a->status; k++)
			printf("%s%s %.4f", k ? ", " : "  ", model_imagenet_classes[a->cls[k]],
			       (double)a->prob[k]);
		putchar('\n');
		return;
	}
	printf("{\"cqid\":%llu,\"image\":", (unsigned long long)r->cqid);
	cli_json_str(q->name);
	printf(",\"query\":%llu,\"ack\":\"%s\",\"worker\":\"%s\",\"status\":%d,"
	       "\"service_ms\":%.3f,\"top5\":[",
	       (unsigned long long)a->qid, q->ack < SUB_STATUS_MAX ? sub_status_names[q->ack] : "",
	       who, a->status, (double)a->service_ns / 1e6);
	for (int k = 0; k < COORD_TOP && !a->status; k++) {
		printf("%s{\"class\":%u,\"name\":", k ? "," : "", a->cls[k]);
		cli_json_str(model_imagenet_classes[a->cls[k]]);
		printf(",\"prob\":%.6f}", (double)a->prob[k]);
	}
	printf("]}\n");
}

/* An ACK status that ends a query without a RESULT: printed. 1 if it is an error. */
static int print_final(struct cli *c, const char *job, uint64_t cqid, const struct q *q)
{
	if (q->ack == SUB_ANSWERED_STORED) {
		fprintf(stderr,
			"agent submit: %s: answered before, but its result is not in the "
			"results of job %s\n",
			q->name, job);
	} else if (c->json) {
		printf("{\"cqid\":%llu,\"image\":", (unsigned long long)cqid);
		cli_json_str(q->name);
		printf(",\"ack\":\"%s\"}\n", sub_status_names[q->ack]);
	} else {
		fprintf(stderr, "agent submit: %s: %s\n", q->name,
			q->ack == SUB_BUSY	  ? "busy (the job's queue is full); try again"
			: q->ack == SUB_BAD_IMAGE ? "no such image in the job's dataset"
			: q->ack == SUB_STOPPED	  ? "the job is stopped"
						  : "no such job");
	}
	return 1;
}

/* ---- answers of queries answered before, read from the job's results ---- */

struct stored {
	struct cli *c;
	struct q *q;
	int n;
	uint64_t client;
};

static void stored_one(void *arg, const struct coord_result *r, const char *input)
{
	struct stored *st = arg;
	struct sub_result sr = {.cqid = r->cqid, .image = r->image, .a = r->a};

	(void)input;
	if (!(r->a.qid & COORD_QID_CLIENT) || r->client != st->client ||
	    r->cqid >= (uint64_t)st->n || !st->q[r->cqid].stored)
		return;
	st->q[r->cqid].stored = 0;
	print_result(st->c, &st->q[r->cqid], &sr);
}

/* Prints the stored answers; 1 when one failed or is missing. */
static int stored_answers(struct cli *c, const char *job, struct q *q, int n, uint64_t client)
{
	struct stored st = {c, q, n, client};
	int failed = 0, any = 0;

	for (int i = 0; i < n; i++)
		any |= q[i].stored;
	if (!any)
		return 0;
	if (cli_results_each(c, job, stored_one, &st))
		return 1;
	for (int i = 0; i < n; i++)
		if (q[i].stored)
			failed |= print_final(c, job, (uint64_t)i, &q[i]);
	return failed;
}

static int parse_id(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 0);
	return errno || !*s || *end || *s == '-' ? -1 : 0;
}

/* Sends the queries, reads until each is answered or refused. */
static int run(struct cli *c, struct subc *s, struct q *q, int n, struct sub_submit *m,
	       struct sub_ack *ack, struct sub_results *res)
{
	int left = n, failed = 0;

	for (int i = 0; i < n; i += SUB_Q_MAX) {
		m->tag = (uint32_t)(i / SUB_Q_MAX);
		m->n = (uint16_t)MIN(SUB_Q_MAX, n - i);
		for (int k = 0; k < m->n; k++) {
			m->q[k] = (struct sub_query){.cqid = (uint64_t)(i + k), .by_name = 1};
			snprintf(m->q[k].name, sizeof(m->q[k].name), "%s", q[i + k].name);
		}
		if (subc_submit(s, m))
			return -EINVAL;
	}
	while (left > 0) {
		struct pollfd p = {s->fd, POLLIN | (subc_unsent(s) ? POLLOUT : 0), 0};
		int r = poll(&p, 1, IDLE_MS), t;
		if (r == 0)
			return -ETIMEDOUT;
		if (r < 0)
			continue;
		if ((r = subc_flush(s)) || (r = subc_read(s)))
			return r;
		while ((t = subc_next(s, ack, res)) > 0) {
			for (int i = 0; t == SUB_ACK && i < ack->n; i++) {
				uint64_t id = ack->cqid[i];
				if (id >= (uint64_t)n || q[id].done)
					continue;
				q[id].ack = ack->status[i];
				if (q[id].ack == SUB_ANSWERED_STORED) {
					q[id].done = q[id].stored = 1; /* read after the run */
					left--;
				} else if (q[id].ack > SUB_ANSWERED_STORED) {
					q[id].done = 1;
					left--;
					failed |= print_final(c, s->job, id, &q[id]);
				}
			}
			for (int i = 0; t == SUB_RESULT && i < res->n; i++) {
				uint64_t id = res->r[i].cqid;
				if (id >= (uint64_t)n || q[id].done)
					continue;
				q[id].done = 1;
				left--;
				failed |= res->r[i].a.status != 0;
				print_result(c, &q[id], &res->r[i]);
			}
		}
		if (t < 0)
			return t;
		fflush(stdout);
	}
	return failed;
}

int cli_submit(struct cli *c)
{
	struct q *q = xcalloc((size_t)c->nargs + 1, sizeof(*q));
	struct sub_submit *m = xmalloc(sizeof(*m));
	struct sub_ack *ack = xmalloc(sizeof(*ack));
	struct sub_results *res = xmalloc(sizeof(*res));
	struct subc s = {0};
	uint64_t client = 0;
	char err[300];
	int n = 0, ret;

	for (int i = 1; i < c->nargs; i++) {
		if (!strcmp(c->arg[i], "--client") && i + 1 < c->nargs) {
			if (parse_id(c->arg[++i], &client) || !client) {
				fprintf(stderr,
					"agent submit: --client %s: a client id is a number "
					"above 0\n",
					c->arg[i]);
				ret = 2;
				goto out;
			}
		} else {
			q[n++] = (struct q){.name = c->arg[i], .ack = SUB_STATUS_MAX};
		}
	}
	if (!n) {
		fprintf(stderr, "usage: agent submit JOB IMAGE... [--client ID] [--json]\n");
		ret = 2;
		goto out;
	}
	if (!client)
		client = subc_random_id();
	ret = subc_open(&s, &c->cl, c->cl.agent, c->arg[0], client, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "agent submit: %s\n", err);
		ret = 1;
		goto out;
	}
	ret = run(c, &s, q, n, m, ack, res);
	if (ret >= 0)
		ret |= stored_answers(c, s.job, q, n, client);
	if (ret < 0) {
		int left = 0;
		for (int i = 0; i < n; i++)
			left += !q[i].done;
		fprintf(stderr,
			"agent submit: %s: %d of %d queries unanswered; submit them again with "
			"--client %llu\n",
			ret == -EINVAL	     ? "an image name the protocol cannot carry"
			: ret == -ETIMEDOUT  ? "no answer for 120 s"
			: ret == -ECONNRESET ? "the coordinator closed the connection"
			: ret == -EPROTO     ? "a malformed message from the coordinator"
					     : strerror(-ret),
			left, n, (unsigned long long)client);
	}
	ret = ret ? 1 : 0;
	subc_close(&s);
out:
	free(q);
	free(m);
	free(ack);
	free(res);
	return ret;
}
