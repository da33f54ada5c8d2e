/*
 * latency.c - loader and reader of the latency probes (see latency.h).
 */
#include "latency.h"
#include "latency.skel.h"
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

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

struct latency {
	struct latency_bpf *skel;
	char pin[512];
	char dir[512];
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

/* Makes sure dir is on a bpffs (mounting one at /sys/fs/bpf if needed). */
static int ensure_bpffs(const char *dir)
{
	struct statfs fs;

	if (statfs("/sys/fs/bpf", &fs) == 0 && fs.f_type != BPF_FS_MAGIC &&
	    mount("bpf", "/sys/fs/bpf", "bpf", 0, NULL) < 0)
		return -errno;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (statfs(dir, &fs) < 0)
		return -errno;
	return fs.f_type == BPF_FS_MAGIC ? 0 : -ENOTSUP;
}

int latency_attach(const char *binary, const char *pin_dir, struct latency **out, char *err,
		   size_t errlen)
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
	l->skel = latency_bpf__open_and_load();
	if (!l->skel) {
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
	snprintf(l->dir, sizeof(l->dir), "%s", pin_dir);
	ret = ensure_bpffs(pin_dir);
	if (ret) {
		util_seterr(err, errlen, "%s: not on a BPF filesystem: %s", pin_dir,
			    strerror(-ret));
		l->dir[0] = '\0';
		goto err;
	}
	snprintf(l->pin, sizeof(l->pin), "%s/lats", pin_dir);
	unlink(l->pin); /* left by an exporter that was killed */
	ret = bpf_map__pin(l->skel->maps.lats, l->pin);
	if (ret) {
		util_seterr(err, errlen, "cannot pin the map at %s: %s", l->pin, strerror(-ret));
		l->pin[0] = '\0';
		goto err;
	}
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
	if (l->pin[0])
		unlink(l->pin);
	if (l->dir[0])
		rmdir(l->dir);
	latency_bpf__destroy(l->skel);
	free(l);
}

int latency_fd(const struct latency *l)
{
	return bpf_map__fd(l->skel->maps.lats);
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
