/*
 * sdfs_list.c - what SDFS holds cluster-wide under a prefix: every live
 * member's store listing (SDFS_LIST), merged (see sdfs_cli.h).
 */
#include "cli/sdfs_cli.h"
#include "cli/sdfs_cli_int.h"
#include "sdfs/sdfs_wire.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct listed {
	struct sdfs_entry e;
	int tomb; /* a deletion marker: versions up to e.version are gone */
};

struct gather {
	struct listed *all;
	size_t na, cap;
	const char *prefix;
	size_t pl;
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
					.tomb = size == SDFS_TOMB_SIZE};
	snprintf(g->all[g->na++].e.name, sizeof(g->all[0].e.name), "%s", name);
	return 0;
}

static int cmp_listed(const void *a, const void *b)
{
	const struct listed *x = a, *y = b;
	int c = strcmp(x->e.name, y->e.name);

	return c ? c : x->e.version < y->e.version ? 1 : x->e.version > y->e.version ? -1 : 0;
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
		if (best)
			(*out)[k++] = best->e;
		i = j;
	}
	free(all);
	return k;
}
