/*
 * sdfs_put.c - agent put (see sdfs_cli.h): the file streamed to the head
 * of its chain (its first ranked live member, or the next when one
 * refuses before any data moved), which answers once every replica has it.
 * A put that lands on fewer replicas than the replication factor (fewer
 * live members) says so; SDFS's repair adds the copies as members join.
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
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/*
 * What a put says once stored (mode: SDFS_PUT_*).  wanted: the replication
 * factor (-1: unknown); fewer replicas are reported on stderr (in quiet
 * mode once a process: a dataset's shards would each say it) and in JSON.
 */
static void print_put(const char *cmd, int mode, const char *name, uint64_t version, uint64_t size,
		      const struct sdfs_ready *rdy, int wanted)
{
	static int told;
	int under = wanted > rdy->nreps;

	if (under && (mode != SDFS_PUT_QUIET || !told++))
		fprintf(stderr,
			"agent %s: warning: %s is on %d of %d replicas (too few live members); "
			"SDFS adds the others as members join or return (agent fsck)\n",
			cmd, name, rdy->nreps, wanted);
	if (mode == SDFS_PUT_QUIET)
		return;
	if (mode == SDFS_PUT_JSON) {
		printf("{\"name\":");
		cli_json_str(name);
		printf(",\"version\":%llu,\"bytes\":%llu,\"replicas\":[",
		       (unsigned long long)version, (unsigned long long)size);
	} else {
		printf("put %s version %llu (%llu bytes) on", name, (unsigned long long)version,
		       (unsigned long long)size);
	}
	for (int j = 0; j < rdy->nreps; j++) {
		char a[32];
		wire_addr_str(rdy->reps[j], a, sizeof(a));
		printf(mode == SDFS_PUT_JSON ? "%s\"%s\"" : "%s%s",
		       mode == SDFS_PUT_JSON ? (j ? "," : "") : " ", a);
	}
	if (mode == SDFS_PUT_JSON && wanted > 0)
		printf("],\"replicas_wanted\":%d,\"under_replicated\":%s}\n", wanted,
		       under ? "true" : "false");
	else
		printf(mode == SDFS_PUT_JSON ? "]}\n" : "\n");
}

/*
 * Puts size bytes of in (read from offset 0) as a new version of name.
 * Returns 0 with the version, or 1 with the reason printed (as cmd's).
 */
static int put_stream(struct client *cl, const char *cmd, int in, uint64_t size, const char *name,
		      int mode, uint64_t *version_out)
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
		int fd = sdfs_cli_stream(cl, ranked[i], &r, name, &body, &len, err, sizeof(err)),
		    ret;
		wire_addr_str(ranked[i], head, sizeof(head));
		if (fd < 0) {
			fprintf(stderr, "agent %s: %s (trying the next)\n", cmd, err);
			continue;
		}
		if (body[0]) {
			int refusal = body[0];
			sdfs_cli_status(cmd, head, body, len);
			free(body);
			close(fd);
			if (refusal == EINVAL)
				break;
			continue;
		}
		{
			struct sdfs_ready rdy;
			if (sdfs_ready_decode(body, len, &rdy)) {
				fprintf(stderr, "agent %s: %s: a malformed answer\n", cmd, head);
				free(body);
				close(fd);
				break;
			}
			free(body);
			body = NULL;
			ret = stream_file(cl, fd, in, size, r.sid);
			/* even after a failed send the head may have said why */
			if (client_recv_response(cl, fd, &body, &len) == 0) {
				if (body[0] == 0) {
					print_put(cmd, mode, name, rdy.version, size, &rdy,
						  sdfs_cli_replicas(cl, cmd));
					if (version_out)
						*version_out = rdy.version;
					status = 0;
				} else {
					sdfs_cli_status(cmd, "not stored", body, len);
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

int cli_put(struct cli *c)
{
	return sdfs_put_file(&c->cl, "put", c->arg[0], c->arg[1],
			     c->json ? SDFS_PUT_JSON : SDFS_PUT_TEXT, NULL);
}

int sdfs_put_file(struct client *cl, const char *cmd, const char *local, const char *name, int mode,
		  uint64_t *version)
{
	struct stat st;
	int in, status;

	if (sdfs_cli_check_name(cmd, name))
		return 2;
	in = open(local, O_RDONLY | O_CLOEXEC);
	if (in < 0 || fstat(in, &st) < 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "agent %s: %s: %s\n", cmd, local,
			in < 0 ? strerror(errno) : "not a regular file");
		if (in >= 0)
			close(in);
		return 1;
	}
	status = put_stream(cl, cmd, in, (uint64_t)st.st_size, name, mode, version);
	close(in);
	return status;
}

int sdfs_put_fd(struct client *cl, const char *cmd, int fd, uint64_t size, const char *name,
		uint64_t *version)
{
	if (sdfs_cli_check_name(cmd, name))
		return 2;
	return put_stream(cl, cmd, fd, size, name, SDFS_PUT_QUIET, version);
}
