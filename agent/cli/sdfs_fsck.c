/*
 * sdfs_fsck.c - `agent fsck [PREFIX]`, a cluster-wide health report of
 * SDFS (as `hdfs fsck`): every file under PREFIX whose newest version is
 * held by fewer live members than it should be (the replication factor of
 * the agent asked, at most the live members), and every live agent's count
 * of corrupt replicas its reads and scrubs found (and repaired) since it
 * started.  Exit 0 when every file has all its replicas, 1 otherwise.
 * Also the replication factor a put compares its replicas with.
 */
#include "cli/cli.h"
#include "cli/sdfs_cli.h"
#include "cli/sdfs_cli_int.h"
#include "ctl/rpc.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first number after "key " at a line's start in text, or dflt. */
static unsigned long long text_value(const char *text, const char *key, unsigned long long dflt)
{
	size_t kl = strlen(key);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, key, kl) && p[kl] == ' ')
			return strtoull(p + kl + 1, NULL, 10);
	return dflt;
}

/* A "key value" answer of one agent to cmd (self's text or stats), malloc'd;
 * NULL with the reason printed as sub's. */
static char *ask_text(struct client *cl, struct wire_addr to, uint8_t cmd, const char *sub)
{
	struct rpc_req req = {.cmd = cmd};
	struct swim_member m;
	const char *text;
	uint8_t *body;
	size_t len, tl;
	char err[256], *out = NULL;

	if (rpc_call(cl, to, &req, &body, &len, err, sizeof(err))) {
		fprintf(stderr, "agent %s: %s\n", sub, err);
		return NULL;
	}
	if (body[0] == 0 && cmd == RPC_SELF &&
	    rpc_self_decode(body + 1, len - 1, &m, &text, &tl) == 0)
		out = strndup(text, tl);
	else if (body[0] == 0 && cmd != RPC_SELF)
		out = strdup((char *)body + 1);
	free(body);
	return out;
}

int sdfs_cli_replicas(struct client *cl, const char *cmd)
{
	char *self = ask_text(cl, cl->agent, RPC_SELF, cmd);
	int target = self ? (int)MIN(text_value(self, "sdfs_replicas", 4), 64) : -1;

	free(self);
	return target;
}

int cli_fsck(struct cli *c)
{
	const char *prefix = c->nargs ? c->arg[0] : "";
	struct sdfs_entry *e;
	struct wire_addr *live;
	unsigned long long bytes = 0, corrupt = 0, target;
	int n, nlive, want, under = 0, r = sdfs_cli_replicas(&c->cl, "fsck");

	if (r < 0)
		return CLI_FAILED;
	target = (unsigned long long)r;
	nlive = client_live(&c->cl, &live);
	if (nlive < 0)
		return CLI_FAILED;
	want = (int)MIN(target, (unsigned long long)nlive);
	n = sdfs_list(&c->cl, prefix, &e);
	if (n < 0) {
		free(live);
		return CLI_FAILED;
	}
	if (c->json) {
		printf("{\"prefix\":");
		cli_json_str(prefix);
		printf(",\"replicas\":%llu,\"live\":%d,\"under_replicated\":[", target, nlive);
	}
	for (int i = 0; i < n; i++) {
		bytes += e[i].size;
		if (e[i].replicas >= want)
			continue;
		if (c->json) {
			printf("%s{\"name\":", under ? "," : "");
			cli_json_str(e[i].name);
			printf(",\"version\":%llu,\"replicas\":%d}",
			       (unsigned long long)e[i].version, e[i].replicas);
		} else {
			printf("%s: under-replicated: version %llu on %d of %d live replicas\n",
			       e[i].name, (unsigned long long)e[i].version, e[i].replicas, want);
		}
		under++;
	}
	if (c->json)
		printf("],\"corrupt_found\":{");
	for (int i = 0, shown = 0; i < nlive; i++) {
		char *st = ask_text(&c->cl, live[i], RPC_STATS, "fsck"), who[32];
		unsigned long long k = st ? text_value(st, "sdfs_corrupt_replicas", 0) : 0;
		int answered = st != NULL;
		free(st);
		corrupt += k;
		wire_addr_str(live[i], who, sizeof(who));
		if (c->json && answered)
			printf("%s\"%s\":%llu", shown++ ? "," : "", who, k);
		else if (k)
			printf("%s: %llu corrupt replica%s found and repaired since it started\n",
			       who, k, k == 1 ? "" : "s");
	}
	if (c->json)
		printf("},\"files\":%d,\"bytes\":%llu,\"healthy\":%d,\"status\":\"%s\"}\n", n,
		       bytes, n - under, under ? "under-replicated" : "healthy");
	else
		printf("%d file%s, %llu bytes under '%s': %d healthy, %d under-replicated "
		       "(target %llu replicas, %d live members); %llu corrupt replica%s found and "
		       "repaired since the agents started\nstatus: %s\n",
		       n, n == 1 ? "" : "s", bytes, prefix, n - under, under, target, nlive,
		       corrupt, corrupt == 1 ? "" : "s", under ? "UNDER-REPLICATED" : "HEALTHY");
	free(e);
	free(live);
	return under ? CLI_FAILED : CLI_OK;
}
