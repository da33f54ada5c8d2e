/*
 * Description: what is planted in a store folder by a replica's name and
 * is no regular file (issue 16, defect 5): a symbolic link (to a file
 * outside, or dangling), a fifo and a socket are removed when the store
 * opens (counted by store_planted), the real replicas stay, and the link's
 * target is untouched; a replica replaced by a link or a fifo while the
 * store runs is read as corrupt (-EBADMSG, so SDFS quarantines it and
 * repairs it from a good copy), never followed and never waited on.
 */
#include "check.h"
#include "sdfs/store.h"
#include "sdfs/store_int.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static char dir[] = "/tmp/idunno-planted-XXXXXX";

static void put(struct store *s, const char *name, uint64_t v)
{
	struct store_writer *w;

	REQUIRE(store_write_begin(s, name, v, &w) == 0, "begin %s", name);
	REQUIRE(store_write(w, "hello", 5) == 0, "write");
	REQUIRE(store_write_commit(w) == 0, "commit %s", name);
}

static void at(const char *name, uint64_t v, char *path, size_t len)
{
	char f[600];

	store_file_of(name, v, f, sizeof(f));
	snprintf(path, len, "%s/%s", dir, f);
}

static int read_it(struct store *s, const char *name, uint64_t v)
{
	struct store_reader *r;
	uint64_t size, ver;
	int ret = store_read_begin(s, name, v, &r, &size, &ver);

	if (!ret)
		store_read_end(r);
	return ret;
}

int main(void)
{
	char p[700], outside[700], err[200];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct store *s;
	struct stat st;
	int sk;

	REQUIRE(mkdtemp(dir), "mkdtemp");
	REQUIRE(store_open(dir, &s, err, sizeof(err)) == 0, "open: %s", err);
	put(s, "real", 1);
	put(s, "victim", 1);
	put(s, "fifo-victim", 1);
	store_close(s);
	snprintf(outside, sizeof(outside), "%s.outside", dir);
	REQUIRE(util_write_file_atomic(outside, "secret", 6) == 0, "outside file");
	at("link", 1, p, sizeof(p));
	REQUIRE(symlink(outside, p) == 0, "symlink");
	at("dangling", 2, p, sizeof(p));
	REQUIRE(symlink("/nonexistent/x", p) == 0, "symlink");
	at("fifo", 3, p, sizeof(p));
	REQUIRE(mkfifo(p, 0600) == 0, "mkfifo");
	at("sock", 4, sa.sun_path, sizeof(sa.sun_path));
	sk = socket(AF_UNIX, SOCK_STREAM, 0);
	REQUIRE(sk >= 0 && bind(sk, (struct sockaddr *)&sa, sizeof(sa)) == 0, "socket");
	close(sk);

	REQUIRE(store_open(dir, &s, err, sizeof(err)) == 0, "reopen: %s", err);
	CHECK(store_planted(s) == 4, "planted entries removed: %d, want 4", store_planted(s));
	CHECK(store_has(s, "real", 1) && !store_has(s, "link", 1) && !store_has(s, "fifo", 3),
	      "the index after the reopen");
	at("link", 1, p, sizeof(p));
	CHECK(lstat(p, &st) < 0 && errno == ENOENT, "the link is still there");
	at("sock", 4, p, sizeof(p));
	CHECK(lstat(p, &st) < 0 && errno == ENOENT, "the socket is still there");
	CHECK(stat(outside, &st) == 0 && st.st_size == 6, "the link's target was touched");
	CHECK(read_it(s, "real", 1) == 0, "a real replica no longer reads");
	printf("ok  links, a fifo and a socket by replica names removed at open, targets "
	       "untouched\n");

	at("victim", 1, p, sizeof(p));
	REQUIRE(unlink(p) == 0 && symlink(outside, p) == 0, "replace by a link");
	CHECK(read_it(s, "victim", 1) == -EBADMSG, "a replica replaced by a link: %d",
	      read_it(s, "victim", 1));
	at("fifo-victim", 1, p, sizeof(p));
	REQUIRE(unlink(p) == 0 && mkfifo(p, 0600) == 0, "replace by a fifo");
	CHECK(read_it(s, "fifo-victim", 1) == -EBADMSG, "a replica replaced by a fifo: %d",
	      read_it(s, "fifo-victim", 1));
	CHECK(store_remove(s, "victim", 1) == 0 && stat(outside, &st) == 0,
	      "removing the link removed its target");
	printf("ok  a replica replaced by a link or a fifo at run time reads as corrupt\n");
	store_close(s);
	unlink(outside);
	snprintf(p, sizeof(p), "rm -rf '%s'", dir);
	CHECK(system(p) == 0, "cleanup");
	return t_result();
}
