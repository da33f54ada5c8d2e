/*
 * qgen_check.c - `qgen --check-results`: the ledger against the job's
 * results as `agent results` reads them (the RESULTS job command, paged,
 * asked at the coordinator): every query the ledger has an answer for must
 * be there exactly once, under the query id its answer carried.
 */
#include "qgen.h"

#include "tasks/coord_rpc.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REDIRECTS_MAX 3

/* One RESULTS page: 0 with *body, or -1 with the reason in err. */
static int results_call(struct qgen *g, const struct coord_rpc_req *req, uint8_t **body,
			size_t *len, char *err, size_t errlen)
{
	uint8_t p[COORD_RPC_REQ_MAX];
	struct wire_addr to = g->agents[0];
	int n = coord_rpc_req_encode(req, p, sizeof(p));

	for (int hop = 0; n > 0; hop++) {
		if (client_call(&g->cl, to, p, (size_t)n, body, len, err, errlen))
			return -1;
		if ((*body)[0] == 0)
			return 0;
		if ((*body)[0] != COORD_RPC_REDIRECT || hop == REDIRECTS_MAX ||
		    wire_addr_parse((char *)*body + 1, 0, &to)) {
			snprintf(err, errlen, "%.*s", (int)strcspn((char *)*body + 1, "\n"),
				 (char *)*body + 1);
			free(*body);
			return -1;
		}
		free(*body);
	}
	snprintf(err, errlen, "a bad request");
	return -1;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int qgen_check_results(struct qgen *g, struct qjob *j)
{
	struct coord_rpc_req req = {.cmd = COORD_RPC_RESULTS, .from = 1};
	uint64_t *q = NULL, nq = 0, cap = 0;
	char err[300];
	int ret = 0;

	snprintf(req.job, sizeof(req.job), "%s", j->id);
	for (;;) {
		uint8_t *body;
		size_t len;
		char *line, *save = NULL, *head;
		unsigned long long next = 0, rseq, qid;
		if (results_call(g, &req, &body, &len, err, sizeof(err))) {
			snprintf(j->why, sizeof(j->why), "results: %.280s", err);
			ret = -1;
			break;
		}
		head = strtok_r((char *)body + 1, "\n", &save);
		for (line = strtok_r(NULL, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			if (sscanf(line, "%llu %llu", &rseq, &qid) != 2) {
				snprintf(j->why, sizeof(j->why), "results: a malformed line");
				ret = -1;
				continue;
			}
			if (nq == cap) {
				cap = cap ? 2 * cap : 4096;
				q = xrealloc(q, cap * sizeof(*q));
			}
			q[nq++] = qid;
		}
		if (!head || sscanf(head, "more %llu", &next) != 1 || next <= req.from) {
			free(body);
			break;
		}
		req.from = next;
		free(body);
	}
	if (!ret && nq)
		qsort(q, nq, sizeof(*q), u64_cmp);
	for (uint64_t i = 0; !ret && i < j->L.n; i++) {
		const struct lq *x = &j->L.q[i];
		uint64_t lo = 0, hi = nq, k;
		if (!x->answers)
			continue;
		while (lo < hi) { /* the first entry >= its query id */
			uint64_t mid = lo + (hi - lo) / 2;
			if (q[mid] < x->a.qid)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (k = lo; k < nq && q[k] == x->a.qid; k++)
			;
		j->res_missing += k == lo;
		j->res_twice += k - lo > 1;
	}
	j->res_checked = !ret;
	free(q);
	return ret;
}
