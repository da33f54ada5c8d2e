/*
 * sdfs_get.c - agent get and get-versions, and a file into memory for
 * other subcommands (see sdfs_cli.h): a version is read from its holders
 * in the file's rank order, and a holder that fails or is corrupt hands
 * over to the next from the last whole chunk.
 */
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
#include <unistd.h>

static int holds(const struct holding *h, uint64_t v)
{
	for (int i = 0; i < h->st.n; i++)
		if (h->st.v[i] == v)
			return 1;
	return 0;
}

/*
 * Reads version v of name into out (at its current position), from the
 * holders in their rank order; a holder that fails or is corrupt hands
 * over to the next from the last whole chunk.  With delim, a line
 * "==> NAME version V (SIZE bytes) <==" goes first.  Returns 0 and the size.
 */
static int fetch(struct client *cl, const char *name, uint64_t v, const struct holding *hs, int n,
		 int out, uint64_t *size_out, const char *delim)
{
	struct wire_addr *all = xcalloc((size_t)n + 1, sizeof(*all)),
			 *order = xcalloc((size_t)n + 1, sizeof(*order));
	uint8_t *frame = xmalloc(CHUNK_FRAME_MAX);
	uint64_t done = 0, size = 0;
	off_t base = lseek(out, 0, SEEK_CUR);
	int k = 0, nk, ret = -ENOENT, header = 0;

	for (int i = 0; i < n; i++)
		if (hs[i].ok && holds(&hs[i], v))
			all[k++] = hs[i].who;
	nk = place_replicas(name, all, k, k, order);
	for (int i = 0; i < nk; i++) {
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
			ret = pwrite(out, line, (size_t)ll, base) == ll ? 0 : -errno;
			base += ll;
			header = 1;
		}
		free(body);
		for (uint64_t c = done / STORE_CHUNK; !ret && c < chunk_count(size); c++) {
			size_t fl = chunk_frame_len(size, c);
			uint32_t dl, crc;
			ret = client_recv_all(fd, frame, fl);
			if (!ret && chunk_open(&cl->key, r.sid, (uint32_t)c, frame, fl, &dl, &crc))
				ret = -EBADMSG;
			/* in 128 KiB pieces: see WRITE_PIECE in sdfs.c */
			for (uint32_t o = 0; !ret && o < dl; o += 128u << 10) {
				size_t pl = MIN(dl - o, 128u << 10);
				if (pwrite(out, frame + CHUNK_HDR + o, pl,
					   base + (off_t)(done + o)) != (ssize_t)pl)
					ret = errno ? -errno : -EIO;
			}
			if (!ret)
				done += dl;
		}
		close(fd);
		if (!ret)
			break;
		fprintf(stderr, "agent: reading %s v%llu from %s stopped at byte %llu: %s%s\n",
			name, (unsigned long long)v, who, (unsigned long long)done, strerror(-ret),
			i + 1 < nk ? " (going on with the next replica)" : "");
	}
	free(frame);
	free(all);
	free(order);
	if (!ret) {
		lseek(out, base + (off_t)size, SEEK_SET);
		*size_out = size;
	}
	return ret;
}

/* Opens a temporary file beside local; it is renamed into place at the end. */
static int open_out(const char *cmd, const char *local, char *tmp, size_t tl)
{
	int fd;

	snprintf(tmp, tl, "%s.part-%d", local, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		fprintf(stderr, "agent %s: %s: %s\n", cmd, tmp, strerror(errno));
	return fd;
}

static int close_out(const char *cmd, int fd, const char *tmp, const char *local, int ok)
{
	if (ok && (close(fd) < 0 || rename(tmp, local) < 0)) {
		fprintf(stderr, "agent %s: %s: %s\n", cmd, local, strerror(errno));
		ok = 0;
	} else if (!ok) {
		close(fd);
	}
	if (!ok)
		unlink(tmp);
	return ok;
}

int sdfs_get(struct client *cl, const char *name, const char *local)
{
	struct holding *hs;
	char tmp[4200];
	uint64_t v, size = 0;
	int n, fd, ret;

	ret = sdfs_cli_find(cl, "get", name, &hs, &n, &v);
	if (ret)
		return ret;
	fd = open_out("get", local, tmp, sizeof(tmp));
	if (fd < 0) {
		free(hs);
		return 1;
	}
	ret = fetch(cl, name, v, hs, n, fd, &size, NULL);
	if (ret)
		fprintf(stderr, "agent get: %s: no replica could give version %llu: %s\n", name,
			(unsigned long long)v, strerror(-ret));
	if (!close_out("get", fd, tmp, local, !ret))
		ret = -EIO;
	if (!ret)
		printf("got %s version %llu (%llu bytes)\n", name, (unsigned long long)v,
		       (unsigned long long)size);
	free(hs);
	return ret ? 1 : 0;
}

static int cmp_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

int sdfs_get_versions(struct client *cl, const char *name, const char *count, const char *local)
{
	struct holding *hs;
	uint64_t all[4096];
	char tmp[4200], *end;
	long want = strtol(count, &end, 10);
	int n, na = 0, fd, ret = 0, got = 0;

	if (sdfs_cli_check_name("get-versions", name))
		return 2;
	if (*end || want < 1 || want > 4096) {
		fprintf(stderr, "agent get-versions: N is a number from 1 to 4096, not '%s'\n",
			count);
		return 2;
	}
	n = sdfs_cli_gather(cl, name, &hs);
	if (n < 0)
		return 1;
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
		return 1;
	}
	qsort(all, (size_t)na, sizeof(*all), cmp_desc);
	fd = open_out("get-versions", local, tmp, sizeof(tmp));
	if (fd < 0) {
		free(hs);
		return 1;
	}
	for (int i = 0; i < na && i < want && !ret; i++) {
		/* the delimiter states the size, so the bytes that follow are
		 * unambiguous; a newline follows every version's content */
		uint64_t size = 0;
		ret = fetch(cl, name, all[i], hs, n, fd, &size, name);
		if (ret) {
			fprintf(stderr, "agent get-versions: %s version %llu: %s\n", name,
				(unsigned long long)all[i], strerror(-ret));
			break;
		}
		if (write(fd, "\n", 1) != 1)
			ret = -errno;
		got++;
	}
	if (!close_out("get-versions", fd, tmp, local, !ret))
		ret = -EIO;
	if (!ret)
		printf("got %d version%s of %s (of %d)\n", got, got == 1 ? "" : "s", name, na);
	free(hs);
	return ret ? 1 : 0;
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
	ret = fetch(cl, name, v, hs, n, fd, &size, NULL);
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
