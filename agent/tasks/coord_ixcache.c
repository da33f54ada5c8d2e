/*
 * coord_ixcache.c - the dataset indexes a hot standby holds for its
 * takeover (see coord_int.h).
 *
 * A new coordinator needs each job's dataset index before it can feed the
 * job's queries again (coord_adopt.c).  Fetched from SDFS at the takeover,
 * it may be out of reach just then: a partition that leaves every replica
 * of the index on the minority side held the majority's jobs, with nothing
 * queued or in flight, until the heal.  So while this node follows a
 * coordinator's state (coord_follow.c), it fetches the index of every
 * running job in that state soon after the job appears, and keeps the
 * bytes (checked when they arrive); a takeover decodes them instead of
 * asking SDFS.  Bounded: IXC_MAX indexes and IXC_BYTES in all; a job
 * beyond that is fetched at the takeover, as before.
 */
#include "tasks/coord_int.h"

#include "core/log.h"
#include "core/loop.h"
#include "sdfs/sdfs_client.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IXC_BYTES    (128ull << 20)
#define IXC_RETRY_MS 1000

struct ixfetch {
	struct coord *c;
	int slot;
	uint32_t gen;
};

static struct ixc_entry *find(struct coord *c, const char *dataset, uint64_t version)
{
	for (int i = 0; i < IXC_MAX; i++) {
		struct ixc_entry *e = &c->ixc[i];
		if (e->version == version && !strcmp(e->dataset, dataset))
			return e;
	}
	return NULL;
}

static uint64_t held_bytes(const struct coord *c)
{
	uint64_t n = 0;

	for (int i = 0; i < IXC_MAX; i++)
		n += c->ixc[i].size;
	return n;
}

static void drop(struct ixc_entry *e)
{
	uint32_t gen = e->gen + 1; /* a fetch still out finds its slot gone */

	free(e->data);
	*e = (struct ixc_entry){.gen = gen};
}

static void on_index(void *arg, int status, uint64_t version, uint64_t size, uint32_t crc,
		     uint8_t *data)
{
	struct ixfetch *f = arg;
	struct ixc_entry *e = &f->c->ixc[f->slot];
	struct dataset_index ix = {0};
	char err[200] = "";

	(void)crc;
	if (e->gen == f->gen && e->fetching) {
		int ok = status == 0 && version == e->version &&
			 dataset_index_decode(data, size, &ix, err, sizeof(err)) == 0;
		e->fetching = 0;
		if (ok && size > IXC_BYTES - held_bytes(f->c)) {
			e->retry_ms = UINT64_MAX; /* too much held: fetched at the takeover */
		} else if (ok) {
			e->data = data;
			e->size = size;
			data = NULL;
			log_msg(LOG_INFO,
				"coordinator: standby: index of %s@%llu held for a takeover "
				"(%u images)",
				e->dataset, (unsigned long long)e->version, ix.nimages);
		} else {
			e->retry_ms = loop_now_ms() + IXC_RETRY_MS;
		}
		dataset_index_free(&ix);
	}
	free(data);
	free(f);
}

static void fetch(struct coord *c, int slot)
{
	struct ixc_entry *e = &c->ixc[slot];
	struct ixfetch *f = xmalloc(sizeof(*f));
	char path[160];

	*f = (struct ixfetch){.c = c, .slot = slot, .gen = e->gen};
	dataset_index_path(e->dataset, path, sizeof(path));
	e->fetching = 1;
	if (sdfs_client_get(c->env.sdfs, path, e->version, -1, DATASET_INDEX_FETCH_MAX, on_index,
			    f)) {
		e->fetching = 0;
		e->retry_ms = loop_now_ms() + IXC_RETRY_MS;
		free(f);
	}
}

void coord_ixcache_tick(struct coord *c, uint64_t now_ms)
{
	struct coord_job_info *ji;
	uint8_t wanted[IXC_MAX] = {0};
	int n;

	if (c->active)
		return;
	if (!c->follow.st) { /* not (or no longer) the standby */
		coord_ixcache_free(c);
		return;
	}
	ji = xcalloc(COORD_JOBS_MAX, sizeof(*ji));
	n = coord_state_jobs(c->follow.st, ji, COORD_JOBS_MAX);
	for (int i = 0; i < n; i++) {
		struct ixc_entry *e;
		if (ji[i].stopped)
			continue;
		e = find(c, ji[i].set.dataset, ji[i].set.index_version);
		for (int k = 0; !e && k < IXC_MAX; k++)
			if (!c->ixc[k].version && !c->ixc[k].fetching) {
				e = &c->ixc[k];
				snprintf(e->dataset, sizeof(e->dataset), "%s", ji[i].set.dataset);
				e->version = ji[i].set.index_version;
			}
		if (!e)
			continue; /* full: fetched at the takeover */
		wanted[e - c->ixc] = 1;
		if (!e->data && !e->fetching && now_ms >= e->retry_ms)
			fetch(c, (int)(e - c->ixc));
	}
	/* the indexes of jobs gone or stopped: dropped */
	for (int k = 0; k < IXC_MAX; k++)
		if (!wanted[k] && c->ixc[k].version)
			drop(&c->ixc[k]);
	free(ji);
}

int coord_ixcache_decode(struct coord *c, const char *dataset, uint64_t version,
			 struct dataset_index *ix)
{
	struct ixc_entry *e = find(c, dataset, version);
	char err[200];

	if (!e || !e->data)
		return -1;
	if (dataset_index_decode(e->data, e->size, ix, err, sizeof(err))) {
		dataset_index_free(ix);
		memset(ix, 0, sizeof(*ix));
		return -1;
	}
	return 0;
}

void coord_ixcache_free(struct coord *c)
{
	for (int k = 0; k < IXC_MAX; k++)
		drop(&c->ixc[k]);
}
