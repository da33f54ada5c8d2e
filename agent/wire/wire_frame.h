/*
 * wire_frame.h - the agent's wire format: one authenticated frame per UDP
 * datagram or TCP message.
 *
 *   header (52 bytes, little-endian)
 *     u32 magic "IDNW"  u8 version  u8 type  u16 reserved  u32 payload length
 *     u32 sender ip  u16 sender port  u16 reserved
 *     u64 epoch (sender's boot time, ns)  u64 seq (per sender and epoch)
 *     u64 sent (sender's CLOCK_REALTIME, ms)
 *     u32 destination ip  u16 destination port  u16 reserved
 *   payload (length bytes)
 *   tag (32 bytes): HMAC-SHA256 over header and payload with the cluster key
 *
 * The destination binds a frame to the one receiver it was sealed for (an
 * agent's address, or a CLI client's sender id): a frame captured on its
 * way to one node is refused by every other.
 *
 * Decoding is pure and rejects anything truncated, oversized, of another
 * version or type, addressed to another receiver, or with a bad tag, each
 * with its own reason (so every kind of rejected input can be counted).
 * Every check but the tag's is made first, on the header alone
 * (wire_peek), so that junk costs no MAC (issue 16, defect 3).  Freshness
 * and replays are wire_replay.h's; who may cost a MAC, wire_gate.h's.
 */
#ifndef IDUNNO_WIRE_FRAME_H
#define IDUNNO_WIRE_FRAME_H

#include "wire/wire_addr.h"
#include "wire/wire_key.h"

#include <stddef.h>
#include <stdint.h>

#define WIRE_MAGIC	  0x574e4449u /* "IDNW" read as little-endian bytes */
#define WIRE_VERSION	  2
#define WIRE_HDR_LEN	  52
#define WIRE_TAG_LEN	  32
#define WIRE_MAX_PAYLOAD  (1u << 20) /* TCP; a UDP frame is at most WIRE_MAX_DATAGRAM */
#define WIRE_MAX_DATAGRAM 1400
/* Four bytes "IDNB" an agent sends, unauthenticated, instead of a frame on a
 * connection it has no room for, before closing it: "the agent is busy". */
#define WIRE_BUSY_MAGIC 0x424e4449u

enum wire_type {
	WIRE_PING = 1,
	WIRE_ACK,
	WIRE_PING_REQ,
	WIRE_JOIN,
	WIRE_STATE,  /* full membership (join reply, push-pull) */
	WIRE_GOSSIP, /* updates only */
	WIRE_RPC_REQ,
	WIRE_RPC_RESP,
	WIRE_TYPE_MAX
};

/* Why a frame was refused; each has a counter. */
enum wire_reject {
	WIRE_OK,
	WIRE_R_SHORT, /* shorter than header + tag */
	WIRE_R_MAGIC,
	WIRE_R_VERSION,
	WIRE_R_TYPE,
	WIRE_R_LENGTH,	  /* length field disagrees with the frame, or too large */
	WIRE_R_TAG,	  /* bad authentication tag: wrong key or forged */
	WIRE_R_STALE,	  /* sent too long ago (or in the future) */
	WIRE_R_REPLAY,	  /* seen before */
	WIRE_R_FULL,	  /* a new sender while the replay table is full (fail closed) */
	WIRE_R_PAYLOAD,	  /* authenticated, but the payload does not parse */
	WIRE_R_DEST,	  /* authenticated, but sealed for another receiver */
	WIRE_R_BOOT,	  /* sent before the receiver started (a restarted node) */
	WIRE_R_THROTTLED, /* not checked: its source sent too many rejected frames */
	WIRE_R_CUT,	  /* TCP: the connection closed in the middle of a frame */
	WIRE_REJECT_MAX
};

extern const char *const wire_reject_names[WIRE_REJECT_MAX];

struct wire_hdr {
	uint8_t type;
	uint32_t len;
	struct wire_addr sender;
	uint64_t epoch, seq, sent_ms;
	struct wire_addr to; /* the receiver it is sealed for */
};

/*
 * Seals a frame into out.  Returns its length, or -EMSGSIZE when it does
 * not fit in cap (or the payload exceeds WIRE_MAX_PAYLOAD).
 */
int wire_seal(const struct wire_key *key, const struct wire_hdr *h, const void *payload, size_t len,
	      uint8_t *out, size_t cap);

/*
 * The cheap checks, before any MAC: shape, magic, version, length, type and
 * destination of a frame of exactly n bytes.  WIRE_OK with the header filled
 * (nothing of it authenticated yet), or a reject reason.
 */
enum wire_reject wire_peek(struct wire_addr self, const uint8_t *in, size_t n, struct wire_hdr *h);
/* The tag of a frame of n bytes: WIRE_OK or WIRE_R_TAG (constant time). */
enum wire_reject wire_auth(const struct wire_key *key, const uint8_t *in, size_t n);

/*
 * Checks and opens a frame of exactly n bytes addressed to self (wire_peek,
 * then wire_auth).  Returns WIRE_OK with the header and a pointer to the
 * payload inside in, or a wire_reject reason (WIRE_R_DEST: sealed for
 * another receiver, refused before its tag is checked).  Does not check
 * freshness or replay (wire_replay_check does).
 */
enum wire_reject wire_open(const struct wire_key *key, struct wire_addr self, const uint8_t *in,
			   size_t n, struct wire_hdr *h, const uint8_t **payload);

/* The length a frame announces in its header (TCP framing), or -1. */
long wire_frame_len(const uint8_t *in, size_t n);

#endif
