/*
 * store_index.h - the store's in-memory index: which versions of which
 * names one node holds (with their sizes), and each name's deletion
 * marker.  The store builds it by scanning its folder once at open and
 * keeps it in step with every commit, removal and marker, so listings,
 * STAT and marker lookups never read the folder.
 *
 * Names are kept in a sorted array (binary search, ordered walks); each
 * name's versions newest first.  Pure memory: no I/O, no clock.
 */
#ifndef IDUNNO_STORE_INDEX_H
#define IDUNNO_STORE_INDEX_H

#include <stddef.h>
#include <stdint.h>

struct store_index;

typedef int (*store_index_fn)(void *arg, const char *name, uint64_t version, uint64_t size);

struct store_index *store_index_new(void);
void store_index_free(struct store_index *ix);

/* Adds (name, version) of size bytes; an existing version keeps its place
 * and takes the new size. */
void store_index_add(struct store_index *ix, const char *name, uint64_t version, uint64_t size);
/* Removes one version. Returns 1 if it was there, else 0. */
int store_index_remove(struct store_index *ix, const char *name, uint64_t version);
/* Removes every version of name <= upto (UINT64_MAX: all). Returns how many. */
int store_index_remove_upto(struct store_index *ix, const char *name, uint64_t upto);
/* Sets name's deletion marker (0 clears it). */
void store_index_set_tomb(struct store_index *ix, const char *name, uint64_t upto);
uint64_t store_index_tomb(const struct store_index *ix, const char *name);

/* Whether (name, version) is held. */
int store_index_has(const struct store_index *ix, const char *name, uint64_t version);
/* Writes up to max versions of name, newest first; returns how many are held. */
int store_index_versions(const struct store_index *ix, const char *name, uint64_t *out, int max);

/* Calls fn for every version held, in (name, version ascending) order; a
 * nonzero return stops the walk and is returned. */
int store_index_each(const struct store_index *ix, store_index_fn fn, void *arg);
/* The same for every deletion marker: fn(arg, name, upto, 0). */
int store_index_each_tomb(const struct store_index *ix, store_index_fn fn, void *arg);

/*
 * The first version after (name, version) in (name, version) order, or
 * the very first when none is after it (name "" starts from the top).
 * Returns 1 with out (STORE_NAME_MAX + 1 bytes) and *vout set, 0 when
 * nothing is held.
 */
int store_index_next(const struct store_index *ix, const char *name, uint64_t version, char *out,
		     uint64_t *vout);

/* Versions held, and names with a deletion marker. */
size_t store_index_count(const struct store_index *ix);
size_t store_index_tombs(const struct store_index *ix);

#endif
