/*
 * wire_addr.h - a node's address on the wire (IPv4 and port), and its
 * "a.b.c.d:port" text form.
 */
#ifndef IDUNNO_WIRE_ADDR_H
#define IDUNNO_WIRE_ADDR_H

#include <stddef.h>
#include <stdint.h>

struct wire_addr {
	uint32_t ip; /* host byte order */
	uint16_t port;
};

/*
 * Parses "a.b.c.d[:port]" ("localhost" is 127.0.0.1); without a port,
 * default_port.  Returns 0 or -EINVAL.
 */
int wire_addr_parse(const char *s, uint16_t default_port, struct wire_addr *out);
/* Formats a as "a.b.c.d:port" into buf (truncated to len). */
void wire_addr_str(struct wire_addr a, char *buf, size_t len);

/* Address order (IPv4, then port): -1, 0 or 1. */
static inline int wire_addr_cmp(struct wire_addr a, struct wire_addr b)
{
	if (a.ip != b.ip)
		return a.ip < b.ip ? -1 : 1;
	return a.port < b.port ? -1 : a.port > b.port;
}

/*
 * Two coordinators of one epoch (views that disagreed at a takeover): the
 * lower address wins.  Whether a HELLO of (epoch, from) yields to the
 * coordinator `sitting` of the same epoch.
 */
static inline int wire_addr_loses_tie(struct wire_addr from, struct wire_addr sitting)
{
	return sitting.ip && wire_addr_cmp(from, sitting) > 0;
}

static inline int wire_addr_eq(struct wire_addr a, struct wire_addr b)
{
	return a.ip == b.ip && a.port == b.port;
}

#endif
