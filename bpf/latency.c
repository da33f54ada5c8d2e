/*
 * latency.c - loader and reader of the latency probes (see latency.h).
 */
#include "latency.h"
#include "latency.skel.h"
#include "probes.h"
#include "util.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

/* The engine's flag and the probes' are one. */
_Static_assert(PROBE_COLD == LAT_COLD, "engine/probes.h and common/hist.h disagree");

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

struct latency {
	struct latency_bpf *skel;
	char pin[512]; /* where this instance pinned its map; "" when it did not */
	char dir[512]; /* the folder it made; "" when it was there */
};

/* The start_key of latency.bpf.c's `starts` map (deleted by latency_forget). */
struct start_key {
	__u32 tgid;
	__u32 job;
	__u64 query;
};

/* libbpf's messages, kept for error reports instead of printed. */
static char last_msg[512];

static int keep_msg(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char buf[512];
	size_t n;

	if (level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	if (n)
		memcpy(last_msg, buf, n + 1);
	return 0;
}

/* Makes sure dir is on a bpffs (mounting one at /sys/fs/bpf if needed); *made: it created dir. */
static int ensure_bpffs(const char *dir, int *made)
{
	struct statfs fs;

	*made = 0;
	if (statfs("/sys/fs/bpf", &fs) == 0 && fs.f_type != BPF_FS_MAGIC &&
	    mount("bpf", "/sys/fs/bpf", "bpf", 0, NULL) < 0)
		return -errno;
	if (mkdir(dir, 0700) == 0)
		*made = 1;
	else if (errno != EEXIST)
		return -errno;
	if (statfs(dir, &fs) < 0)
		return -errno;
	return fs.f_type == BPF_FS_MAGIC ? 0 : -ENOTSUP;
}

/* The id of the map behind fd, or 0. */
static __u32 map_id(int fd)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

/*
 * Whether a loaded program uses map id: 1 yes, 0 no, -errno when the
 * programs cannot be listed (listing needs CAP_SYS_ADMIN).
 */
static int map_in_use(__u32 id)
{
	__u32 prog = 0, maps[64];
	int ret;

	while (!(ret = bpf_prog_get_next_id(prog, &prog))) {
		struct bpf_prog_info info;
		__u32 len = sizeof(info);
		int fd = bpf_prog_get_fd_by_id(prog);

		if (fd < 0)
			continue; /* unloaded meanwhile */
		memset(&info, 0, sizeof(info));
		info.nr_map_ids = ARRAY_SIZE(maps);
		info.map_ids = (__u64)(unsigned long)maps;
		ret = bpf_obj_get_info_by_fd(fd, &info, &len);
		close(fd);
		if (ret)
			continue;
		for (__u32 i = 0; i < info.nr_map_ids && i < ARRAY_SIZE(maps); i++)
			if (maps[i] == id)
				return 1;
	}
	return errno == ENOENT ? 0 : -errno;
}

/*
 * Pins l's map at pin_dir/lats.  A pin there already: replaced when no
 * program uses its map (an exporter was killed), else -EBUSY.
 */
static int pin_map(struct latency *l, const char *pin_dir, char *err, size_t errlen)
{
	char path[sizeof(l->pin)];
	int made, ret, fd;

	ret = ensure_bpffs(pin_dir, &made);
	if (ret) {
		util_seterr(err, errlen, "%s: not on a BPF filesystem: %s", pin_dir,
			    strerror(-ret));
		return ret;
	}
	if (made)
		snprintf(l->dir, sizeof(l->dir), "%s", pin_dir);
	snprintf(path, sizeof(path), "%s/lats", pin_dir);
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		int used = map_in_use(map_id(fd));
		close(fd);
		if (used > 0) {
			util_seterr(err, errlen,
				    "another exporter serves from %s (a loaded program uses its "
				    "map); stop it, or give this one another --pin-dir",
				    path);
			return -EBUSY;
		}
		if (used < 0)
			fprintf(stderr,
				"latency: cannot tell whether %s is in use (%s); replacing it\n",
				path, strerror(-used));
		unlink(path); /* left by an exporter that was killed */
	}
	ret = bpf_map__pin(l->skel->maps.lats, path);
	if (ret) {
		util_seterr(err, errlen, "cannot pin the map at %s: %s", path, strerror(-ret));
		return ret;
	}
	snprintf(l->pin, sizeof(l->pin), "%s", path);
	return 0;
}

int latency_attach(const char *binary, const char *pin_dir, unsigned max_entries,
		   struct latency **out, char *err, size_t errlen)
{
	struct latency *l = xcalloc(1, sizeof(*l));
	LIBBPF_OPTS(bpf_uprobe_opts, o_start, .func_name = "idunno_query_start");
	LIBBPF_OPTS(bpf_uprobe_opts, o_end, .func_name = "idunno_query_end");
	int ret;

	libbpf_set_print(keep_msg);
	last_msg[0] = '\0';
	if (access(binary, R_OK) < 0) {
		ret = -errno;
		util_seterr(err, errlen, "%s: %s", binary, strerror(errno));
		goto err;
	}
	l->skel = latency_bpf__open();
	if (l->skel)
		bpf_map__set_max_entries(l->skel->maps.lats,
					 max_entries ? max_entries : LATENCY_MAX_ENTRIES);
	if (!l->skel || latency_bpf__load(l->skel)) {
		ret = -errno;
		util_seterr(err, errlen, "cannot load the BPF programs: %s%s%s", strerror(errno),
			    last_msg[0] ? ": " : "", last_msg);
		goto err;
	}
	l->skel->links.query_start = bpf_program__attach_uprobe_opts(l->skel->progs.query_start, -1,
								     binary, 0, &o_start);
	if (!l->skel->links.query_start) {
		ret = -errno;
		util_seterr(err, errlen, "cannot attach to idunno_query_start in %s: %s", binary,
			    strerror(errno));
		goto err;
	}
	l->skel->links.query_end =
		bpf_program__attach_uprobe_opts(l->skel->progs.query_end, -1, binary, 0, &o_end);
	if (!l->skel->links.query_end) {
		ret = -errno;
		util_seterr(err, errlen, "cannot attach to idunno_query_end in %s: %s", binary,
			    strerror(errno));
		goto err;
	}
	if (pin_dir && (ret = pin_map(l, pin_dir, err, errlen)))
		goto err;
	*out = l;
	return 0;
err:
	latency_detach(l);
	return ret < 0 ? ret : -EINVAL;
}

void latency_detach(struct latency *l)
{
	if (!l)
		return;
	if (l->pin[0]) { /* still ours? another exporter may have replaced it */
		int fd = bpf_obj_get(l->pin);
		if (fd >= 0 && map_id(fd) == map_id(bpf_map__fd(l->skel->maps.lats)))
			unlink(l->pin);
		if (fd >= 0)
			close(fd);
	}
	if (l->dir[0])
		rmdir(l->dir); /* only when empty */
	latency_bpf__destroy(l->skel);
	free(l);
}

int latency_fd(const struct latency *l)
{
	return bpf_map__fd(l->skel->maps.lats);
}

void latency_drops(const struct latency *l, uint64_t out[LAT_DROP_MAX])
{
	int ncpu = libbpf_num_possible_cpus(), fd = bpf_map__fd(l->skel->maps.drops);
	__u64 *per = xcalloc(ncpu > 0 ? (size_t)ncpu : 1, sizeof(*per));

	for (__u32 k = 0; k < LAT_DROP_MAX; k++) {
		out[k] = 0;
		if (ncpu > 0 && !bpf_map_lookup_elem(fd, &k, per))
			for (int c = 0; c < ncpu; c++)
				out[k] += per[c];
	}
	free(per);
}

/* Deletes the keys of fd (key_size bytes, tgid first) whose tgid is tgid. */
static int forget(int fd, size_t key_size, __u32 tgid)
{
	unsigned char k[32], next[32];
	int first = 1, n = 0;

	while (bpf_map_get_next_key(fd, first ? NULL : k, next) == 0) {
		__u32 t;
		memcpy(&t, next, sizeof(t));
		if (t == tgid && bpf_map_delete_elem(fd, next) == 0) {
			n++;
			continue; /* k stays: the walk goes on after it */
		}
		first = 0;
		memcpy(k, next, key_size);
	}
	return n;
}

int latency_forget(const struct latency *l, __u32 tgid)
{
	forget(bpf_map__fd(l->skel->maps.starts), sizeof(struct start_key), tgid);
	return forget(bpf_map__fd(l->skel->maps.lats), sizeof(struct lat_key), tgid);
}

int latency_open_pinned(const char *pin_dir)
{
	char path[600];
	int fd;

	snprintf(path, sizeof(path), "%s/lats", pin_dir);
	fd = bpf_obj_get(path);
	return fd < 0 ? -errno : fd;
}

int latency_foreach(int fd, latency_fn fn, void *arg)
{
	struct lat_key k, next;
	struct lat_val *v = xmalloc(sizeof(*v));
	int first = 1, ret = 0;

	while (bpf_map_get_next_key(fd, first ? NULL : &k, &next) == 0) {
		first = 0;
		k = next;
		if (bpf_map_lookup_elem(fd, &k, v) < 0)
			continue; /* deleted meanwhile */
		ret = fn(&k, v, arg);
		if (ret)
			break;
	}
	free(v);
	return ret;
}

struct job_sum {
	__u32 tgid, job;
	struct hist *svc, *wait;
	int n;
};

static int add_job(const struct lat_key *k, const struct lat_val *v, void *arg)
{
	struct job_sum *s = arg;

	if (k->job == s->job && (!s->tgid || k->tgid == s->tgid)) {
		hist_merge(s->svc, &v->svc);
		hist_merge(s->wait, &v->wait);
		s->n++;
	}
	return 0;
}

int latency_job(int fd, __u32 tgid, __u32 job, struct hist *svc, struct hist *wait)
{
	struct job_sum s = {tgid, job, svc, wait, 0};

	memset(svc, 0, sizeof(*svc));
	memset(wait, 0, sizeof(*wait));
	latency_foreach(fd, add_job, &s);
	return s.n;
}
