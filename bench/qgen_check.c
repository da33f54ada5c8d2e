/*
 * qgen_check.c - `qgen --check-results`: the ledger against the job's
 * results as `agent results` reads them (the parts persisted in SDFS, then
 * the coordinator's memory): every query the ledger has an answer for
 * must be there exactly once, under the query id its answer carried.
 */
#include "qgen.h"

#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/*
 * The query ids of the job's results, as `agent results JOB --json` prints
 * them (the agent program beside qgen: it reads the parts in SDFS, then
 * the coordinator's memory), asked through each agent in turn until one
 * answers.  0 with *q (malloc'd) and *nq, or -1 with the reason in err.
 */
static int results_read(struct qgen *g, const char *job, uint64_t **q, uint64_t *nq, uint64_t **cq,
			uint64_t *ncq, char *err, size_t errlen)
{
	uint64_t ccap = 0;
	char self[PATH_MAX], agent[PATH_MAX + 8], addr[32];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	uint64_t cap = 0;

	if (n <= 0) {
		snprintf(err, errlen, "cannot find the agent program: %s", strerror(errno));
		return -1;
	}
	self[n] = '\0';
	snprintf(agent, sizeof(agent), "%.*s/agent", (int)(strrchr(self, '/') - self), self);
	snprintf(err, errlen, "no agent answered");
	for (int i = 0; i < g->nagents; i++) {
		char *argv[] = {agent, "results",    (char *)job,	  "--json", "--agent",
				addr,  "--key-file", (char *)g->key_file, NULL};
		char line[4096];
		int fd[2], status = 0, ok = 1;
		posix_spawn_file_actions_t fa;
		pid_t pid;
		FILE *f;

		wire_addr_str(g->agents[i], addr, sizeof(addr));
		if (pipe(fd))
			break;
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, fd[1], 1);
		posix_spawn_file_actions_addclose(&fa, fd[0]);
		posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
		if (posix_spawn(&pid, agent, &fa, NULL, argv, environ)) {
			posix_spawn_file_actions_destroy(&fa);
			close(fd[0]);
			close(fd[1]);
			snprintf(err, errlen, "cannot run %.200s", agent);
			return -1;
		}
		posix_spawn_file_actions_destroy(&fa);
		close(fd[1]);
		f = fdopen(fd[0], "r");
		*nq = *ncq = 0;
		while (f && fgets(line, sizeof(line), f)) {
			unsigned long long qid, client, cqid;
			const char *cl = strstr(line, ",\"client\":");
			if (sscanf(line, "{\"query\":%llu,", &qid) != 1) {
				ok = 0;
				continue;
			}
			/* this client's queries, by its own ids (for the ones
			 * acknowledged "answered-stored": answered before, no
			 * result sent) */
			if (cl &&
			    sscanf(cl, ",\"client\":%llu,\"cqid\":%llu", &client, &cqid) == 2 &&
			    client == g->client_id) {
				if (*ncq == ccap) {
					ccap = ccap ? 2 * ccap : 4096;
					*cq = xrealloc(*cq, ccap * sizeof(**cq));
				}
				(*cq)[(*ncq)++] = cqid;
			}
			if (*nq == cap) {
				cap = cap ? 2 * cap : 4096;
				*q = xrealloc(*q, cap * sizeof(**q));
			}
			(*q)[(*nq)++] = qid;
		}
		if (f)
			fclose(f);
		else
			close(fd[0]);
		waitpid(pid, &status, 0);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && ok)
			return 0;
		snprintf(err, errlen, "agent results %s through %s: %s", job, addr,
			 ok ? "failed" : "a malformed line");
	}
	return -1;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* How many times v is in the sorted a[0..n). */
static uint64_t count_in(const uint64_t *a, uint64_t n, uint64_t v)
{
	uint64_t lo = 0, hi = n, k;

	while (lo < hi) { /* the first entry >= v */
		uint64_t mid = lo + (hi - lo) / 2;
		if (a[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (k = lo; k < n && a[k] == v; k++)
		;
	return k - lo;
}

int qgen_check_results(struct qgen *g, struct qjob *j)
{
	uint64_t *q = NULL, nq = 0, *cq = NULL, ncq = 0;
	char err[300];
	int ret = 0;

	if (results_read(g, j->id, &q, &nq, &cq, &ncq, err, sizeof(err))) {
		snprintf(j->why, sizeof(j->why), "results: %.280s", err);
		ret = -1;
	}
	if (!ret && nq)
		qsort(q, nq, sizeof(*q), u64_cmp);
	if (!ret && ncq)
		qsort(cq, ncq, sizeof(*cq), u64_cmp);
	for (uint64_t i = 0; !ret && i < j->L.n; i++) {
		const struct lq *x = &j->L.q[i];
		uint64_t k;
		if (x->answers)
			k = count_in(q, nq, x->a.qid); /* under the query id its answer carried */
		else if (x->ack == SUB_ANSWERED_STORED)
			k = count_in(cq, ncq, i); /* under its own id */
		else
			continue;
		j->res_missing += k == 0;
		j->res_twice += k > 1;
	}
	j->res_checked = !ret;
	free(q);
	free(cq);
	return ret;
}
