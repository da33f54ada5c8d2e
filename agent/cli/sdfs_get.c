/*
 * sdfs_get.c - agent get and get-versions (to a file, or to standard
 * output for "-"), and a file into memory for other subcommands (see
 * sdfs_cli.h): a version is read from its holders in the file's rank
 * order, and a holder that fails or is corrupt hands over to the next
 * from the last whole chunk.
 */
#include "cli/cli.h"
#include "cli/sdfs_cli.h"
#include "cli/sdfs_cli_int.h"
#include "sdfs/place.h"
#include "sdfs/sdfs_wire.h"
#include "sdfs/store.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int holds(const struct holding *h, uint64_t v)
{
	for (int i = 0; i < h->st.n; i++)
		if (h->st.v[i] == v)
			return 1;
	return 0;
}

/* Writes all of p to out (a file, a pipe, a terminal). 0 or -errno. */
static int write_all(int out, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t w = write(out, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/*
 * Writes version v of name to out (in order, from its current position:
 * out may be a pipe), from the holders in their rank order; a holder that
 * fails or is corrupt hands over to the next from the last whole chunk.
 * With delim, a line "==> NAME version V (SIZE bytes) <==" goes first.
 * Returns 0 and the size; *out_err is set when writing out failed (no
 * other holder is tried then).
 */
static int fetch(struct client *cl, const char *name, uint64_t v, const struct holding *hs, int n,
		 int out, uint64_t *size_out, const char *delim, int *out_err)
{
	struct wire_addr *all = xcalloc((size_t)n + 1, sizeof(*all)),
			 *order = xcalloc((size_t)n + 1, sizeof(*order));
	uint8_t *frame = xmalloc(CHUNK_FRAME_MAX);
	uint64_t done = 0, size = 0;
	int k = 0, nk, ret = -ENOENT, header = 0;

	*out_err = 0;
	for (int i = 0; i < n; i++)
		if (hs[i].ok && holds(&hs[i], v))
			all[k++] = hs[i].who;
	nk = place_replicas(name, all, k, k, order);
	for (int i = 0; i < nk && !*out_err; i++) {
		struct sdfs_req r = {.cmd = SDFS_READ, .version = v, .offset = done};
		char err[256], who[32];
		uint8_t *body = NULL;
		size_t len;
		int fd = sdfs_cli_stream(cl, order[i], &r, name, &body, &len, err, sizeof(err));
		wire_addr_str(order[i], who, sizeof(who));
		if (fd < 0) {
			fprintf(stderr, "agent: %s (trying the next replica)\n", err);
			ret = fd;
			continue;
		}
		ret = 0;
		if (body[0]) {
			sdfs_cli_status("get", who, body, len);
			ret = -body[0];
		} else {
			uint64_t version;
			ret = sdfs_read_ans_decode(body, len, &version, &size) ? -EPROTO : 0;
		}
		if (!ret && delim && !header) {
			char line[256];
			int ll = snprintf(line, sizeof(line),
					  "==> %s version %llu (%llu bytes) <==\n", delim,
					  (unsigned long long)v, (unsigned long long)size);
			ret = write_all(out, (uint8_t *)line, (size_t)ll);
			*out_err = ret != 0;
			header = 1;
		}
		free(body);
		for (uint64_t c = done / STORE_CHUNK; !ret && c < chunk_count(size); c++) {
			size_t fl = chunk_frame_len(size, c);
			uint32_t dl, crc;
			ret = client_recv_all(fd, frame, fl);
			if (!ret && chunk_open(&cl->key, r.sid, (uint32_t)c, frame, fl, &dl, &crc))
				ret = -EBADMSG;
			/* a whole chunk checked, then written: a holder that fails
			 * leaves the output at the end of the last whole chunk */
			if (!ret) {
				ret = write_all(out, frame + CHUNK_HDR, dl);
				*out_err = ret != 0;
			}
			if (!ret)
				done += dl;
		}
		close(fd);
		if (!ret || *out_err)
			break;
		fprintf(stderr, "agent: reading %s v%llu from %s stopped at byte %llu: %s%s\n",
			name, (unsigned long long)v, who, (unsigned long long)done, strerror(-ret),
			i + 1 < nk ? " (going on with the next replica)" : "");
	}
	free(frame);
	free(all);
	free(order);
	if (!ret)
		*size_out = size;
	return ret;
}

/*
 * Where a get writes: standard output for "-", else a temporary file
 * beside local, renamed into place at the end.  Checked before anything
 * is fetched: local must not exist (unless --force) and its folder must.
 */
struct out {
	const char *cmd, *local;
	char tmp[4200];
	int fd, std;
};

static int out_check(struct out *o, const char *cmd, const char *local, int force)
{
	char dir[4096];
	const char *slash = strrchr(local, '/');
	struct stat st;

	*o = (struct out){.cmd = cmd, .local = local, .fd = -1, .std = !strcmp(local, "-")};
	if (o->std)
		return 0;
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - local) + 1 : 1,
		 slash ? local : ".");
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "agent %s: %s: no such folder %s\n", cmd, local, dir);
		return CLI_FAILED;
	}
	if (stat(local, &st) == 0 && (S_ISDIR(st.st_mode) || !force)) {
		fprintf(stderr, "agent %s: %s: %s\n", cmd, local,
			S_ISDIR(st.st_mode) ? "is a folder"
					    : "exists (not overwritten; --force overwrites it)");
		return CLI_FAILED;
	}
	return 0;
}

static int out_open(struct out *o)
{
	if (o->std) {
		o->fd = STDOUT_FILENO;
		return 0;
	}
	snprintf(o->tmp, sizeof(o->tmp), "%s.part-%d", o->local, (int)getpid());
	o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (o->fd < 0)
		fprintf(stderr, "agent %s: %s: %s\n", o->cmd, o->local, strerror(errno));
	return o->fd < 0 ? -1 : 0;
}

/* Closes (renames into place when ok; removes otherwise). Returns ok. */
static int out_close(struct out *o, int ok)
{
	if (o->std)
		return ok;
	if (ok && (close(o->fd) < 0 || rename(o->tmp, o->local) < 0)) {
		fprintf(stderr, "agent %s: %s: %s\n", o->cmd, o->local, strerror(errno));
		ok = 0;
	} else if (!ok) {
		close(o->fd);
	}
	if (!ok)
		unlink(o->tmp);
	return ok;
}

int cli_get(struct cli *c)
{
	const char *name = c->arg[0];
	struct holding *hs;
	struct out o;
	uint64_t v, size = 0;
	int n, ret, out_err;

	if (sdfs_cli_check_name("get", name))
		return CLI_USAGE;
	if ((ret = out_check(&o, "get", c->arg[1], c->force)))
		return ret;
	ret = sdfs_cli_find(&c->cl, "get", name, &hs, &n, &v);
	if (ret)
		return ret;
	if (out_open(&o)) {
		free(hs);
		return CLI_FAILED;
	}
	ret = fetch(&c->cl, name, v, hs, n, o.fd, &size, NULL, &out_err);
	if (ret)
		fprintf(stderr, "agent get: %s: %s version %llu: %s\n", name,
			out_err ? "writing" : "no replica could give", (unsigned long long)v,
			strerror(-ret));
	if (!out_close(&o, !ret))
		ret = -EIO;
	if (!ret && !o.std && c->json) {
		printf("{\"name\":");
		cli_json_str(name);
		printf(",\"version\":%llu,\"bytes\":%llu,\"local\":", (unsigned long long)v,
		       (unsigned long long)size);
		cli_json_str(o.local);
		printf("}\n");
	} else if (!ret && !o.std) {
		printf("got %s version %llu (%llu bytes)\n", name, (unsigned long long)v,
		       (unsigned long long)size);
	}
	free(hs);
	return ret ? CLI_FAILED : CLI_OK;
}

static int cmp_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

int cli_get_versions(struct cli *c)
{
	const char *name = c->arg[0], *count = c->arg[1];
	struct holding *hs;
	uint64_t all[4096];
	struct out o;
	char *end;
	long want = strtol(count, &end, 10);
	int n, na = 0, ret = 0, got = 0, out_err = 0;

	if (sdfs_cli_check_name("get-versions", name))
		return CLI_USAGE;
	if (*end || want < 1 || want > 4096) {
		fprintf(stderr, "agent get-versions: N is a number from 1 to 4096, not '%s'\n",
			count);
		return CLI_USAGE;
	}
	if ((ret = out_check(&o, "get-versions", c->arg[2], c->force)))
		return ret;
	n = sdfs_cli_gather(&c->cl, name, &hs);
	if (n < 0)
		return CLI_FAILED;
	for (int i = 0; i < n; i++) /* the union of every member's versions */
		for (int j = 0; hs[i].ok && j < hs[i].st.n; j++) {
			int dup = 0;
			for (int k = 0; k < na && !dup; k++)
				dup = all[k] == hs[i].st.v[j];
			if (!dup && na < 4096)
				all[na++] = hs[i].st.v[j];
		}
	if (na == 0) {
		fprintf(stderr, "agent get-versions: %s: no such file\n", name);
		free(hs);
		return CLI_NOT_FOUND;
	}
	qsort(all, (size_t)na, sizeof(*all), cmp_desc);
	if (out_open(&o)) {
		free(hs);
		return CLI_FAILED;
	}
	for (int i = 0; i < na && i < want && !ret; i++) {
		/* the delimiter states the size, so the bytes that follow are
		 * unambiguous; a newline follows every version's content */
		uint64_t size = 0;
		ret = fetch(&c->cl, name, all[i], hs, n, o.fd, &size, name, &out_err);
		if (!ret)
			ret = write_all(o.fd, (const uint8_t *)"\n", 1);
		if (ret) {
			fprintf(stderr, "agent get-versions: %s version %llu: %s\n", name,
				(unsigned long long)all[i], strerror(-ret));
			break;
		}
		got++;
	}
	if (!out_close(&o, !ret))
		ret = -EIO;
	if (!ret && !o.std && c->json) {
		printf("{\"name\":");
		cli_json_str(name);
		printf(",\"versions\":[");
		for (int i = 0; i < got; i++)
			printf("%s%llu", i ? "," : "", (unsigned long long)all[i]);
		printf("],\"local\":");
		cli_json_str(o.local);
		printf("}\n");
	} else if (!ret && !o.std) {
		printf("got %d version%s of %s (of %d)\n", got, got == 1 ? "" : "s", name, na);
	}
	free(hs);
	return ret ? CLI_FAILED : CLI_OK;
}

/* For other subcommands: a file into memory. */
int sdfs_get_mem(struct client *cl, const char *name, uint64_t max, uint8_t **data, size_t *len,
		 uint64_t *version)
{
	struct holding *hs;
	uint64_t v, size = 0;
	int n, fd, ret;

	if (sdfs_cli_check_name("get", name))
		return -EINVAL;
	n = sdfs_cli_gather(cl, name, &hs);
	if (n < 0)
		return -EIO;
	v = sdfs_cli_newest(hs, n);
	if (!v) {
		free(hs);
		return -ENOENT;
	}
	fd = memfd_create("sdfs-get", MFD_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		free(hs);
		return ret;
	}
	{
		int out_err;
		ret = fetch(cl, name, v, hs, n, fd, &size, NULL, &out_err);
	}
	free(hs);
	if (!ret && size > max)
		ret = -EFBIG;
	if (!ret) {
		*data = xmalloc(size + 1);
		if (pread(fd, *data, size, 0) != (ssize_t)size) {
			ret = -EIO;
			free(*data);
		} else {
			*len = size;
			*version = v;
		}
	}
	close(fd);
	return ret;
}
