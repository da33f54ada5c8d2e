/*
 * dataset.h - datasets in SDFS: JPEG images packed into shard files plus
 * one index, and the names models and datasets go by.  Pure: no I/O, no
 * clock; every decode is length-checked.
 *
 * SDFS files of dataset NAME:
 *   datasets/NAME/shard-00000 ...  the images' bytes, back to back (each
 *                                  shard at most DATASET_SHARD_MAX bytes)
 *   datasets/NAME/index            the commit point: written last, and a
 *                                  dataset without one does not exist
 *
 * The index, little-endian:
 *   magic "IDDX" (4 bytes)   u16 version (1)   u16 flags (0)
 *   u32 shards   u32 images
 *   per shard:  u64 SDFS version   u32 size   u32 CRC32C of its bytes
 *   per image:  u32 shard   u32 offset   u32 length   u16 name length   name
 *   u32 CRC32C of everything before it
 *
 * A valid index lists images in shard order, each one starting where the
 * one before it ended, and they fill every shard exactly (so no range
 * overlaps, leaves a hole or runs past its shard).  An image's name is
 * its original file name: 1..DATASET_IMAGE_NAME_MAX bytes of UTF-8, no
 * control character, no '/', not "." or "..".  The shards are named by
 * their SDFS version, so an index always means the same bytes, whatever is
 * put under the same names later.
 */
#ifndef IDUNNO_DATASET_H
#define IDUNNO_DATASET_H

#include <stddef.h>
#include <stdint.h>

#define DATASET_MAGIC		"IDDX"
#define DATASET_VERSION		1
#define DATASET_SHARD_MAX	(32u << 20) /* bytes in one shard */
#define DATASET_MAX_SHARDS	100000	    /* shard-NNNNN */
#define DATASET_IMAGE_NAME_MAX	255
#define DATASET_INDEX_FETCH_MAX (64u << 20) /* an agent fetches no larger index */
#define DATASET_NAME_MAX	32	    /* model and dataset names */

struct dataset_shard {
	uint64_t version; /* of datasets/NAME/shard-NNNNN in SDFS */
	uint32_t size;
	uint32_t crc; /* CRC32C of the shard's bytes, checked by whoever caches it */
};

struct dataset_image {
	uint32_t shard, offset, length;
	char *name; /* malloc'd, NUL-terminated */
};

struct dataset_index {
	uint32_t nshards, nimages;
	struct dataset_shard *shards;
	struct dataset_image *images;
	uint32_t cap_shards, cap_images; /* allocated, for dataset_index_add */
};

/*
 * Model, dataset (and job) names: 1..DATASET_NAME_MAX bytes of
 * [a-z0-9_-].  0, or -EINVAL with the reason in err.
 */
int dataset_name_check(const char *name, char *err, size_t errlen);
/* An image name as the index allows it. 0, or -EINVAL with the reason. */
int dataset_image_name_check(const char *name, size_t len, char *err, size_t errlen);

/* The SDFS names of a dataset's index and shard i. */
void dataset_index_path(const char *name, char *buf, size_t len);
void dataset_shard_path(const char *name, uint32_t shard, char *buf, size_t len);

/*
 * Appends an image of length bytes to ix (zeroed before the first call):
 * into the last shard, or a new one when it would not fit.  The shards'
 * versions and CRCs are the caller's to fill once they are known.  Returns
 * the image's number, or -EINVAL (a bad name, an empty image or one larger
 * than a shard, too many shards) with the reason.
 */
int dataset_index_add(struct dataset_index *ix, const char *name, uint64_t length, char *err,
		      size_t errlen);

/* Whether ix follows every rule above. 0, or -EINVAL with the reason. */
int dataset_index_check(const struct dataset_index *ix, char *err, size_t errlen);

/*
 * Encodes a checked index into a new buffer (*out, the caller frees it).
 * Returns 0, or -EINVAL with the reason when ix is not valid.
 */
int dataset_index_encode(const struct dataset_index *ix, uint8_t **out, size_t *len, char *err,
			 size_t errlen);
/*
 * Decodes and checks len bytes into *ix (the caller frees it with
 * dataset_index_free).  Returns 0, or -EINVAL with the reason: truncated,
 * bad magic, version or checksum, a shard too large, an image outside its
 * shard, overlapping or leaving a hole, a bad name, trailing bytes.
 */
int dataset_index_decode(const uint8_t *p, size_t len, struct dataset_index *ix, char *err,
			 size_t errlen);
void dataset_index_free(struct dataset_index *ix);

/* Bytes in all shards. */
uint64_t dataset_index_bytes(const struct dataset_index *ix);

#endif
