/*
 * wire_key.h - the cluster key: 32 bytes every member shares, kept in a
 * file of 64 hex digits (mode 0600).
 */
#ifndef IDUNNO_WIRE_KEY_H
#define IDUNNO_WIRE_KEY_H

#include <stdint.h>

#define WIRE_KEY_LEN 32

struct wire_key {
	uint8_t k[WIRE_KEY_LEN];
};

/* Key files hold 64 hex digits. Returns 0 or -errno / -EINVAL. */
int wire_key_load(const char *path, struct wire_key *key);
/* Writes a new random key (mode 0600, refuses to overwrite). 0 or -errno. */
int wire_key_generate(const char *path);

#endif
