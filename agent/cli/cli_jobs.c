/*
 * cli_jobs.c - the job commands (design section 5), against any agent:
 *
 *   job launch MODEL --dataset NAME [--batch N] [--weight W] [--loop | --client-only]
 *   job ls | job stop JOB | job batch JOB N
 *   qinfo [JOB]          (C1) rate over the last 10 s, queries processed
 *   qjob JOB             (C2) service time per query: mean, std, quantiles
 *   assign               (C5) workers and their share of each job
 *
 * An agent that is not the coordinator answers with the coordinator's
 * address, and the command is asked there (coord_rpc.h).  Answers are
 * printed as the coordinator formats them.  `results` is cli_results.c.
 */
#include "cli/cli.h"
#include "tasks/coord_rpc.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REDIRECTS_MAX 3
#define DEFAULT_BATCH 4

int cli_job_call(struct cli *c, const char *cmd, const struct coord_rpc_req *req, uint8_t **body,
		 size_t *len)
{
	uint8_t payload[COORD_RPC_REQ_MAX];
	struct wire_addr to = c->cl.agent;
	char err[300];
	int n = coord_rpc_req_encode(req, payload, sizeof(payload));

	if (n < 0) {
		fprintf(stderr, "agent %s: arguments too long\n", cmd);
		return 1;
	}
	for (int hop = 0;; hop++) {
		if (client_call(&c->cl, to, payload, (size_t)n, body, len, err, sizeof(err))) {
			fprintf(stderr, "agent %s: %s\n", cmd, err);
			return 1;
		}
		if ((*body)[0] == 0)
			return 0;
		if ((*body)[0] != COORD_RPC_REDIRECT || hop == REDIRECTS_MAX ||
		    wire_addr_parse((char *)*body + 1, 0, &to)) {
			size_t tl = strlen((char *)*body + 1);
			while (tl && (*body)[tl] == '\n')
				(*body)[tl--] = '\0';
			fprintf(stderr, "agent %s: %s\n", cmd,
				(*body)[0] == COORD_RPC_REDIRECT ? "no coordinator answers"
								 : (char *)*body + 1);
			free(*body);
			return 1;
		}
		free(*body);
	}
}

/* One call whose answer is printed as it comes. */
static int job_print(struct cli *c, const char *cmd, struct coord_rpc_req *req)
{
	uint8_t *body;
	size_t len;

	req->flags |= c->json ? COORD_RPC_JSON : 0;
	if (cli_job_call(c, cmd, req, &body, &len))
		return 1;
	fwrite(body + 1, 1, len - 1, stdout);
	free(body);
	return 0;
}

static int job_id_ok(const char *cmd, const char *id)
{
	if (coord_job_id_check(id) == 0)
		return 1;
	fprintf(stderr, "agent %s: no job %s (a job id is 1..%d of [a-z0-9-])\n", cmd, id,
		COORD_JOB_ID_MAX);
	return 0;
}

static int parse_u(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return !errno && *s && *s != '-' && !*end && *out <= max ? 0 : -1;
}

static int launch(struct cli *c)
{
	struct coord_rpc_req req = {
		.cmd = COORD_RPC_LAUNCH, .batch = DEFAULT_BATCH, .weight_milli = 1000};
	unsigned long v;
	uint8_t *body;
	size_t len;

	snprintf(req.model, sizeof(req.model), "%s", c->arg[1]);
	for (int i = 2; i < c->nargs; i++) {
		const char *o = c->arg[i], *val = i + 1 < c->nargs ? c->arg[i + 1] : NULL;
		if (!strcmp(o, "--loop") || !strcmp(o, "--client-only")) {
			req.flags |= o[2] == 'l' ? COORD_RPC_LOOP : COORD_RPC_CLIENT;
			continue;
		}
		if (!val)
			goto usage;
		i++;
		if (!strcmp(o, "--dataset")) {
			snprintf(req.dataset, sizeof(req.dataset), "%s", val);
		} else if (!strcmp(o, "--batch") && parse_u(val, 65535, &v) == 0) {
			req.batch = (uint16_t)v;
		} else if (!strcmp(o, "--weight")) {
			char *end;
			double w = strtod(val, &end);
			if (*end || !(w > 0 && w <= COORD_WEIGHT_MAX)) {
				fprintf(stderr,
					"agent job launch: weight %s: a weight is in (0, %g]\n",
					val, COORD_WEIGHT_MAX);
				return 1;
			}
			req.weight_milli = (uint32_t)(w * 1000 + 0.5);
		} else {
			goto usage;
		}
	}
	if (!req.dataset[0] || !cli_name_ok("job launch", req.model) ||
	    !cli_name_ok("job launch", req.dataset))
		goto usage;
	if (cli_job_call(c, "job launch", &req, &body, &len))
		return 1;
	if (c->json)
		printf("{\"job\":\"%.*s\"}\n", (int)strcspn((char *)body + 1, "\n"),
		       (char *)body + 1);
	else
		fwrite(body + 1, 1, len - 1, stdout);
	free(body);
	return 0;
usage:
	fprintf(stderr, "usage: agent job launch MODEL --dataset NAME [--batch N] [--weight W] "
			"[--loop | --client-only]\n");
	return 2;
}

int cli_job(struct cli *c)
{
	struct coord_rpc_req req = {0};
	const char *verb = c->arg[0];
	unsigned long v;

	if (!strcmp(verb, "launch") && c->nargs >= 2)
		return launch(c);
	if (!strcmp(verb, "ls") && c->nargs == 1) {
		req.cmd = COORD_RPC_JOBS;
		return job_print(c, "job ls", &req);
	}
	if (!strcmp(verb, "stop") && c->nargs == 2) {
		req.cmd = COORD_RPC_STOP;
		if (!job_id_ok("job stop", c->arg[1]))
			return 1;
		snprintf(req.job, sizeof(req.job), "%s", c->arg[1]);
		return job_print(c, "job stop", &req);
	}
	if (!strcmp(verb, "batch") && c->nargs == 3) {
		req.cmd = COORD_RPC_BATCH;
		if (!job_id_ok("job batch", c->arg[1]))
			return 1;
		if (parse_u(c->arg[2], 65535, &v)) {
			fprintf(stderr, "agent job batch: %s: not a batch size\n", c->arg[2]);
			return 1;
		}
		snprintf(req.job, sizeof(req.job), "%s", c->arg[1]);
		req.batch = (uint16_t)v;
		return job_print(c, "job batch", &req);
	}
	fprintf(stderr, "usage: agent job launch MODEL --dataset NAME [--batch N] [--weight W] "
			"[--loop] | job ls | job stop JOB | job batch JOB N\n");
	return 2;
}

int cli_qinfo(struct cli *c)
{
	struct coord_rpc_req req = {.cmd = COORD_RPC_QINFO};

	if (c->nargs > 1) {
		fprintf(stderr, "usage: agent qinfo [JOB] [--json]\n");
		return 2;
	}
	if (c->nargs == 1) {
		if (!job_id_ok("qinfo", c->arg[0]))
			return 1;
		snprintf(req.job, sizeof(req.job), "%s", c->arg[0]);
	}
	return job_print(c, "qinfo", &req);
}

int cli_qjob(struct cli *c)
{
	struct coord_rpc_req req = {.cmd = COORD_RPC_QJOB};

	if (c->nargs != 1) {
		fprintf(stderr, "usage: agent qjob JOB [--json]\n");
		return 2;
	}
	if (!job_id_ok("qjob", c->arg[0]))
		return 1;
	snprintf(req.job, sizeof(req.job), "%s", c->arg[0]);
	return job_print(c, "qjob", &req);
}

int cli_assign(struct cli *c)
{
	struct coord_rpc_req req = {.cmd = COORD_RPC_ASSIGN};

	return job_print(c, "assign", &req);
}
