/*
 * sdfs_list.c - what SDFS holds cluster-wide under a prefix: every live
 * member's store listing (SDFS_LIST), merged (see sdfs_cli.h).
 */
#include "cli/sdfs_cli.h"
#include "sdfs/sdfs_wire.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct listed {
	struct sdfs_entry e;
	int tomb; /* a deletion marker: versions up to e.version are gone */
};

static int cmp_listed(const void *a, const void *b)
{
	const struct listed *x = a, *y = b;
	int c = strcmp(x->e.name, y->e.name);

	return c ? c : x->e.version < y->e.version ? 1 : x->e.version > y->e.version ? -1 : 0;
}

int sdfs_list(struct client *cl, const char *prefix, struct sdfs_entry **out)
{
	struct wire_addr *live;
	struct listed *all = NULL;
	size_t na = 0, cap = 0, pl = strlen(prefix);
	int n = client_live(cl, &live), k = 0, failed = 0;

	if (n < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		struct sdfs_req r = {.cmd = SDFS_LIST};
		uint8_t req[SDFS_REQ_MAX], *body;
		size_t len;
		char err[256] = "";
		struct wire_rd rd;
		uint32_t m;
		int rl = sdfs_req_encode(&r, req, sizeof(req));
		if (rl < 0 ||
		    client_call(cl, live[i], req, (size_t)rl, &body, &len, err, sizeof(err))) {
			fprintf(stderr, "agent: %s (skipped)\n", err);
			failed++;
			continue;
		}
		rd = (struct wire_rd){body + 1, len - 1, 0, 0};
		m = body[0] ? 0 : wire_get_u32(&rd);
		for (uint32_t j = 0; j < m && !rd.err; j++) {
			uint8_t nl = wire_get_u8(&rd);
			const uint8_t *p = wire_get_bytes(&rd, nl);
			uint64_t v = wire_get_u64(&rd), size = wire_get_u64(&rd);
			if (!p || nl > STORE_NAME_MAX || nl < pl || memcmp(p, prefix, pl))
				continue;
			if (na == cap) {
				cap = cap ? 2 * cap : 256;
				all = xrealloc(all, cap * sizeof(*all));
			}
			all[na] = (struct listed){.e = {.version = v, .size = size},
						  .tomb = size == SDFS_TOMB_SIZE};
			memcpy(all[na].e.name, p, nl);
			all[na++].e.name[nl] = '\0';
		}
		free(body);
	}
	free(live);
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
