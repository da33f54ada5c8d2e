/*
 * probe_client.h - what the probe programs (tests/probe_*.c) share: a
 * client identity (a random 0.x.y.z sender id, as the CLI's) that seals
 * frames with the cluster key, and a fixed member list for the in-loop
 * SDFS client's `live` callback.
 */
#ifndef IDUNNO_PROBE_CLIENT_H
#define IDUNNO_PROBE_CLIENT_H

#include "util.h"
#include "wire/wire.h"

#include <sodium.h>
#include <string.h>

static struct wire_key probe_key;
static struct wire_addr probe_self, probe_members[64];
static int probe_nmembers;
static uint64_t probe_epoch, probe_seq;

/* Loads the key and parses "a,b,..." members. 0, or -1 on a bad argument. */
static inline int probe_init(const char *key_file, char *members, uint16_t port)
{
	char *tok, *save = NULL;

	if (sodium_init() < 0 || wire_key_load(key_file, &probe_key))
		return -1;
	for (tok = strtok_r(members, ",", &save); tok && probe_nmembers < 64;
	     tok = strtok_r(NULL, ",", &save))
		if (wire_addr_parse(tok, 7600, &probe_members[probe_nmembers++]))
			return -1;
	randombytes_buf(&probe_self.ip, sizeof(probe_self.ip));
	probe_self.ip &= 0x00ffffff; /* 0.x.y.z: a client's sender id */
	probe_self.port = port;
	probe_epoch = util_wall_ms() * 1000000ull;
	return 0;
}

static inline int probe_seal(void *arg, uint8_t type, struct wire_addr to, const void *body,
			     size_t len, uint8_t *out, size_t cap)
{
	struct wire_hdr h = {.type = type,
			     .sender = probe_self,
			     .epoch = probe_epoch,
			     .seq = ++probe_seq,
			     .sent_ms = util_wall_ms(),
			     .to = to};

	(void)arg;
	return wire_seal(&probe_key, &h, body, len, out, cap);
}

static inline int probe_live(void *arg, struct wire_addr *out, int max)
{
	(void)arg;
	for (int i = 0; i < probe_nmembers && i < max; i++)
		out[i] = probe_members[i];
	return MIN(probe_nmembers, max);
}

#endif
