/*
 * Description: a full disk: on a 2 MiB tmpfs, writing a 4 MiB replica
 * fails with ENOSPC, the aborted write leaves no file (and no temporary
 * file) behind, nothing is listed, and the space is usable again for a
 * smaller replica.  Skips without the privilege to mount a tmpfs.
 */
#include "check.h"
#include "sdfs/store.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

static int entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	if (d)
		closedir(d);
	return n;
}

static int count_fn(void *arg, const char *name, uint64_t v, uint64_t size)
{
	(void)name;
	(void)v;
	(void)size;
	(*(int *)arg)++;
	return 0;
}

int main(void)
{
	char dir[] = "/tmp/idunno-full-XXXXXX", sdir[64], err[256];
	uint8_t *data = xcalloc(1, 4u << 20);
	struct store *s;
	struct store_writer *w;
	int ret = 0, listed = 0;

	REQUIRE(mkdtemp(dir), "mkdtemp");
	if (mount("tmpfs", dir, "tmpfs", 0, "size=2m") < 0) {
		int e = errno;
		rmdir(dir);
		T_SKIP("cannot mount a tmpfs (%s): needs root", strerror(e));
	}
	snprintf(sdir, sizeof(sdir), "%s/sdfs", dir);
	REQUIRE(store_open(sdir, &s, err, sizeof(err)) == 0, "%s", err);
	REQUIRE(store_write_begin(s, "big", 1, &w) == 0, "begin");
	for (int i = 0; i < 64 && !ret; i++)
		ret = store_write(w, data + (size_t)i * 65536, 65536);
	if (!ret)
		ret = store_write_commit(w);
	else
		store_write_abort(w);
	CHECK(ret == -ENOSPC, "a 4 MiB write on a 2 MiB disk returned %d", ret);
	CHECK(entries(sdir) == 0, "%d files left after the failed write", entries(sdir));
	store_list(s, count_fn, &listed);
	CHECK(listed == 0, "%d replicas listed", listed);
	REQUIRE(store_write_begin(s, "small", 1, &w) == 0, "begin small");
	CHECK(store_write(w, data, 500000) == 0 && store_write_commit(w) == 0,
	      "the space was not given back");
	store_close(s);
	umount(dir);
	rmdir(dir);
	free(data);
	printf("ok  full disk: ENOSPC, nothing left behind, space reusable\n");
	return t_result();
}
