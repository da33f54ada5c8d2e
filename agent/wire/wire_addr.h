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

static inline int wire_addr_eq(struct wire_addr a, struct wire_addr b)
{
	return a.ip == b.ip && a.port == b.port;
}

#endif
