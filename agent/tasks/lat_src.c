/*
 * lat_src.c - per-query latency from the BPF histograms, when there are
 * any (see lat_src.h).  Built without BPF (no kernel BTF, bpftool or
 * clang when the project was built), it always answers -ENODATA.
 */
#include "tasks/lat_src.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef IDUNNO_BPF
#include "latency.h"
#endif

#define JOBS_MAX  256
#define REOPEN_MS 5000

struct seen { /* what the histograms held at the last read, per (engine, job) */
	uint32_t tgid, job;
	uint64_t count, sum, wcount, wsum;
};

struct lat_src {
	char pin_dir[256];
	int fd;
	uint64_t next_open;
	struct seen seen[JOBS_MAX];
	int nseen;
};

struct lat_src *lat_src_new(const char *pin_dir)
{
	struct lat_src *s = xcalloc(1, sizeof(*s));

#ifdef IDUNNO_BPF
	snprintf(s->pin_dir, sizeof(s->pin_dir), "%s", pin_dir ? pin_dir : LATENCY_PIN_DIR);
#else
	(void)pin_dir;
#endif
	s->fd = -1;
	return s;
}

void lat_src_free(struct lat_src *s)
{
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	free(s);
}

int lat_src_bpf(const struct lat_src *s)
{
	return s->fd >= 0;
}

int lat_src_batch(struct lat_src *s, uint32_t tgid, uint32_t job, uint64_t now_ms,
		  uint64_t *service_ns, uint64_t *wait_ns)
{
#ifdef IDUNNO_BPF
	static struct hist svc, wait; /* large: not on the loop's stack */
	struct seen *e = NULL;
	uint64_t dc, dw;

	if (s->fd < 0) {
		if (now_ms < s->next_open)
			return -ENODATA;
		s->next_open = now_ms + REOPEN_MS;
		s->fd = latency_open_pinned(s->pin_dir);
		if (s->fd < 0)
			return -ENODATA;
	}
	if (latency_job(s->fd, tgid, job, &svc, &wait) < 0) {
		close(s->fd); /* the exporter went away: its map is unpinned */
		s->fd = -1;
		return -ENODATA;
	}
	for (int i = 0; i < s->nseen && !e; i++)
		if (s->seen[i].tgid == tgid && s->seen[i].job == job)
			e = &s->seen[i];
	if (!e) {
		e = &s->seen[s->nseen < JOBS_MAX ? s->nseen++ : (int)(job % JOBS_MAX)];
		*e = (struct seen){.tgid = tgid, .job = job};
	}
	dc = svc.count - e->count;
	dw = wait.count - e->wcount;
	if (svc.count < e->count || dc == 0) { /* a new engine, or nothing new */
		char path[300];
		e->count = svc.count, e->sum = svc.sum, e->wcount = wait.count, e->wsum = wait.sum;
		snprintf(path, sizeof(path), "%s/lats", s->pin_dir);
		if (access(path, F_OK)) { /* the exporter left: its probes are gone */
			close(s->fd);
			s->fd = -1;
		}
		return -ENODATA;
	}
	*service_ns = (svc.sum - e->sum) / dc;
	*wait_ns = dw ? (wait.sum - e->wsum) / dw : 0;
	e->count = svc.count, e->sum = svc.sum, e->wcount = wait.count, e->wsum = wait.sum;
	return 0;
#else
	(void)s, (void)tgid, (void)job, (void)now_ms, (void)service_ns, (void)wait_ns;
	return -ENODATA;
#endif
}
