/*
 * store.h - one node's SDFS replicas on disk.
 *
 * Each version of a file is one file in the store folder, named by the
 * hex of the SDFS name and the version number (so no name can spell a
 * path, and every open goes through openat2 with RESOLVE_BENEATH anyway).
 * Content is written in order, checksummed per 1 MiB chunk (CRC32C), and
 * committed by fsync and rename (never over an existing version): a reader
 * never sees a partial file, and a failed or aborted write leaves nothing
 * behind.  Every read verifies the chunks it returns; a corrupt replica
 * reads as -EBADMSG, never as data.
 *
 * What is held (versions, sizes, deletion markers) is read from the folder
 * once, at open, into an in-memory index kept current by every commit,
 * removal and marker: lookups and listings touch no disk.  Opening,
 * reading and writing files do; the agent moves file data and fsyncs
 * through its io_uring.  Not thread-safe.
 */
#ifndef IDUNNO_STORE_H
#define IDUNNO_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define STORE_CHUNK    (1u << 20)
#define STORE_NAME_MAX 100 /* its hex and version fit in a 255-byte file name */

/*
 * SDFS names: 1..100 bytes of [A-Za-z0-9._-] in '/'-separated parts, not
 * absolute, no empty, "." or ".." part.  0, or -EINVAL with the reason.
 */
int store_name_check(const char *name, char *err, size_t errlen);

struct store;

/* Opens (creating) the store folder dir. 0 or -errno with err filled. */
int store_open(const char *dir, struct store **out, char *err, size_t errlen);
void store_close(struct store *s);

struct store_writer;
/* Starts writing version of name (to a temporary file). 0 or -errno. */
int store_write_begin(struct store *s, const char *name, uint64_t version,
		      struct store_writer **out);
/* Appends len bytes. 0 or -errno (-ENOSPC on a full disk). */
int store_write(struct store_writer *w, const void *data, size_t len);
/* Finishes: checksums, fsync, rename into place. 0 or -errno. Frees w. */
int store_write_commit(struct store_writer *w);
/* Gives up: removes the temporary file. Frees w. */
void store_write_abort(struct store_writer *w);

/*
 * The same write driven by someone else's I/O (the agent's io_uring): the
 * caller writes each chunk to store_writer_fd() at its offset and notes its
 * CRC32C here, in order, every chunk STORE_CHUNK bytes but the last; then
 * writes the trailer (malloc'd; the caller frees it) at *off, fsyncs, and
 * renames tmp to final in dirfd with RENAME_NOREPLACE (then fsyncs dirfd).
 * store_write_done frees w after a commit; store_write_abort undoes.
 */
int store_writer_fd(const struct store_writer *w);
void store_write_note(struct store_writer *w, uint32_t crc, size_t len);
uint8_t *store_write_trailer(struct store_writer *w, size_t *len, uint64_t *off);
void store_write_names(const struct store_writer *w, int *dirfd, const char **tmp,
		       const char **final);
/* The rename into place succeeded: the version is held (and indexed), and
 * an abort no longer removes anything. */
void store_write_renamed(struct store_writer *w);
void store_write_done(struct store_writer *w);

struct store_reader;
/*
 * Opens version of name (0: the newest) and checks its framing.  Returns
 * 0 with the size and version, -ENOENT, or -EBADMSG when the replica is
 * damaged.
 */
int store_read_begin(struct store *s, const char *name, uint64_t version, struct store_reader **out,
		     uint64_t *size, uint64_t *version_out);
/* Reads up to len bytes. Returns bytes (0 at the end) or -errno / -EBADMSG. */
ssize_t store_read(struct store_reader *r, void *buf, size_t len);
void store_read_end(struct store_reader *r);
/* For reads done elsewhere: the file and the CRC32C chunk i must have. */
int store_reader_fd(const struct store_reader *r);
uint32_t store_reader_crc(const struct store_reader *r, uint64_t chunk);

/* Whether this version of name is held here (not checked). */
int store_has(struct store *s, const char *name, uint64_t version);
/*
 * Removals (store_remove, store_delete, store_tomb_set) unlink at once
 * but leave the folder unsynced: a caller that must know they are durable
 * fsyncs store_dir_fd() (the agent, through its io_uring) or calls
 * store_sync() (which blocks).
 */
int store_dir_fd(const struct store *s);
/* Entries by a replica's name that were no regular file (a planted link,
 * say), removed when the store was opened. */
int store_planted(const struct store *s);
int store_sync(struct store *s);
/* Removes one version (a corrupt replica, say). 0 or -errno. */
int store_remove(struct store *s, const char *name, uint64_t version);
/* Bytes free for the store's files, and the bytes a file of size takes. */
uint64_t store_free_bytes(struct store *s);
uint64_t store_file_bytes(uint64_t size);

/* The versions of name held here, newest first. Returns how many (all). */
int store_versions(struct store *s, const char *name, uint64_t *out, int max);
/* Removes every version of name. 0, or -ENOENT when there was none. */
int store_delete(struct store *s, const char *name);

typedef int (*store_list_fn)(void *arg, const char *name, uint64_t version, uint64_t size);
/* Calls fn for every (name, version) held here with its size, in (name,
 * version) order; a nonzero return from fn stops and is returned. */
int store_list(struct store *s, store_list_fn fn, void *arg);
/* The same with every size 0. */
int store_list_names(struct store *s, store_list_fn fn, void *arg);
/* The version held after (name, version) in that order, wrapping to the
 * first (name "": the first).  1 with out (STORE_NAME_MAX + 1 bytes) and
 * *vout set, 0 when nothing is held. */
int store_next(struct store *s, const char *name, uint64_t version, char *out, uint64_t *vout);
/* Versions held, and (when markers is not NULL) names with a deletion marker. */
size_t store_held(struct store *s, size_t *markers);

/*
 * Deletion markers.  Deleting name up to version upto removes every
 * version <= upto and leaves a small marker file, so a replica that missed
 * the delete (its node was down) drops those versions once it learns of
 * the marker, and no repair copies them back.  Later versions (a put after
 * the delete) are untouched.  Returns how many versions went, or -errno.
 */
int store_tomb_set(struct store *s, const char *name, uint64_t upto);
/* The marker of name (0: none). */
uint64_t store_tomb_get(struct store *s, const char *name);
/* Calls fn(arg, name, upto, 0) for every marker. */
int store_tomb_list(struct store *s, store_list_fn fn, void *arg);

/* CRC32C (Castagnoli), hardware-assisted where the CPU has SSE4.2. */
uint32_t store_crc32c(uint32_t crc, const void *data, size_t len);

#endif
