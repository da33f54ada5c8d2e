/*
 * resolve.h - an address given on a command line or in IDUNNO_AGENT:
 * "HOST[:PORT]", HOST a dotted IPv4 address or a host name (resolved to
 * its first IPv4 address through the system's resolver: /etc/hosts, DNS).
 * The daemon's wire layer keeps its own pure parser (wire_addr_parse);
 * this one may block on DNS, so only command-line programs use it, before
 * any loop runs.
 */
#ifndef IDUNNO_RESOLVE_H
#define IDUNNO_RESOLVE_H

#include "wire/wire_addr.h"

#include <stddef.h>
#include <stdint.h>

/*
 * Fills *out from s; without ":PORT", default_port (0: a port is
 * required).  Returns 0, or -EINVAL (not HOST[:PORT]) or -ENOENT (a name
 * that does not resolve to an IPv4 address) with the reason in err.
 */
int addr_resolve(const char *s, uint16_t default_port, struct wire_addr *out, char *err,
		 size_t errlen);

#endif
