/*
 * sdfs_cli.c - SDFS subcommands (see sdfs_cli.h).
 */
#include "cli/sdfs_cli.h"
#include "sdfs/place.h"
#include "sdfs/sdfs_wire.h"
#include "sdfs/store.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* What one member holds of a name: its versions, newest first, and up to
 * which version it knows the name was deleted. */
struct holding {
	struct wire_addr who;
	int ok;
	struct sdfs_stat st; /* n, v[] (newest first), deleted */
};

static int check_name(const char *cmd, const char *name)
{
	char err[200];

	if (store_name_check(name, err, sizeof(err))) {
		fprintf(stderr, "agent %s: bad name: %s\n", cmd, err);
		return -1;
	}
	return 0;
}

static int send_sdfs(struct client *cl, int fd, const struct sdfs_req *r)
{
	uint8_t p[SDFS_REQ_MAX];
	int n = sdfs_req_encode(r, p, sizeof(p));

	return n < 0 ? n : client_send_request(cl, fd, p, (size_t)n);
}

static int call_sdfs(struct client *cl, struct wire_addr to, const struct sdfs_req *r,
		     uint8_t **body, size_t *len, char *err, size_t errlen)
{
	uint8_t p[SDFS_REQ_MAX];
	int n = sdfs_req_encode(r, p, sizeof(p));

	return n < 0 ? n : client_call(cl, to, p, (size_t)n, body, len, err, errlen);
}

/*
 * Opens a stream: connects to `to`, sends r (for name, with a fresh stream
 * id) and reads the first answer into *body.  Returns the socket, or
 * -errno with err filled.
 */
static int start_stream(struct client *cl, struct wire_addr to, struct sdfs_req *r,
			const char *name, uint8_t **body, size_t *len, char *err, size_t errlen)
{
	int fd = client_connect(cl, to, err, errlen), ret;

	if (fd < 0)
		return fd;
	snprintf(r->name, sizeof(r->name), "%s", name);
	randombytes_buf(r->sid, sizeof(r->sid));
	ret = send_sdfs(cl, fd, r);
	if (!ret)
		ret = client_recv_response(cl, fd, body, len);
	if (ret) {
		char who[32];
		wire_addr_str(to, who, sizeof(who));
		util_seterr(err, errlen, "%s: %s", who, strerror(-ret));
		close(fd);
		return ret;
	}
	return fd;
}

/* The versions every live member holds. Returns how many members, or -1. */
static int gather(struct client *cl, const char *name, struct holding **out)
{
	struct wire_addr *live;
	int n = client_live(cl, &live);

	if (n < 0)
		return -1;
	*out = xcalloc((size_t)n + 1, sizeof(**out));
	for (int i = 0; i < n; i++) {
		struct sdfs_req r = {.cmd = SDFS_STAT};
		struct holding *h = &(*out)[i];
		uint8_t *body;
		size_t len;
		char err[256];
		h->who = live[i];
		snprintf(r.name, sizeof(r.name), "%s", name);
		if (call_sdfs(cl, live[i], &r, &body, &len, err, sizeof(err))) {
			fprintf(stderr, "agent: %s (skipped)\n", err);
			continue;
		}
		h->ok = body[0] == 0 && sdfs_stat_decode(body, len, &h->st) == 0;
		if (!h->ok)
			h->st.n = 0;
		free(body);
	}
	free(live);
	/* a member that missed a delete may still hold deleted versions (until
	 * its next repair round): they are not the file any more */
	{
		uint64_t deleted = 0;
		for (int i = 0; i < n; i++)
			if ((*out)[i].ok)
				deleted = MAX(deleted, (*out)[i].st.deleted);
		for (int i = 0; i < n; i++) {
			struct sdfs_stat *st = &(*out)[i].st;
			int k = 0;
			for (int j = 0; j < st->n; j++)
				if (st->v[j] > deleted)
					st->v[k++] = st->v[j];
			st->n = k;
		}
	}
	return n;
}

/* ---- put ---- */

static int stream_file(struct client *cl, int fd, int in, uint64_t size, const uint8_t *sid)
{
	uint8_t *frame = xmalloc(CHUNK_FRAME_MAX);
	int ret = 0;

	for (uint64_t i = 0; !ret && i < chunk_count(size); i++) {
		uint32_t len = (uint32_t)MIN((uint64_t)STORE_CHUNK, size - i * STORE_CHUNK);
		ssize_t r = pread(in, frame + CHUNK_HDR, len, (off_t)(i * STORE_CHUNK));
		if (r != (ssize_t)len) {
			ret = r < 0 ? -errno : -EIO;
			break;
		}
		struct pollfd p = {fd, POLLIN, 0};
		chunk_seal(&cl->key, sid, (uint32_t)i, frame, len,
			   store_crc32c(0, frame + CHUNK_HDR, len));
		if (poll(&p, 1, 0) > 0) /* an answer before the end: the head gave up */
			break;
		ret = client_send_all(fd, frame, CHUNK_HDR + len + CHUNK_TAG);
	}
	free(frame);
	return ret;
}

static void print_status(const char *cmd, const char *what, const uint8_t *body, size_t len)
{
	const char *text;
	size_t tlen;
	int status;

	sdfs_status_decode(body, len, &status, &text, &tlen);
	fprintf(stderr, "agent %s: %s: %s%s%.*s\n", cmd, what, strerror(status), tlen ? ": " : "",
		(int)tlen, text);
}

/*
 * Puts size bytes of in (read from offset 0) as a new version of name.
 * Returns 0 with the version, or 1 with the reason printed (as cmd's).
 */
static int put_stream(struct client *cl, const char *cmd, int in, uint64_t size, const char *name,
		      int quiet, uint64_t *version_out)
{
	struct wire_addr *live, ranked[64];
	int n, k, status = 1, tries = 0;

	n = client_live(cl, &live);
	if (n <= 0)
		return 1;
	k = place_replicas(name, live, n, 64, ranked);
	/* the head is the file's first ranked member; if it cannot take the
	 * file (a full disk, say), the next one */
	for (int i = 0; i < k && tries < 3 && status; i++, tries++) {
		struct sdfs_req r = {.cmd = SDFS_WRITE, .size = size};
		char err[256], head[32];
		uint8_t *body = NULL;
		size_t len;
		int fd = start_stream(cl, ranked[i], &r, name, &body, &len, err, sizeof(err)), ret;
		wire_addr_str(ranked[i], head, sizeof(head));
		if (fd < 0) {
			fprintf(stderr, "agent %s: %s (trying the next)\n", cmd, err);
			continue;
		}
		if (body[0]) {
			int refusal = body[0];
			print_status(cmd, head, body, len);
			free(body);
			close(fd);
			if (refusal == EINVAL)
				break;
			continue;
		}
		{
			struct sdfs_ready rdy;
			char reps[(SDFS_MAX_CAND + 1) * 24] = "";
			if (sdfs_ready_decode(body, len, &rdy)) {
				fprintf(stderr, "agent %s: %s: a malformed answer\n", cmd, head);
				free(body);
				close(fd);
				break;
			}
			for (int j = 0; j < rdy.nreps; j++) {
				char a[32];
				wire_addr_str(rdy.reps[j], a, sizeof(a));
				snprintf(reps + strlen(reps), sizeof(reps) - strlen(reps), "%s%s",
					 j ? " " : "", a);
			}
			free(body);
			body = NULL;
			ret = stream_file(cl, fd, in, size, r.sid);
			/* even after a failed send the head may have said why */
			if (client_recv_response(cl, fd, &body, &len) == 0) {
				if (body[0] == 0) {
					if (!quiet)
						printf("put %s version %llu (%llu bytes) on %s\n",
						       name, (unsigned long long)rdy.version,
						       (unsigned long long)size, reps);
					if (version_out)
						*version_out = rdy.version;
					status = 0;
				} else {
					print_status(cmd, "not stored", body, len);
				}
				free(body);
			} else {
				fprintf(stderr, "agent %s: %s not stored: %s\n", cmd, name,
					strerror(ret ? -ret : ECONNRESET));
			}
		}
		close(fd);
		break; /* data moved: a failure now is not retried elsewhere */
	}
	free(live);
	return status;
}

int sdfs_put(struct client *cl, const char *local, const char *name)
{
	return sdfs_put_file(cl, "put", local, name, 0, NULL);
}

int sdfs_put_file(struct client *cl, const char *cmd, const char *local, const char *name,
		  int quiet, uint64_t *version)
{
	struct stat st;
	int in, status;

	if (check_name(cmd, name))
		return 2;
	in = open(local, O_RDONLY | O_CLOEXEC);
	if (in < 0 || fstat(in, &st) < 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "agent %s: %s: %s\n", cmd, local,
			in < 0 ? strerror(errno) : "not a regular file");
		if (in >= 0)
			close(in);
		return 1;
	}
	status = put_stream(cl, cmd, in, (uint64_t)st.st_size, name, quiet, version);
	close(in);
	return status;
}

int sdfs_put_fd(struct client *cl, const char *cmd, int fd, uint64_t size, const char *name,
		uint64_t *version)
{
	if (check_name(cmd, name))
		return 2;
	return put_stream(cl, cmd, fd, size, name, 1, version);
}

/* ---- get ---- */

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
		int fd = start_stream(cl, order[i], &r, name, &body, &len, err, sizeof(err));
		wire_addr_str(order[i], who, sizeof(who));
		if (fd < 0) {
			fprintf(stderr, "agent: %s (trying the next replica)\n", err);
			ret = fd;
			continue;
		}
		ret = 0;
		if (body[0]) {
			print_status("get", who, body, len);
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

static uint64_t newest(const struct holding *hs, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		if (hs[i].ok && hs[i].st.n)
			v = MAX(v, hs[i].st.v[0]);
	return v;
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

	if (check_name("get", name))
		return 2;
	n = gather(cl, name, &hs);
	if (n < 0)
		return 1;
	v = newest(hs, n);
	if (!v) {
		fprintf(stderr, "agent get: %s: no such file\n", name);
		free(hs);
		return 1;
	}
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

	if (check_name("get-versions", name))
		return 2;
	if (*end || want < 1 || want > 4096) {
		fprintf(stderr, "agent get-versions: N is a number from 1 to 4096, not '%s'\n",
			count);
		return 2;
	}
	n = gather(cl, name, &hs);
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

/* ---- delete, ls, store ---- */

int sdfs_delete(struct client *cl, const char *name)
{
	struct holding *hs;
	uint64_t upto;
	int n, had = 0, failed = 0;

	if (check_name("delete", name))
		return 2;
	n = gather(cl, name, &hs);
	if (n < 0)
		return 1;
	/* every version up to the newest one now: a put racing with this
	 * delete and ordered after it survives */
	upto = newest(hs, n);
	if (!upto) {
		fprintf(stderr, "agent delete: %s: no such file\n", name);
		free(hs);
		return 1;
	}
	for (int i = 0; i < n; i++) {
		struct sdfs_req r = {.cmd = SDFS_DELETE, .version = upto};
		uint8_t *body;
		size_t len;
		char err[256];
		snprintf(r.name, sizeof(r.name), "%s", name);
		if (call_sdfs(cl, hs[i].who, &r, &body, &len, err, sizeof(err))) {
			fprintf(stderr, "agent delete: %s\n", err);
			failed++;
			continue;
		}
		{
			uint32_t removed;
			had += sdfs_delete_ans_decode(body, len, &removed) == 0 && removed > 0;
		}
		free(body);
	}
	free(hs);
	printf("deleted %s (versions up to %llu) from %d member%s%s\n", name,
	       (unsigned long long)upto, had, had == 1 ? "" : "s",
	       failed ? "; some were unreachable: they drop it when they next hear of it" : "");
	return 0;
}

int sdfs_ls(struct client *cl, const char *name)
{
	struct holding *hs;
	struct wire_addr *all, *order;
	int n, k = 0;

	if (check_name("ls", name))
		return 2;
	n = gather(cl, name, &hs);
	if (n < 0)
		return 1;
	all = xcalloc((size_t)n + 1, sizeof(*all));
	order = xcalloc((size_t)n + 1, sizeof(*order));
	for (int i = 0; i < n; i++)
		if (hs[i].ok && hs[i].st.n)
			all[k++] = hs[i].who;
	/* in the file's rank order: the order a get tries them in */
	k = place_replicas(name, all, k, k, order);
	for (int j = 0; j < k; j++)
		for (int i = 0; i < n; i++)
			if (wire_addr_eq(hs[i].who, order[j])) {
				char who[32];
				wire_addr_str(hs[i].who, who, sizeof(who));
				printf("%-22s %d version%s, newest %llu\n", who, hs[i].st.n,
				       hs[i].st.n == 1 ? "" : "s",
				       (unsigned long long)hs[i].st.v[0]);
			}
	if (!k)
		fprintf(stderr, "agent ls: %s: no such file\n", name);
	free(all);
	free(order);
	free(hs);
	return k ? 0 : 1;
}

static int print_entry(void *arg, const char *name, uint64_t version, uint64_t size)
{
	(void)arg;
	if (size != SDFS_TOMB_SIZE) /* deletion markers are not files */
		printf("%s version %llu %llu bytes\n", name, (unsigned long long)version,
		       (unsigned long long)size);
	return 0;
}

int sdfs_store(struct client *cl)
{
	struct sdfs_req r = {.cmd = SDFS_LIST};
	uint8_t *body;
	size_t len;
	char err[256];
	int ret;

	if (call_sdfs(cl, cl->agent, &r, &body, &len, err, sizeof(err))) {
		fprintf(stderr, "agent store: %s\n", err);
		return 1;
	}
	if (body[0]) {
		print_status("store", "listing", body, len);
		free(body);
		return 1;
	}
	ret = sdfs_list_decode(body, len, print_entry, NULL);
	free(body);
	return ret ? 1 : 0;
}

/* ---- for other subcommands: a file into memory ---- */

int sdfs_get_mem(struct client *cl, const char *name, uint64_t max, uint8_t **data, size_t *len,
		 uint64_t *version)
{
	struct holding *hs;
	uint64_t v, size = 0;
	int n, fd, ret;

	if (check_name("get", name))
		return -EINVAL;
	n = gather(cl, name, &hs);
	if (n < 0)
		return -EIO;
	v = newest(hs, n);
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
