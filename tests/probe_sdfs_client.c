/*
 * probe_sdfs_client.c - drives the in-loop SDFS client (sdfs_client.h)
 * from a loop of its own, for tests/test_sdfs_client.sh.  Not a test by
 * itself (the runner runs test_* only).
 *
 *   probe_sdfs_client KEYFILE MEMBER[,MEMBER...] put NAME LOCAL      put a file
 *   probe_sdfs_client KEYFILE MEMBERS putbuf NAME LOCAL               put it from a buffer
 *   probe_sdfs_client KEYFILE MEMBERS get NAME LOCAL [VERSION]        get into a file
 *   probe_sdfs_client KEYFILE MEMBERS getbuf NAME LOCAL [MAX]         get into a buffer, then write
 * it
 *
 * Prints "ok VERSION SIZE" or "error: ..." and exits 0 or 1.
 */
#include "core/conn.h"
#include "probe_client.h"
#include "core/loop.h"
#include "sdfs/sdfs_client.h"
#include "util.h"
#include "wire/wire.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct loop *loop;
static int status = 1;
static const char *local;

static void done(void *arg, int st, uint64_t version, uint64_t size, uint32_t crc, uint8_t *data)
{
	(void)arg;
	if (st) {
		printf("error: %s\n", strerror(-st));
	} else {
		if (data) {
			int fd = open(local, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			if (fd < 0 || write(fd, data, size) != (ssize_t)size)
				st = -EIO;
			if (fd >= 0)
				close(fd);
		}
		if (st)
			printf("error: cannot write %s\n", local);
		else
			printf("ok %llu %llu %08x\n", (unsigned long long)version,
			       (unsigned long long)size, crc);
	}
	status = st ? 1 : 0;
	free(data);
	loop_stop(loop);
}

int main(int argc, char **argv)
{
	struct conns *conns;
	struct sdfs_client *c;
	struct conns_env cenv = {
		.key = &probe_key, .listen_fd = -1, .max_conns = 64, .seal = probe_seal};
	struct sdfs_client_env env = {.key = &probe_key, .replicas = 4, .live = probe_live};
	const char *op, *name;
	int fd = -1, ret;

	if (argc < 6 || probe_init(argv[1], argv[2], 1)) {
		fprintf(stderr, "usage: probe_sdfs_client KEYFILE MEMBERS OP NAME LOCAL [N]\n");
		return 2;
	}
	cenv.self = probe_self; /* the agents answer to it */
	signal(SIGPIPE, SIG_IGN);
	op = argv[3];
	name = argv[4];
	local = argv[5];
	if (loop_new(256, &loop) || conns_new(loop, &cenv, &conns))
		return 1;
	env.loop = loop;
	env.conns = conns;
	if (sdfs_client_new(&env, &c))
		return 1;
	if (!strcmp(op, "put")) {
		struct stat st;
		fd = open(local, O_RDONLY);
		if (fd < 0 || fstat(fd, &st))
			return 1;
		ret = sdfs_client_put(c, name, NULL, fd, (uint64_t)st.st_size, done, NULL);
	} else if (!strcmp(op, "putbuf")) {
		char *data;
		size_t len;
		if (util_read_file(local, 1ull << 30, &data, &len))
			return 1;
		ret = sdfs_client_put(c, name, data, -1, len, done, NULL);
		free(data);
	} else if (!strcmp(op, "get")) {
		fd = open(local, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0)
			return 1;
		ret = sdfs_client_get(c, name, argc > 6 ? strtoull(argv[6], NULL, 10) : 0, fd, 0,
				      done, NULL);
	} else if (!strcmp(op, "getbuf")) {
		ret = sdfs_client_get(c, name, 0, -1, argc > 6 ? strtoull(argv[6], NULL, 10) : 0,
				      done, NULL);
	} else {
		return 2;
	}
	if (ret) {
		printf("error: %s\n", strerror(-ret));
		status = 1;
		loop_stop(loop);
	}
	loop_run(loop);
	loop_free(loop);
	sdfs_client_free(c);
	conns_free(conns);
	if (fd >= 0)
		close(fd);
	return status;
}
