/*
 * sdfs_list.c - what SDFS holds cluster-wide under a prefix: every live
 * member's store listing (SDFS_LIST), merged (see sdfs_cli.h); and `agent
 * ls [PREFIX]`, which prints it.
 */
#include "cli/cli.h"
#include "cli/sdfs_cli.h"
#include "cli/sdfs_cli_int.h"
#include "sdfs/sdfs_wire.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct listed {
	struct sdfs_entry e;
	int tomb;   /* a deletion marker: versions up to e.version are gone */
	int member; /* which member listed it */
};

struct gather {
	struct listed *all;
	size_t na, cap;
	const char *prefix;
	size_t pl;
	int member;
};

/* One entry of a LIST answer: kept when its name starts with the prefix. */
static int take(void *arg, const char *name, uint64_t version, uint64_t size)
{
	struct gather *g = arg;

	if (strncmp(name, g->prefix, g->pl))
		return 0;
	if (g->na == g->cap) {
		g->cap = g->cap ? 2 * g->cap : 256;
		g->all = xrealloc(g->all, g->cap * sizeof(*g->all));
	}
	g->all[g->na] = (struct listed){.e = {.version = version, .size = size},
					.tomb = size == SDFS_TOMB_SIZE,
					.member = g->member};
	snprintf(g->all[g->na++].e.name, sizeof(g->all[0].e.name), "%s", name);
	return 0;
}

static int cmp_listed(const void *a, const void *b)
{
	const struct listed *x = a, *y = b;
	int c = strcmp(x->e.name, y->e.name);

	if (c)
		return c;
	if (x->e.version != y->e.version)
		return x->e.version < y->e.version ? 1 : -1;
	return x->member - y->member;
}

int sdfs_list(struct client *cl, const char *prefix, struct sdfs_entry **out)
{
	struct wire_addr *live;
	struct gather g = {.prefix = prefix, .pl = strlen(prefix)};
	struct listed *all;
	size_t na;
	int n = client_live(cl, &live), k = 0, failed = 0;

	if (n < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		struct sdfs_req r = {.cmd = SDFS_LIST};
		uint8_t *body;
		size_t len;
		char err[256] = "";
		if (sdfs_cli_call(cl, live[i], &r, &body, &len, err, sizeof(err))) {
			fprintf(stderr, "agent: %s (skipped)\n", err);
			failed++;
			continue;
		}
		g.member = i;
		if (body[0] == 0)
			sdfs_list_decode(body, len, take, &g);
		free(body);
	}
	free(live);
	all = g.all;
	na = g.na;
	if (failed == n && n) {
		free(all);
		return -1;
	}
	if (na)
		qsort(all, na, sizeof(*all), cmp_listed);
	*out = xcalloc(na + 1, sizeof(**out));
	/* per name (newest first): the newest version above every marker */
	for (size_t i = 0; i < na;) {
		size_t j = i;
		uint64_t deleted = 0;
		const struct listed *best = NULL;
		while (j < na && !strcmp(all[j].e.name, all[i].e.name))
			j++;
		for (size_t q = i; q < j; q++)
			if (all[q].tomb)
				deleted = MAX(deleted, all[q].e.version);
		for (size_t q = i; q < j && !best; q++)
			if (!all[q].tomb && all[q].e.version > deleted)
				best = &all[q];
		if (best) {
			struct sdfs_entry *e = &(*out)[k++];
			*e = best->e;
			/* sorted by version: each version's members side by side */
			for (size_t q = i; q < j; q++) {
				if (all[q].tomb || all[q].e.version <= deleted)
					continue;
				e->versions += q == i || all[q - 1].e.version != all[q].e.version;
				e->replicas += all[q].e.version == best->e.version;
			}
		}
		i = j;
	}
	free(all);
	return k;
}

/* `agent ls [PREFIX]`: every file, its newest version, versions, replicas, size. */
int cli_ls(struct cli *c)
{
	const char *prefix = c->nargs ? c->arg[0] : "";
	struct sdfs_entry *e;
	int n;

	if (strlen(prefix) > STORE_NAME_MAX) {
		fprintf(stderr, "agent ls: a prefix longer than a name (%d bytes)\n",
			STORE_NAME_MAX);
		return CLI_USAGE;
	}
	n = sdfs_list(&c->cl, prefix, &e);
	if (n < 0)
		return CLI_FAILED;
	if (c->json)
		printf("[");
	else if (n)
		printf("%-20s %8s %8s %12s  %s\n", "VERSION", "VERSIONS", "REPLICAS", "BYTES",
		       "NAME");
	for (int i = 0; i < n; i++) {
		if (!c->json) {
			printf("%-20llu %8d %8d %12llu  %s\n", (unsigned long long)e[i].version,
			       e[i].versions, e[i].replicas, (unsigned long long)e[i].size,
			       e[i].name);
			continue;
		}
		printf("%s{\"name\":", i ? "," : "");
		cli_json_str(e[i].name);
		printf(",\"version\":%llu,\"versions\":%d,\"replicas\":%d,\"bytes\":%llu}",
		       (unsigned long long)e[i].version, e[i].versions, e[i].replicas,
		       (unsigned long long)e[i].size);
	}
	if (c->json)
		printf("]\n");
	free(e);
	if (!n && *prefix) {
		fprintf(stderr, "agent ls: %s: no such file or prefix\n", prefix);
		return CLI_NOT_FOUND;
	}
	return CLI_OK;
}
