/*
 * wire_addr.c - parsing and printing node addresses (see wire_addr.h).
 */
#include "wire/wire_addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int wire_addr_parse(const char *s, uint16_t default_port, struct wire_addr *out)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	struct in_addr in;
	long port = default_port;
	size_t hl = colon ? (size_t)(colon - s) : strlen(s);

	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (colon) {
		char *end;
		port = strtol(colon + 1, &end, 10);
		if (*end || end == colon + 1 || port < 1 || port > 65535)
			return -EINVAL;
	}
	if (!strcmp(host, "localhost"))
		strcpy(host, "127.0.0.1");
	if (inet_pton(AF_INET, host, &in) != 1)
		return -EINVAL;
	out->ip = ntohl(in.s_addr);
	out->port = (uint16_t)port;
	return 0;
}

void wire_addr_str(struct wire_addr a, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u:%u", a.ip >> 24, (a.ip >> 16) & 255, (a.ip >> 8) & 255,
		 a.ip & 255, a.port);
}
