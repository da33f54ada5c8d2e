/*
 * Description: the SDFS replica store on one node: names are validated
 * (absolute, "..", empty parts, odd characters, too long: refused with a
 * reason) and nothing is ever created outside the store folder; 0 B, 1 B,
 * exactly one chunk and 3.5 MiB round-trip byte for byte; versions are
 * listed newest first and version 0 reads the newest; a flipped byte
 * makes that chunk read as -EBADMSG (never as data) while earlier chunks
 * still read; a truncated replica does not open; an aborted write, and a
 * crash's leftover temporary file, leave nothing; delete removes every
 * version; CRC32C matches its check value in hardware and software.  The
 * in-memory index (versions, sizes, deletion markers) matches the folder
 * as read back independently after puts, a commit done the agent's way
 * (renamed by the caller), removals, deletes, markers replaced, a crash
 * mid-write and a restart (also one with a stale marker left by a crash);
 * store_next walks every version in order and wraps.
 */
#include "check.h"
#include "sdfs/store.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/idunno-store-XXXXXX";
static char sdir[64];

static int count_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.' || strncmp(e->d_name, ".tmp-", 5) == 0;
	if (d)
		closedir(d);
	return n;
}

static void put(struct store *s, const char *name, uint64_t v, const uint8_t *data, size_t len)
{
	struct store_writer *w;
	REQUIRE(store_write_begin(s, name, v, &w) == 0, "begin %s", name);
	/* in odd pieces, to cross chunk boundaries mid-write */
	for (size_t off = 0; off < len;) {
		size_t n = MIN(len - off, 300007);
		REQUIRE(store_write(w, data + off, n) == 0, "write");
		off += n;
	}
	REQUIRE(store_write_commit(w) == 0, "commit %s", name);
}

static int get(struct store *s, const char *name, uint64_t v, uint8_t *out, size_t cap, size_t *len)
{
	struct store_reader *r;
	uint64_t size, ver;
	ssize_t n;
	int ret = store_read_begin(s, name, v, &r, &size, &ver);

	if (ret)
		return ret;
	*len = 0;
	while ((n = store_read(r, out + *len, MIN(cap - *len, 77777))) > 0)
		*len += (size_t)n;
	store_read_end(r);
	return n < 0 ? (int)n : 0;
}

/* "V name version size" and "T name upto" lines, sorted, joined. */
struct lines {
	char *l[256];
	int n;
};

static void add_line(struct lines *ls, const char *fmt, const char *name, uint64_t a, uint64_t b)
{
	char buf[400];

	snprintf(buf, sizeof(buf), fmt, name, (unsigned long long)a, (unsigned long long)b);
	REQUIRE(ls->n < 256, "too many lines");
	ls->l[ls->n++] = xstrdup(buf);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int index_version(void *arg, const char *name, uint64_t v, uint64_t size)
{
	add_line(arg, "V %s %llu %llu", name, v, size);
	return 0;
}

static int index_tomb(void *arg, const char *name, uint64_t v, uint64_t size)
{
	add_line(arg, "T %s %llu", name, v, size);
	return 0;
}

/* What the folder holds, decoded here from the file names and trailers. */
static int read_disk(struct lines *ls, int *temps)
{
	DIR *d = opendir(sdir);
	struct dirent *e;

	*temps = 0;
	while (d && (e = readdir(d))) {
		char name[STORE_NAME_MAX + 1], path[600];
		const char *dot = strrchr(e->d_name, '.');
		size_t hl = dot ? (size_t)(dot - e->d_name) : 0;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (!strncmp(e->d_name, ".tmp-", 5)) {
			(*temps)++;
			continue;
		}
		REQUIRE(dot && hl % 2 == 0 && hl / 2 <= STORE_NAME_MAX, "odd file %s", e->d_name);
		for (size_t i = 0; i < hl / 2; i++) {
			unsigned c;
			REQUIRE(sscanf(e->d_name + 2 * i, "%2x", &c) == 1, "hex %s", e->d_name);
			name[i] = (char)c;
		}
		name[hl / 2] = '\0';
		if (dot[1] == 'd') {
			add_line(ls, "T %s %llu", name, strtoull(dot + 2, NULL, 10), 0);
		} else {
			uint8_t tr[8];
			uint64_t size = 0;
			struct stat st;
			int fd;
			snprintf(path, sizeof(path), "%s/%s", sdir, e->d_name);
			fd = open(path, O_RDONLY);
			REQUIRE(fd >= 0 && fstat(fd, &st) == 0 && st.st_size >= 24 &&
					pread(fd, tr, 8, st.st_size - 24) == 8,
				"trailer of %s", path);
			close(fd);
			for (int i = 7; i >= 0; i--)
				size = size << 8 | tr[i];
			add_line(ls, "V %s %llu %llu", name, strtoull(dot + 1, NULL, 10), size);
		}
	}
	if (d)
		closedir(d);
	return 0;
}

/* The index (listings, and the per-name lookups) against the folder. */
static void index_matches_disk(struct store *s, const char *when, int want_temps)
{
	struct lines a = {0}, b = {0};
	int temps, same;
	size_t markers, held = store_held(s, &markers), nv = 0, nt = 0;

	store_list(s, index_version, &a);
	store_tomb_list(s, index_tomb, &a);
	read_disk(&b, &temps);
	qsort(a.l, (size_t)a.n, sizeof(char *), cmp_str);
	qsort(b.l, (size_t)b.n, sizeof(char *), cmp_str);
	same = a.n == b.n;
	for (int i = 0; same && i < a.n; i++)
		same = !strcmp(a.l[i], b.l[i]);
	CHECK(same, "%s: the index (%d entries) is not the folder (%d entries)", when, a.n, b.n);
	for (int i = 0; !same && i < MAX(a.n, b.n); i++)
		fprintf(stderr, "  index %-40s disk %s\n", i < a.n ? a.l[i] : "-",
			i < b.n ? b.l[i] : "-");
	CHECK(temps == want_temps, "%s: %d temporary files, want %d", when, temps, want_temps);
	for (int i = 0; i < b.n; i++) {
		char kind, name[STORE_NAME_MAX + 1];
		unsigned long long v;
		uint64_t vers[64];
		int n, found = 0;
		REQUIRE(sscanf(b.l[i], "%c %100s %llu", &kind, name, &v) == 3, "line");
		if (kind == 'T') {
			nt++;
			CHECK(store_tomb_get(s, name) == v, "%s: marker of %s", when, name);
			continue;
		}
		nv++;
		n = store_versions(s, name, vers, 64);
		for (int j = 0; j < n; j++) {
			found += vers[j] == v;
			CHECK(j == 0 || vers[j] < vers[j - 1],
			      "%s: versions of %s not newest first", when, name);
		}
		CHECK(found == 1 && store_has(s, name, v), "%s: %s v%llu not found", when, name, v);
	}
	CHECK(held == nv && markers == nt, "%s: held %zu/%zu, disk %zu/%zu", when, held, markers,
	      nv, nt);
	for (int i = 0; i < a.n; i++)
		free(a.l[i]);
	for (int i = 0; i < b.n; i++)
		free(b.l[i]);
}

/* A commit the agent's way: data and trailer written through the fd, the
 * rename done by the caller, then store_write_renamed. */
static void put_by_hand(struct store *s, const char *name, uint64_t v, const uint8_t *data,
			size_t len)
{
	struct store_writer *w;
	const char *tmp, *final;
	uint8_t *tr;
	size_t tlen;
	uint64_t off;
	int dirfd;

	REQUIRE(store_write_begin(s, name, v, &w) == 0, "begin %s", name);
	for (size_t o = 0; o < len; o += STORE_CHUNK) {
		size_t n = MIN(len - o, (size_t)STORE_CHUNK);
		REQUIRE(pwrite(store_writer_fd(w), data + o, n, (off_t)o) == (ssize_t)n, "pwrite");
		store_write_note(w, store_crc32c(0, data + o, n), n);
	}
	tr = store_write_trailer(w, &tlen, &off);
	REQUIRE(pwrite(store_writer_fd(w), tr, tlen, (off_t)off) == (ssize_t)tlen, "trailer");
	free(tr);
	store_write_names(w, &dirfd, &tmp, &final);
	CHECK(!store_has(s, name, v), "visible before its rename");
	REQUIRE(renameat2(dirfd, tmp, dirfd, final, RENAME_NOREPLACE) == 0, "rename");
	store_write_renamed(w);
	store_write_done(w);
}

static void index_against_disk(struct store *s, const uint8_t *data)
{
	struct store_writer *w;
	char err[256], name[STORE_NAME_MAX + 1];
	uint64_t v;
	int n = 0;

	/* the replica truncated above has no trailer to read a size from */
	REQUIRE(store_remove(s, "files/f3", 7) == 0, "remove the truncated replica");
	index_matches_disk(s, "at the start", 0);
	for (int i = 1; i <= 3; i++) {
		put(s, "ix/a", (uint64_t)i, data, (size_t)i * 1000);
		put(s, "ix/b", (uint64_t)(10 * i), data, (size_t)i * STORE_CHUNK / 2);
		put(s, "ix/c", (uint64_t)(100 * i), data, 0);
	}
	put_by_hand(s, "ix/d", 5, data, STORE_CHUNK + 3);
	index_matches_disk(s, "after puts", 0);
	CHECK(store_tomb_set(s, "ix/a", 2) == 2 && store_tomb_get(s, "ix/a") == 2,
	      "a marker removes the versions up to it");
	CHECK(store_tomb_set(s, "ix/a", 5) == 1 && store_tomb_get(s, "ix/a") == 5,
	      "a newer marker replaces the old one");
	CHECK(store_tomb_set(s, "ix/gone", 9) == 0, "a marker for a name never held");
	CHECK(store_delete(s, "ix/b") == 0, "delete");
	CHECK(store_remove(s, "ix/c", 200) == 0 && store_remove(s, "ix/c", 200) == -ENOENT,
	      "remove one version");
	index_matches_disk(s, "after markers, deletes and a removal", 0);

	REQUIRE(store_write_begin(s, "ix/crashed", 1, &w) == 0, "begin");
	REQUIRE(store_write(w, data, 5000) == 0, "write");
	index_matches_disk(s, "during a write", 1);
	store_close(s); /* the "crash": the writer is abandoned */
	free(w);
	{
		/* and a crash between writing a newer marker and removing the old */
		char path[600];
		int fd;
		snprintf(path, sizeof(path), "%s/69782f61.d%020d", sdir, 3); /* "ix/a" */
		fd = open(path, O_WRONLY | O_CREAT, 0600);
		REQUIRE(fd >= 0, "plant %s", path);
		close(fd);
	}
	REQUIRE(store_open(sdir, &s, err, sizeof(err)) == 0, "%s", err);
	index_matches_disk(s, "after a restart", 0);
	CHECK(store_tomb_get(s, "ix/a") == 5, "the newest marker survives a restart");

	/* store_next walks everything in (name, version) order, then wraps */
	{
		char prev[STORE_NAME_MAX + 1] = "";
		uint64_t pv = 0;
		size_t held = store_held(s, NULL);
		int ordered = 1;
		name[0] = '\0';
		v = 0;
		for (size_t i = 0; i < held; i++) {
			REQUIRE(store_next(s, name, v, name, &v) == 1, "next");
			ordered &=
				i == 0 || strcmp(prev, name) < 0 || (!strcmp(prev, name) && pv < v);
			snprintf(prev, sizeof(prev), "%s", name);
			pv = v;
			n++;
		}
		CHECK(ordered && n == (int)held, "store_next: %d of %zu, in order: %d", n, held,
		      ordered);
		{
			char first[STORE_NAME_MAX + 1];
			uint64_t fv;
			store_next(s, "", 0, first, &fv);
			CHECK(store_next(s, name, v, name, &v) == 1 && !strcmp(name, first) &&
				      v == fv,
			      "store_next wraps to the first");
		}
	}
	store_close(s);
	printf("ok  the index matches the folder after puts, deletes, markers, a crash and a "
	       "restart\n");
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
	static const char *const bad[] = {"",	"/etc/passwd", "../x",	     "a/../b", "a//b",
					  "..", ".",	       "a/.",	     "a b",    "a\nb",
					  "x/", "semi;colon",  "caf\xc3\xa9"};
	static const char *const good[] = {
		"a", "dataset/img01.jpg", "models/resnet18.safetensors", "..a", "a..", "x-y_z.1"};
	size_t sizes[] = {0, 1, STORE_CHUNK, 3 * STORE_CHUNK + STORE_CHUNK / 2};
	size_t big = sizes[3], len;
	uint8_t *data = xmalloc(big), *back = xmalloc(big + 16);
	unsigned long long seed = 9;
	struct store *s;
	char err[256], name[200];
	uint64_t vers[8];

	CHECK(store_crc32c(0, "123456789", 9) == 0xe3069283u, "crc32c check value");
	setenv("IDUNNO_CRC_SOFTWARE", "1", 1);
	CHECK(store_crc32c(0, "123456789", 9) == 0xe3069283u, "software crc32c check value");
	unsetenv("IDUNNO_CRC_SOFTWARE");
	{
		/* the three-lane hardware path against the byte-at-a-time one,
		 * at lengths around its lane boundaries, and split anywhere */
		static const size_t lens[] = {
			0, 1, 7, 8, 12287, 12288, 12289, 3 * 4096 * 5 + 13, 1 << 20, (1 << 20) + 5};
		for (size_t i = 0; i < big; i++)
			data[i] = (uint8_t)(t_randf(&seed) * 127);
		for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
			uint32_t hw = store_crc32c(0, data, lens[i]), sw, split;
			size_t cut = lens[i] / 3 + 5 > lens[i] ? 0 : lens[i] / 3 + 5;
			setenv("IDUNNO_CRC_SOFTWARE", "1", 1);
			sw = store_crc32c(0, data, lens[i]);
			unsetenv("IDUNNO_CRC_SOFTWARE");
			split = store_crc32c(store_crc32c(0, data, cut), data + cut, lens[i] - cut);
			CHECK(hw == sw && split == sw,
			      "crc32c of %zu bytes: %08x, software %08x, split %08x", lens[i], hw,
			      sw, split);
		}
	}

	REQUIRE(mkdtemp(dir), "mkdtemp");
	snprintf(sdir, sizeof(sdir), "%s/sdfs", dir);
	REQUIRE(store_open(sdir, &s, err, sizeof(err)) == 0, "%s", err);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct store_writer *w;
		CHECK(store_name_check(bad[i], err, sizeof(err)) == -EINVAL, "'%s' accepted",
		      bad[i]);
		CHECK(store_write_begin(s, bad[i], 1, &w) == -EINVAL, "'%s' written", bad[i]);
	}
	memset(name, 'a', 101);
	name[101] = '\0';
	CHECK(store_name_check(name, err, sizeof(err)) == -EINVAL, "101 characters accepted");
	name[100] = '\0';
	CHECK(store_name_check(name, err, sizeof(err)) == 0, "100 characters refused: %s", err);
	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		CHECK(store_name_check(good[i], err, sizeof(err)) == 0, "'%s': %s", good[i], err);
	CHECK(count_entries(dir) == 1, "something appeared beside the store folder");
	printf("ok  names: %zu bad refused, %zu good accepted\n", ARRAY_SIZE(bad),
	       ARRAY_SIZE(good));

	for (size_t i = 0; i < big; i++)
		data[i] = (uint8_t)(t_randf(&seed) * 127 + 128);
	for (size_t k = 0; k < ARRAY_SIZE(sizes); k++) {
		snprintf(name, sizeof(name), "files/f%zu", k);
		put(s, name, 7, data, sizes[k]);
		CHECK(get(s, name, 7, back, big + 16, &len) == 0 && len == sizes[k] &&
			      !memcmp(back, data, len),
		      "round trip of %zu bytes", sizes[k]);
	}
	printf("ok  round trips: 0 B, 1 B, 1 MiB, 3.5 MiB\n");

	put(s, "v", 1, (const uint8_t *)"one", 3);
	put(s, "v", 3, (const uint8_t *)"three", 5);
	put(s, "v", 2, (const uint8_t *)"two", 3);
	CHECK(store_versions(s, "v", vers, 8) == 3 && vers[0] == 3 && vers[1] == 2 && vers[2] == 1,
	      "versions newest first");
	CHECK(get(s, "v", 0, back, 16, &len) == 0 && len == 5 && !memcmp(back, "three", 5),
	      "version 0 is the newest");
	CHECK(get(s, "v", 2, back, 16, &len) == 0 && len == 3 && !memcmp(back, "two", 3),
	      "version 2");
	CHECK(get(s, "v", 9, back, 16, &len) == -ENOENT &&
		      get(s, "nope", 0, back, 16, &len) == -ENOENT,
	      "missing versions");
	printf("ok  versions\n");

	{
		/* flip one byte in the third chunk of the 3.5 MiB replica */
		char path[600];
		struct store_reader *r;
		uint64_t size;
		int fd;
		ssize_t n;
		size_t got = 0;
		snprintf(path, sizeof(path), "%s/", sdir);
		for (const char *p = "files/f3"; *p; p++)
			snprintf(path + strlen(path), sizeof(path) - strlen(path), "%02x",
				 (unsigned char)*p);
		snprintf(path + strlen(path), sizeof(path) - strlen(path), ".%020d", 7);
		fd = open(path, O_RDWR);
		REQUIRE(fd >= 0, "open replica %s", path);
		REQUIRE(pwrite(fd, "\x55", 1, 2 * STORE_CHUNK + 12345) == 1, "flip");
		REQUIRE(store_read_begin(s, "files/f3", 7, &r, &size, NULL) == 0, "open corrupt");
		while ((n = store_read(r, back + got, 65536)) > 0)
			got += (size_t)n;
		CHECK(n == -EBADMSG && got == 2 * STORE_CHUNK && !memcmp(back, data, got),
		      "corruption: read %zd after %zu good bytes", n, got);
		store_read_end(r);
		REQUIRE(ftruncate(fd, 3 * STORE_CHUNK) == 0, "truncate");
		close(fd);
		CHECK(store_read_begin(s, "files/f3", 7, &r, &size, NULL) == -EBADMSG,
		      "a truncated replica opened");
		printf("ok  a flipped byte reads as -EBADMSG after the good chunks; truncated: "
		       "refused\n");
	}
	{
		struct store_writer *w;
		int before = count_entries(sdir);
		REQUIRE(store_write_begin(s, "aborted", 1, &w) == 0, "begin");
		REQUIRE(store_write(w, data, 5000) == 0, "write");
		CHECK(count_entries(sdir) == before + 1, "no temporary file while writing");
		CHECK(store_versions(s, "aborted", vers, 8) == 0, "a write in progress is visible");
		store_write_abort(w);
		CHECK(count_entries(sdir) == before, "abort left a file");
		/* a crash mid-write: the next open removes the leftover */
		REQUIRE(store_write_begin(s, "crashed", 1, &w) == 0, "begin");
		REQUIRE(store_write(w, data, 5000) == 0, "write");
		store_close(s);
		REQUIRE(store_open(sdir, &s, err, sizeof(err)) == 0, "%s", err);
		CHECK(count_entries(sdir) == before, "a crash's temporary file survived reopening");
		free(w); /* the writer of the "crashed" process, abandoned */
		printf("ok  aborted and crashed writes leave nothing\n");
	}
	{
		int n = 0;
		store_list(s, count_fn, &n);
		CHECK(n == 4 + 3, "list: %d entries", n);
		CHECK(store_delete(s, "v") == 0 && store_versions(s, "v", vers, 8) == 0, "delete");
		CHECK(store_delete(s, "v") == -ENOENT, "second delete");
		n = 0;
		store_list(s, count_fn, &n);
		CHECK(n == 4, "after delete: %d entries", n);
		printf("ok  list and delete\n");
	}
	index_against_disk(s, data);
	{
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd))
			fprintf(stderr, "could not remove %s\n", dir);
	}
	free(data);
	free(back);
	return t_result();
}
