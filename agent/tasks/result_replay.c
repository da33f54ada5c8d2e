/*
 * result_replay.c - persisted results applied again as records (see
 * result_replay.h).
 */
#include "tasks/result_replay.h"

#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void result_replay_init(struct result_replay *rp, const char *job, result_replay_fn apply,
			void *arg)
{
	*rp = (struct result_replay){.apply = apply, .arg = arg};
	snprintf(rp->job, sizeof(rp->job), "%s", job);
	rp->acc = xcalloc(1, sizeof(*rp->acc));
	rp->res = xcalloc(1, sizeof(*rp->res));
	rp->eff = xcalloc(1, sizeof(*rp->eff));
	rp->res->type = COORD_REC_RESULTS;
	memcpy(rp->res->job, rp->job, sizeof(rp->job));
}

void result_replay_free(struct result_replay *rp)
{
	free(rp->acc);
	free(rp->res);
	free(rp->eff);
	memset(rp, 0, sizeof(*rp));
}

int result_replay_flush(struct result_replay *rp)
{
	uint16_t n = rp->res->u.results.n;
	int ret;

	if (n == 0)
		return 0;
	ret = rp->apply(rp->arg, rp->res, rp->eff) ? -EINVAL : 0;
	for (int i = 0; !ret && i < n; i++)
		ret = rp->eff->verdict[i] == COORD_NEW ? 0 : -EINVAL;
	rp->res->u.results.n = 0;
	return ret;
}

int result_replay_add(struct result_replay *rp, const struct coord_result *res)
{
	struct coord_answer a = res->a;

	if (a.qid & COORD_QID_CLIENT) {
		struct coord_rec *r = rp->acc;
		memset(r, 0, sizeof(*r));
		r->type = COORD_REC_QUERIES_ACCEPTED;
		memcpy(r->job, rp->job, sizeof(rp->job));
		r->u.accept.client = res->client;
		r->u.accept.n = 1;
		r->u.accept.q[0] = (struct coord_accept_q){res->cqid, res->image};
		if (rp->apply(rp->arg, r, rp->eff) || rp->eff->verdict[0] != COORD_NEW)
			return -EINVAL;
		a.qid = rp->eff->qid[0];
	}
	rp->res->u.results.a[rp->res->u.results.n++] = a;
	return rp->res->u.results.n == COORD_REC_Q_MAX ? result_replay_flush(rp) : 0;
}
