/*
 * store.c - the local replica store's folder (see store.h): the names of
 * its files, opening it, removals, deletion markers and listings.
 * Writing a version is in store_write.c, reading one in store_read.c, the
 * file's layout in store_int.h.
 *
 * What the folder holds is read once, at open, into an index
 * (store_index.h) that every commit, removal and marker keeps current;
 * no later call reads the folder.
 */
#include "sdfs/store.h"
#include "sdfs/store_index.h"
#include "sdfs/store_int.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#define VERSION_DIGITS 20

/* ---- names ---- */

int store_name_check(const char *name, char *err, size_t errlen)
{
	size_t len = strlen(name), part = 0;

	if (len == 0 || len > STORE_NAME_MAX) {
		util_seterr(err, errlen, "a name has 1 to %d characters (this one has %zu)",
			    STORE_NAME_MAX, len);
		return -EINVAL;
	}
	if (name[0] == '/') {
		util_seterr(err, errlen, "'%s' is absolute: names are relative", name);
		return -EINVAL;
	}
	for (size_t i = 0; i <= len; i++) {
		char c = name[i];
		if (c == '/' || c == '\0') {
			if (part == 0 || (part == 1 && name[i - 1] == '.') ||
			    (part == 2 && name[i - 1] == '.' && name[i - 2] == '.')) {
				util_seterr(err, errlen, "'%s' has an empty, '.' or '..' part",
					    name);
				return -EINVAL;
			}
			part = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-')) {
			util_seterr(err, errlen, "'%s' has a character outside [A-Za-z0-9._-/]",
				    name);
			return -EINVAL;
		}
		part++;
	}
	return 0;
}

/* The hex of name into out; returns its length. */
static size_t hex_of(const char *name, char *out, size_t len)
{
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)name; *p && o + 3 < len; p++)
		o += (size_t)snprintf(out + o, len - o, "%02x", *p);
	return o;
}

/* The file of (name, version): hex of the name, a dot, the version. */
void store_file_of(const char *name, uint64_t version, char *out, size_t len)
{
	size_t o = hex_of(name, out, len);
	snprintf(out + o, len - o, ".%0*llu", VERSION_DIGITS, (unsigned long long)version);
}

/* Decodes a store file name; 0 on success. */
static int parse_file(const char *f, char *name, size_t nlen, uint64_t *version)
{
	const char *dot = strrchr(f, '.');
	size_t hl = dot ? (size_t)(dot - f) : 0;
	char *end;

	if (!dot || hl == 0 || hl % 2 || hl / 2 >= nlen || strlen(dot + 1) != VERSION_DIGITS)
		return -1;
	for (size_t i = 0; i < hl / 2; i++) {
		unsigned v;
		if (sscanf(f + 2 * i, "%2x", &v) != 1)
			return -1;
		name[i] = (char)v;
	}
	name[hl / 2] = '\0';
	*version = strtoull(dot + 1, &end, 10);
	return *end ? -1 : store_name_check(name, NULL, 0);
}

int store_open_beneath(struct store *s, const char *rel, int flags, mode_t mode)
{
	struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
			       .mode = flags & O_CREAT ? mode : 0,
			       .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
					  RESOLVE_NO_MAGICLINKS};
	int fd = (int)syscall(SYS_openat2, s->dirfd, rel, &how, sizeof(how));

	if (fd < 0 && errno == ENOSYS) /* old kernel: the hex names cannot escape anyway */
		fd = openat(s->dirfd, rel, flags | O_CLOEXEC | O_NOFOLLOW, mode);
	return fd < 0 ? -errno : fd;
}

static int parse_tomb(const char *f, char *name, size_t nlen, uint64_t *upto);
static void tomb_of(const char *name, uint64_t upto, char *out, size_t len);

/* The content size of a version file of st bytes (store_file_bytes inverted). */
static uint64_t size_of_file(uint64_t st)
{
	uint64_t t = st > STORE_TRAILER ? st - STORE_TRAILER : 0,
		 k = (t + STORE_CHUNK + 3) / (STORE_CHUNK + 4);

	return t - 4 * k;
}

/*
 * Reads the folder into the index: temporary files a crash left are
 * removed, so is anything by a replica's name that is no regular file (a
 * planted link is never followed, and never listed or retried), and of several markers of one name
 * (a crash between writing a new one and removing the old) only the newest stays.
 */
static int scan(struct store *s)
{
	char name[STORE_NAME_MAX + 1], f[600];
	struct dirent *e;
	uint64_t v;
	DIR *d = fdopendir(dup(s->dirfd));

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		struct stat st;
		if (!strncmp(e->d_name, ".tmp-", 5)) {
			unlinkat(s->dirfd, e->d_name, 0);
		} else if (!parse_file(e->d_name, name, sizeof(name), &v)) {
			if (fstatat(s->dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISREG(st.st_mode))
				store_index_add(s->ix, name, v, size_of_file((uint64_t)st.st_size));
			else if (unlinkat(s->dirfd, e->d_name, 0) == 0)
				s->planted++; /* a link, fifo or socket by a replica's name */
		} else if (!parse_tomb(e->d_name, name, sizeof(name), &v)) {
			uint64_t old = store_index_tomb(s->ix, name);
			tomb_of(name, MIN(old, v), f, sizeof(f));
			if (old)
				unlinkat(s->dirfd, f, 0);
			store_index_set_tomb(s->ix, name, MAX(old, v));
		}
	}
	closedir(d);
	return 0;
}

/* ---- the store ---- */

int store_open(const char *dir, struct store **out, char *err, size_t errlen)
{
	struct store *s;
	int fd, ret;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		util_seterr(err, errlen, "%s: %s", dir, strerror(errno));
		return -errno;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		util_seterr(err, errlen, "%s: %s", dir, strerror(errno));
		return -errno;
	}
	s = xcalloc(1, sizeof(*s));
	s->dirfd = fd;
	s->ix = store_index_new();
	ret = scan(s);
	if (ret) {
		util_seterr(err, errlen, "%s: %s", dir, strerror(-ret));
		store_close(s);
		return ret;
	}
	*out = s;
	return 0;
}

void store_close(struct store *s)
{
	if (s) {
		close(s->dirfd);
		store_index_free(s->ix);
		free(s);
	}
}

int store_has(struct store *s, const char *name, uint64_t version)
{
	return store_index_has(s->ix, name, version);
}

int store_remove(struct store *s, const char *name, uint64_t version)
{
	char f[600];

	if (store_name_check(name, NULL, 0))
		return -EINVAL;
	store_file_of(name, version, f, sizeof(f));
	if (unlinkat(s->dirfd, f, 0) < 0)
		return -errno;
	store_index_remove(s->ix, name, version);
	return 0;
}

int store_planted(const struct store *s)
{
	return s->planted;
}

int store_dir_fd(const struct store *s)
{
	return s->dirfd;
}

int store_sync(struct store *s)
{
	return fsync(s->dirfd) < 0 ? -errno : 0;
}

uint64_t store_free_bytes(struct store *s)
{
	struct statvfs v;

	if (fstatvfs(s->dirfd, &v) < 0)
		return 0;
	return (uint64_t)v.f_bavail * v.f_frsize;
}

uint64_t store_file_bytes(uint64_t size)
{
	return size + (size + STORE_CHUNK - 1) / STORE_CHUNK * 4 + STORE_TRAILER;
}

int store_versions(struct store *s, const char *name, uint64_t *out, int max)
{
	return store_index_versions(s->ix, name, out, max);
}

/* Unlinks every version of name <= upto and drops them from the index. */
static int remove_upto(struct store *s, const char *name, uint64_t upto)
{
	uint64_t v[64];
	int n, removed = 0;

	while ((n = store_index_versions(s->ix, name, v, 64)) > 0) {
		int gone = 0;
		for (int i = 0; i < n && i < 64; i++)
			if (v[i] <= upto) {
				char f[600];
				store_file_of(name, v[i], f, sizeof(f));
				removed += unlinkat(s->dirfd, f, 0) == 0;
				gone += store_index_remove(s->ix, name, v[i]);
			}
		if (!gone)
			break;
	}
	return removed;
}

int store_delete(struct store *s, const char *name)
{
	int removed = remove_upto(s, name, UINT64_MAX);

	return removed ? 0 : -ENOENT;
}

/* ---- deletion markers: "<hex of name>.d<20-digit version>", empty ---- */

static void tomb_of(const char *name, uint64_t upto, char *out, size_t len)
{
	size_t o = hex_of(name, out, len);
	snprintf(out + o, len - o, ".d%0*llu", VERSION_DIGITS, (unsigned long long)upto);
}

/* Decodes a marker's file name; 0 on success. */
static int parse_tomb(const char *f, char *name, size_t nlen, uint64_t *upto)
{
	const char *dot = strrchr(f, '.');
	char tmp[600];

	if (!dot || dot[1] != 'd' || strlen(dot + 2) != VERSION_DIGITS ||
	    (size_t)(dot - f) + 1 + VERSION_DIGITS + 1 > sizeof(tmp))
		return -1;
	/* the same as a version file with the 'd' taken out */
	memcpy(tmp, f, (size_t)(dot - f) + 1);
	strcpy(tmp + (dot - f) + 1, dot + 2);
	return parse_file(tmp, name, nlen, upto);
}

uint64_t store_tomb_get(struct store *s, const char *name)
{
	return store_index_tomb(s->ix, name);
}

int store_tomb_set(struct store *s, const char *name, uint64_t upto)
{
	uint64_t old = store_tomb_get(s, name);
	char f[600];
	int fd;

	if (store_name_check(name, NULL, 0) || upto == 0)
		return -EINVAL;
	if (upto > old) {
		tomb_of(name, upto, f, sizeof(f));
		fd = store_open_beneath(s, f, O_WRONLY | O_CREAT, 0600);
		if (fd < 0)
			return fd;
		close(fd);
		if (old) {
			tomb_of(name, old, f, sizeof(f));
			unlinkat(s->dirfd, f, 0);
		}
		store_index_set_tomb(s->ix, name, upto);
	}
	return remove_upto(s, name, MAX(upto, old));
}

static int names_only(void *arg, const char *name, uint64_t version, uint64_t size)
{
	struct {
		store_list_fn fn;
		void *arg;
	} *c = arg;

	(void)size;
	return c->fn(c->arg, name, version, 0);
}

int store_list(struct store *s, store_list_fn fn, void *arg)
{
	return store_index_each(s->ix, fn, arg);
}

int store_list_names(struct store *s, store_list_fn fn, void *arg)
{
	struct {
		store_list_fn fn;
		void *arg;
	} c = {fn, arg};

	return store_index_each(s->ix, names_only, &c);
}

int store_tomb_list(struct store *s, store_list_fn fn, void *arg)
{
	return store_index_each_tomb(s->ix, fn, arg);
}

int store_next(struct store *s, const char *name, uint64_t version, char *out, uint64_t *vout)
{
	return store_index_next(s->ix, name, version, out, vout);
}

size_t store_held(struct store *s, size_t *markers)
{
	if (markers)
		*markers = store_index_tombs(s->ix);
	return store_index_count(s->ix);
}
