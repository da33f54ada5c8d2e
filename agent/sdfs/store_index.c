/*
 * store_index.c - the store's in-memory index (see store_index.h).
 *
 * A sorted array of names, found by binary search: a lookup is O(log n),
 * a new name O(n) pointer moves (a memmove, microseconds at a hundred
 * thousand names), and walks come out in name order for free, which the
 * scrub wants.
 */
#include "sdfs/store_index.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

struct ix_ver {
	uint64_t version, size;
};

struct ix_name {
	uint64_t tomb; /* deleted up to (0: no marker) */
	int n, cap;
	struct ix_ver *v; /* newest first */
	char name[];
};

struct store_index {
	struct ix_name **names; /* sorted by strcmp */
	size_t n, cap;
	size_t nversions, ntombs;
};

struct store_index *store_index_new(void)
{
	return xcalloc(1, sizeof(struct store_index));
}

void store_index_free(struct store_index *ix)
{
	if (!ix)
		return;
	for (size_t i = 0; i < ix->n; i++) {
		free(ix->names[i]->v);
		free(ix->names[i]);
	}
	free(ix->names);
	free(ix);
}

/* The position of name, or where it would go (*found says which). */
static size_t find(const struct store_index *ix, const char *name, int *found)
{
	size_t lo = 0, hi = ix->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(ix->names[mid]->name, name);
		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = 0;
	return lo;
}

static struct ix_name *lookup(const struct store_index *ix, const char *name)
{
	int found;
	size_t i = find(ix, name, &found);

	return found ? ix->names[i] : NULL;
}

static struct ix_name *lookup_or_add(struct store_index *ix, const char *name)
{
	int found;
	size_t i = find(ix, name, &found), len = strlen(name);
	struct ix_name *e;

	if (found)
		return ix->names[i];
	if (ix->n == ix->cap) {
		ix->cap = ix->cap ? 2 * ix->cap : 64;
		ix->names = realloc(ix->names, ix->cap * sizeof(*ix->names));
		ASSERT(ix->names);
	}
	e = xcalloc(1, sizeof(*e) + len + 1);
	memcpy(e->name, name, len + 1);
	memmove(ix->names + i + 1, ix->names + i, (ix->n - i) * sizeof(*ix->names));
	ix->names[i] = e;
	ix->n++;
	return e;
}

/* Drops name's entry once it holds nothing and has no marker. */
static void maybe_drop(struct store_index *ix, const char *name)
{
	int found;
	size_t i = find(ix, name, &found);

	if (!found || ix->names[i]->n || ix->names[i]->tomb)
		return;
	free(ix->names[i]->v);
	free(ix->names[i]);
	memmove(ix->names + i, ix->names + i + 1, (ix->n - i - 1) * sizeof(*ix->names));
	ix->n--;
}

void store_index_add(struct store_index *ix, const char *name, uint64_t version, uint64_t size)
{
	struct ix_name *e = lookup_or_add(ix, name);
	int i = 0;

	while (i < e->n && e->v[i].version > version)
		i++;
	if (i < e->n && e->v[i].version == version) {
		e->v[i].size = size;
		return;
	}
	if (e->n == e->cap) {
		e->cap = e->cap ? 2 * e->cap : 4;
		e->v = realloc(e->v, (size_t)e->cap * sizeof(*e->v));
		ASSERT(e->v);
	}
	memmove(e->v + i + 1, e->v + i, (size_t)(e->n - i) * sizeof(*e->v));
	e->v[i] = (struct ix_ver){version, size};
	e->n++;
	ix->nversions++;
}

int store_index_remove(struct store_index *ix, const char *name, uint64_t version)
{
	struct ix_name *e = lookup(ix, name);

	for (int i = 0; e && i < e->n; i++)
		if (e->v[i].version == version) {
			memmove(e->v + i, e->v + i + 1, (size_t)(e->n - i - 1) * sizeof(*e->v));
			e->n--;
			ix->nversions--;
			maybe_drop(ix, name);
			return 1;
		}
	return 0;
}

int store_index_remove_upto(struct store_index *ix, const char *name, uint64_t upto)
{
	struct ix_name *e = lookup(ix, name);
	int keep = 0, gone;

	if (!e)
		return 0;
	while (keep < e->n && e->v[keep].version > upto) /* newest first: a prefix stays */
		keep++;
	gone = e->n - keep;
	e->n = keep;
	ix->nversions -= (size_t)gone;
	maybe_drop(ix, name);
	return gone;
}

void store_index_set_tomb(struct store_index *ix, const char *name, uint64_t upto)
{
	struct ix_name *e = upto ? lookup_or_add(ix, name) : lookup(ix, name);

	if (!e)
		return;
	ix->ntombs += (upto != 0) - (e->tomb != 0);
	e->tomb = upto;
	maybe_drop(ix, name);
}

uint64_t store_index_tomb(const struct store_index *ix, const char *name)
{
	struct ix_name *e = lookup(ix, name);

	return e ? e->tomb : 0;
}

int store_index_has(const struct store_index *ix, const char *name, uint64_t version)
{
	struct ix_name *e = lookup(ix, name);

	for (int i = 0; e && i < e->n; i++)
		if (e->v[i].version == version)
			return 1;
	return 0;
}

int store_index_versions(const struct store_index *ix, const char *name, uint64_t *out, int max)
{
	struct ix_name *e = lookup(ix, name);

	if (!e)
		return 0;
	for (int i = 0; i < e->n && i < max; i++)
		out[i] = e->v[i].version;
	return e->n;
}

int store_index_each(const struct store_index *ix, store_index_fn fn, void *arg)
{
	for (size_t i = 0; i < ix->n; i++) {
		const struct ix_name *e = ix->names[i];
		for (int j = e->n - 1; j >= 0; j--) {
			int ret = fn(arg, e->name, e->v[j].version, e->v[j].size);
			if (ret)
				return ret;
		}
	}
	return 0;
}

int store_index_each_tomb(const struct store_index *ix, store_index_fn fn, void *arg)
{
	for (size_t i = 0; i < ix->n; i++)
		if (ix->names[i]->tomb) {
			int ret = fn(arg, ix->names[i]->name, ix->names[i]->tomb, 0);
			if (ret)
				return ret;
		}
	return 0;
}

/* The oldest version of the first name at or after position i that holds any. */
static int first_from(const struct store_index *ix, size_t i, char *out, uint64_t *vout)
{
	for (; i < ix->n; i++)
		if (ix->names[i]->n) {
			const struct ix_name *e = ix->names[i];
			strcpy(out, e->name);
			*vout = e->v[e->n - 1].version;
			return 1;
		}
	return 0;
}

int store_index_next(const struct store_index *ix, const char *name, uint64_t version, char *out,
		     uint64_t *vout)
{
	int found;
	size_t i = find(ix, name, &found);

	if (found) {
		const struct ix_name *e = ix->names[i];
		for (int j = e->n - 1; j >= 0; j--)
			if (e->v[j].version > version) {
				strcpy(out, e->name);
				*vout = e->v[j].version;
				return 1;
			}
		i++;
	}
	return first_from(ix, i, out, vout) || first_from(ix, 0, out, vout);
}

size_t store_index_count(const struct store_index *ix)
{
	return ix->nversions;
}

size_t store_index_tombs(const struct store_index *ix)
{
	return ix->ntombs;
}
