/*
 * cli_tasks.c - datasets in SDFS (design section 5), and what the task
 * subcommands share (cli.h):
 *
 *   dataset put NAME PATH...   every file checked to be a JPEG first, then the
 *                              shards, then the index last (tasks/dataset.h)
 *   dataset ls [NAME]          the datasets from their indexes, or one's images
 *
 * Both also print JSON with --json.  What exists cluster-wide comes from
 * every live member's store listing (sdfs_list).
 */
#include "cli/cli.h"
#include "cli/sdfs_cli.h"
#include "tasks/dataset.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

#define INDEX_MAX (256u << 20) /* a larger index is refused */

void cli_json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

int cli_name_ok(const char *cmd, const char *name)
{
	char err[200];

	if (dataset_name_check(name, err, sizeof(err))) {
		fprintf(stderr, "agent %s: bad name: %s\n", cmd, err);
		return 0;
	}
	return 1;
}

int cli_memfd(const char *cmd, const void *p, size_t len)
{
	int fd = memfd_create("idunno", MFD_CLOEXEC);

	if (fd >= 0 && write(fd, p, len) == (ssize_t)len)
		return fd;
	fprintf(stderr, "agent %s: memfd: %s\n", cmd, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

/* ---- datasets ---- */

struct files {
	char **path;
	size_t n, cap;
};

static void files_add(struct files *f, const char *dir, const char *name)
{
	size_t len = strlen(name) + (dir ? strlen(dir) + 2 : 1);

	if (f->n == f->cap) {
		f->cap = f->cap ? 2 * f->cap : 64;
		f->path = xrealloc(f->path, f->cap * sizeof(*f->path));
	}
	f->path[f->n] = xmalloc(len);
	snprintf(f->path[f->n++], len, "%s%s%s", dir ? dir : "", dir ? "/" : "", name);
}

static void files_free(struct files *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->path[i]);
	free(f->path);
}

static int cmp_path(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The files named: each file itself, each directory's files (not its subfolders) by name. */
static int collect(char **args, int n, struct files *f)
{
	for (int i = 0; i < n; i++) {
		struct stat st;
		DIR *d;
		struct dirent *de;
		size_t first = f->n;
		errno = 0;
		if (stat(args[i], &st) < 0 || (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))) {
			fprintf(stderr, "agent dataset put: %s: %s; nothing stored\n", args[i],
				errno ? strerror(errno) : "not a file or folder");
			return -1;
		}
		if (S_ISREG(st.st_mode)) {
			files_add(f, NULL, args[i]);
			continue;
		}
		d = opendir(args[i]);
		if (!d) {
			fprintf(stderr, "agent dataset put: %s: %s; nothing stored\n", args[i],
				strerror(errno));
			return -1;
		}
		while ((de = readdir(d))) {
			struct stat fs;
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			if (fstatat(dirfd(d), de->d_name, &fs, 0) == 0 && S_ISREG(fs.st_mode))
				files_add(f, args[i], de->d_name);
		}
		closedir(d);
		qsort(f->path + first, f->n - first, sizeof(*f->path), cmp_path);
	}
	return 0;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/*
 * Reads path whole and checks its JPEG header (up to the frame).  0, or -1
 * with a message ending in after.
 */
static int read_jpeg(tjhandle tj, const char *path, uint8_t **buf, size_t *len, const char *after)
{
	int w, h, sub, cs, ret = util_read_file(path, DATASET_SHARD_MAX, (char **)buf, len);

	if (ret) {
		fprintf(stderr, "agent dataset put: %s: %s%s\n", path,
			ret == -EFBIG ? "larger than a shard (32 MiB)" : strerror(-ret), after);
		return -1;
	}
	if (tjDecompressHeader3(tj, *buf, *len, &w, &h, &sub, &cs) || w <= 0 || h <= 0) {
		fprintf(stderr, "agent dataset put: %s: not a JPEG (%s)%s\n", path,
			*len ? tjGetErrorStr2(tj) : "empty file", after);
		free(*buf);
		return -1;
	}
	return 0;
}

/* Fills shard s's memfd from its images' files (the ones checked). Returns its CRC32C. */
static int fill_shard(tjhandle tj, const struct dataset_index *ix, const struct files *f,
		      uint32_t s, uint32_t *next, int fd, uint32_t *crc)
{
	*crc = 0;
	for (; *next < ix->nimages && ix->images[*next].shard == s; (*next)++) {
		const struct dataset_image *im = &ix->images[*next];
		uint8_t *buf;
		size_t len;
		if (read_jpeg(tj, f->path[*next], &buf, &len, " (changed since it was checked)"))
			return -1;
		if (len != im->length || pwrite(fd, buf, len, im->offset) != (ssize_t)len) {
			fprintf(stderr, "agent dataset put: %s: %s\n", f->path[*next],
				len != im->length ? "changed while it was being packed"
						  : strerror(errno));
			free(buf);
			return -1;
		}
		*crc = store_crc32c(*crc, buf, len);
		free(buf);
	}
	return 0;
}

static int dataset_put(struct cli *c, const char *name, char **args, int nargs)
{
	struct dataset_index ix = {0};
	struct files f = {0};
	tjhandle tj = NULL;
	char path[128], err[300];
	uint64_t iv = 0;
	uint8_t *enc = NULL;
	size_t elen;
	uint32_t next = 0, s = 0;
	int ret = 1, fd;

	if (!cli_name_ok("dataset put", name))
		return 2;
	tj = tjInitDecompress();
	if (!tj || collect(args, nargs, &f))
		goto out;
	if (f.n == 0) {
		fprintf(stderr, "agent dataset put: no files in %s%s\n", args[0],
			nargs > 1 ? " ..." : "");
		goto out;
	}
	/* every file is checked before anything is stored */
	for (size_t i = 0; i < f.n; i++) {
		uint8_t *buf;
		size_t len;
		if (read_jpeg(tj, f.path[i], &buf, &len, "; nothing stored"))
			goto out;
		free(buf);
		if (dataset_index_add(&ix, base_name(f.path[i]), len, err, sizeof(err)) < 0) {
			fprintf(stderr, "agent dataset put: %s: %s; nothing stored\n", f.path[i],
				err);
			goto out;
		}
	}
	for (s = 0; s < ix.nshards; s++) {
		fd = memfd_create("shard", MFD_CLOEXEC);
		if (fd < 0 || fill_shard(tj, &ix, &f, s, &next, fd, &ix.shards[s].crc)) {
			if (fd >= 0)
				close(fd);
			goto partial;
		}
		dataset_shard_path(name, s, path, sizeof(path));
		ret = sdfs_put_fd(&c->cl, "dataset put", fd, ix.shards[s].size, path,
				  &ix.shards[s].version);
		close(fd);
		if (ret)
			goto partial;
	}
	/* the index last: it is the commit point */
	ret = dataset_index_encode(&ix, &enc, &elen, err, sizeof(err));
	ASSERT(ret == 0);
	fd = cli_memfd("dataset put", enc, elen);
	dataset_index_path(name, path, sizeof(path));
	ret = fd < 0 ? 1 : sdfs_put_fd(&c->cl, "dataset put", fd, elen, path, &iv);
	if (fd >= 0)
		close(fd);
	if (ret)
		goto partial;
	if (c->json) {
		printf("{\"name\":\"%s\",\"images\":%u,\"shards\":%u,\"bytes\":%llu,\"index\":\"%"
		       "s\","
		       "\"version\":%llu}\n",
		       name, ix.nimages, ix.nshards, (unsigned long long)dataset_index_bytes(&ix),
		       path, (unsigned long long)iv);
	} else {
		printf("dataset %s: %u images, %u shard%s, %llu bytes; index %s version %llu\n",
		       name, ix.nimages, ix.nshards, ix.nshards == 1 ? "" : "s",
		       (unsigned long long)dataset_index_bytes(&ix), path, (unsigned long long)iv);
	}
	ret = 0;
	goto out;
partial:
	fprintf(stderr,
		"agent dataset put: dataset %s not stored: no index was written (%u shard%s put, "
		"unreferenced)\n",
		name, s, s == 1 ? "" : "s");
	ret = 1;
out:
	free(enc);
	dataset_index_free(&ix);
	files_free(&f);
	if (tj)
		tjDestroy(tj);
	return ret;
}

/* The newest index of dataset name, decoded. 0, or 1 with the reason printed. */
static int load_index(struct client *cl, const char *name, struct dataset_index *ix,
		      uint64_t *version)
{
	char path[128], err[300];
	uint8_t *data;
	size_t len;
	int ret;

	dataset_index_path(name, path, sizeof(path));
	ret = sdfs_get_mem(cl, path, INDEX_MAX, &data, &len, version);
	if (ret) {
		fprintf(stderr, "agent dataset ls: %s: %s\n", path,
			ret == -ENOENT ? "no such dataset" : strerror(-ret));
		return ret == -ENOENT ? CLI_NOT_FOUND : CLI_FAILED;
	}
	ret = dataset_index_decode(data, len, ix, err, sizeof(err));
	free(data);
	if (ret) {
		fprintf(stderr, "agent dataset ls: %s version %llu: %s\n", path,
			(unsigned long long)*version, err);
		return 1;
	}
	return 0;
}

static int dataset_ls_all(struct cli *c)
{
	struct sdfs_entry *e;
	int n = sdfs_list(&c->cl, "datasets/", &e), shown = 0, status = 0;

	if (n < 0)
		return 1;
	if (c->json)
		printf("[");
	else
		printf("%-32s %8s %6s %12s %s\n", "NAME", "IMAGES", "SHARDS", "BYTES", "VERSION");
	for (int i = 0; i < n; i++) {
		char name[STORE_NAME_MAX + 1];
		struct dataset_index ix;
		uint64_t v;
		const char *p = e[i].name + strlen("datasets/"), *slash = strchr(p, '/');
		if (!slash || strcmp(slash, "/index") || slash == p)
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(slash - p), p);
		if (load_index(&c->cl, name, &ix, &v)) {
			status = 1;
			continue;
		}
		if (c->json)
			printf("%s{\"name\":\"%s\",\"version\":%llu,\"images\":%u,\"shards\":%u,"
			       "\"bytes\":%llu}",
			       shown ? "," : "", name, (unsigned long long)v, ix.nimages,
			       ix.nshards, (unsigned long long)dataset_index_bytes(&ix));
		else
			printf("%-32s %8u %6u %12llu %llu\n", name, ix.nimages, ix.nshards,
			       (unsigned long long)dataset_index_bytes(&ix), (unsigned long long)v);
		shown++;
		dataset_index_free(&ix);
	}
	if (c->json)
		printf("]\n");
	free(e);
	return status;
}

static int dataset_ls_one(struct cli *c, const char *name)
{
	struct dataset_index ix;
	uint64_t v;
	char path[128];
	int ret;

	if (!cli_name_ok("dataset ls", name))
		return 2;
	if ((ret = load_index(&c->cl, name, &ix, &v)))
		return ret;
	if (c->json)
		printf("{\"name\":\"%s\",\"version\":%llu,\"bytes\":%llu,\"shards\":[", name,
		       (unsigned long long)v, (unsigned long long)dataset_index_bytes(&ix));
	else
		printf("dataset %s: %u images, %u shard%s, %llu bytes (index version %llu)\n"
		       "%-32s %-18s %10s %s\n",
		       name, ix.nimages, ix.nshards, ix.nshards == 1 ? "" : "s",
		       (unsigned long long)dataset_index_bytes(&ix), (unsigned long long)v, "SHARD",
		       "VERSION", "BYTES", "CRC32C");
	for (uint32_t s = 0; s < ix.nshards; s++) {
		dataset_shard_path(name, s, path, sizeof(path));
		if (c->json)
			printf("%s{\"file\":\"%s\",\"version\":%llu,\"bytes\":%u,\"crc32c\":%u}",
			       s ? "," : "", path, (unsigned long long)ix.shards[s].version,
			       ix.shards[s].size, ix.shards[s].crc);
		else
			printf("%-32s %-18llu %10u %08x\n", path,
			       (unsigned long long)ix.shards[s].version, ix.shards[s].size,
			       ix.shards[s].crc);
	}
	if (c->json)
		printf("],\"images\":[");
	else
		printf("%-8s %6s %10s %10s %s\n", "IMAGE", "SHARD", "OFFSET", "LENGTH", "NAME");
	for (uint32_t i = 0; i < ix.nimages; i++) {
		const struct dataset_image *im = &ix.images[i];
		if (c->json) {
			printf("%s{\"index\":%u,\"shard\":%u,\"offset\":%u,\"length\":%u,\"name\":",
			       i ? "," : "", i, im->shard, im->offset, im->length);
			cli_json_str(im->name);
			printf("}");
		} else {
			printf("%-8u %6u %10u %10u %s\n", i, im->shard, im->offset, im->length,
			       im->name);
		}
	}
	if (c->json)
		printf("]}\n");
	dataset_index_free(&ix);
	return 0;
}

int cli_dataset(struct cli *c)
{
	if (!strcmp(c->arg[0], "put") && c->nargs >= 3)
		return dataset_put(c, c->arg[1], c->arg + 2, c->nargs - 2);
	if (!strcmp(c->arg[0], "ls") && c->nargs == 1)
		return dataset_ls_all(c);
	if (!strcmp(c->arg[0], "ls") && c->nargs == 2)
		return dataset_ls_one(c, c->arg[1]);
	fprintf(stderr, "usage: agent dataset put NAME DIR-OR-FILES... | agent dataset ls [NAME] "
			"[--json]\n");
	return 2;
}
