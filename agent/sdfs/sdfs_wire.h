/*
 * sdfs_wire.h - what SDFS sends over TCP, shared by agents and the CLI.
 *
 * Every stream starts with one sealed RPC request (wire.h) whose payload
 * is an sdfs_req, and is answered by sealed RPC responses (a status byte,
 * then a body).  File content moves as chunk frames, each one STORE_CHUNK
 * of the file (the last may be shorter):
 *
 *   u32 magic "IDCK"  u32 index  u32 length  u32 CRC32C of the data
 *   data (length bytes)
 *   tag (16 bytes): Poly1305 over header and data
 *
 * Sealing every 1 MiB chunk with HMAC-SHA256 would cost 4 ms a chunk on
 * this hardware; Poly1305 costs 0.3 ms.  Its one-time key is derived from
 * the cluster key, the stream's random 16-byte id (carried in the sealed
 * request) and the chunk's index, so a chunk cannot be forged, altered,
 * reordered or moved into another stream.  The frames of a put are
 * forwarded unchanged down the replica chain: every replica checks the same
 * tags without re-sealing.  The CRC32C is the store's own per-chunk
 * checksum, so a replica stores it without computing it twice.
 */
#ifndef IDUNNO_SDFS_WIRE_H
#define IDUNNO_SDFS_WIRE_H

#include "sdfs/store.h"
#include "wire/wire.h"

#include <stddef.h>
#include <stdint.h>

#define SDFS_SID_LEN	16
#define CHUNK_HDR	16
#define CHUNK_TAG	16
#define CHUNK_FRAME_MAX (CHUNK_HDR + STORE_CHUNK + CHUNK_TAG)
#define SDFS_MAX_CAND	32 /* candidates a write request may carry */
#define SDFS_REQ_MAX	1024

/* Commands: the first payload byte of an RPC request (after rpc.h's). */
enum sdfs_cmd {
	SDFS_WRITE = 32, /* version 0: a put, the receiver assigns the version */
	SDFS_READ,
	SDFS_STAT,   /* the versions of one name held here */
	SDFS_LIST,   /* everything held here */
	SDFS_DELETE, /* remove every version of a name held here */
	SDFS_REPAIR, /* push this version to cand[0] (whose copy was bad) */
	SDFS_CMD_END
};

struct sdfs_req {
	uint8_t cmd;
	char name[STORE_NAME_MAX + 1];
	uint64_t version, size, offset;
	uint8_t sid[SDFS_SID_LEN];
	uint8_t want; /* WRITE: replicas wanted, the receiver included; LIST: 1 = no sizes */
	uint8_t ncand;
	struct wire_addr cand[SDFS_MAX_CAND]; /* WRITE: where the rest may go, best first */
};

/* In a LIST answer, an entry of this size is a deletion marker (store.h). */
#define SDFS_TOMB_SIZE UINT64_MAX
#define SDFS_STAT_MAX  512 /* versions a STAT answer carries, newest first */
#define SDFS_TEXT_MAX  511 /* bytes of reason a failure answer carries */

/* Encodes a request payload. Returns its length or -EMSGSIZE. */
int sdfs_req_encode(const struct sdfs_req *r, uint8_t *buf, size_t cap);
/* Decodes and validates (the name too). 0, or -EINVAL with the reason. */
int sdfs_req_decode(const uint8_t *p, size_t len, struct sdfs_req *r, char *err, size_t errlen);

/*
 * Answers.  Every answer's body starts with a status byte: 0, or an errno
 * followed by a reason (text, not NUL-terminated).  After a 0, by command:
 *
 *   WRITE (ready)   u64 version, u8 n, n addresses: the chain, head first
 *   WRITE (later)   nothing: "prepared", then "done"
 *   READ            u64 version, u64 size; chunk frames follow
 *   STAT            u16 n, n u64 versions (newest first), u64 deleted up to
 *   LIST            u32 n, n entries (u8 name length, name, u64 version,
 *                   u64 size or SDFS_TOMB_SIZE)
 *   DELETE          u32 versions removed here
 *   REPAIR          nothing
 *
 * A COMMIT travels down a chain as a request frame: a 0 byte and the
 * stream id.  Encoders return the length written, or -EMSGSIZE; decoders
 * 0, or -EPROTO for a body that does not parse.
 */
struct sdfs_ready {
	uint64_t version;
	int nreps;
	struct wire_addr reps[SDFS_MAX_CAND + 1];
};

struct sdfs_stat {
	int n;
	uint64_t v[SDFS_STAT_MAX]; /* newest first */
	uint64_t deleted;	   /* the name's deletion marker (0: none) */
};

/* A status answer: status, then up to SDFS_TEXT_MAX bytes of text (or none). */
int sdfs_status_encode(int status, const char *text, uint8_t *buf, size_t cap);
/* Any answer's status, and the text after it (meaningful when status != 0). */
int sdfs_status_decode(const uint8_t *p, size_t len, int *status, const char **text, size_t *tlen);

int sdfs_ready_encode(const struct sdfs_ready *r, uint8_t *buf, size_t cap);
/* Addresses beyond reps[] are read and dropped. */
int sdfs_ready_decode(const uint8_t *p, size_t len, struct sdfs_ready *r);

int sdfs_read_ans_encode(uint64_t version, uint64_t size, uint8_t *buf, size_t cap);
int sdfs_read_ans_decode(const uint8_t *p, size_t len, uint64_t *version, uint64_t *size);

/* n versions (at most SDFS_STAT_MAX go in), newest first. */
int sdfs_stat_encode(const uint64_t *v, int n, uint64_t deleted, uint8_t *buf, size_t cap);
int sdfs_stat_decode(const uint8_t *p, size_t len, struct sdfs_stat *st);

/* A LIST answer, built one entry at a time into buf. */
struct sdfs_list_enc {
	struct wire_buf b;
	uint32_t n;
};
void sdfs_list_begin(struct sdfs_list_enc *e, uint8_t *buf, size_t cap);
/* 0, or -EMSGSIZE when the entry does not fit (the answer is then unusable). */
int sdfs_list_add(struct sdfs_list_enc *e, const char *name, uint64_t version, uint64_t size);
/* Fills in the count; returns the length. */
size_t sdfs_list_end(struct sdfs_list_enc *e);
/*
 * Calls fn(arg, name, version, size) for every entry, in order; name is
 * NUL-terminated, at most STORE_NAME_MAX bytes, unchecked otherwise.
 * Returns 0, -EPROTO, or fn's first nonzero return.
 */
int sdfs_list_decode(const uint8_t *p, size_t len, store_list_fn fn, void *arg);

int sdfs_delete_ans_encode(uint32_t removed, uint8_t *buf, size_t cap);
int sdfs_delete_ans_decode(const uint8_t *p, size_t len, uint32_t *removed);

#define SDFS_COMMIT_LEN (1 + SDFS_SID_LEN)
int sdfs_commit_encode(const uint8_t sid[SDFS_SID_LEN], uint8_t *buf, size_t cap);
/* 0 when p is a COMMIT for stream sid, else -EPROTO. */
int sdfs_commit_check(const uint8_t *p, size_t len, const uint8_t sid[SDFS_SID_LEN]);

/* The length of chunk frame index of a file of size bytes. */
size_t chunk_frame_len(uint64_t size, uint64_t index);
/* Chunks in a file of size bytes. */
uint64_t chunk_count(uint64_t size);

/*
 * Seals the frame whose data (len bytes) is already at frame + CHUNK_HDR:
 * fills the header (with crc, the data's CRC32C) and the tag.
 */
void chunk_seal(const struct wire_key *key, const uint8_t sid[SDFS_SID_LEN], uint32_t index,
		uint8_t *frame, uint32_t len, uint32_t crc);
/*
 * Checks a received frame of n bytes: header, tag, then the data's CRC32C.
 * Returns 0 with the data's length and CRC, or -EBADMSG.
 */
int chunk_open(const struct wire_key *key, const uint8_t sid[SDFS_SID_LEN], uint32_t index,
	       const uint8_t *frame, size_t n, uint32_t *len, uint32_t *crc);

/* Version numbers: microseconds of the wall clock, so later puts are newer. */
uint64_t sdfs_clock_us(void);

#endif
