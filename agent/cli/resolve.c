/*
 * resolve.c - "HOST[:PORT]" with host names (see resolve.h).
 */
#include "cli/resolve.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int addr_resolve(const char *s, uint16_t default_port, struct wire_addr *out, char *err,
		 size_t errlen)
{
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
	const char *colon = strrchr(s, ':');
	size_t hl = colon ? (size_t)(colon - s) : strlen(s);
	char host[256];
	long port = default_port;
	int ret;

	if (hl >= sizeof(host)) {
		util_seterr(err, errlen, "a host name is at most %zu characters", sizeof(host) - 1);
		return -EINVAL;
	}
	if (hl == 0) {
		util_seterr(err, errlen, "'%s' is not HOST:PORT", s);
		return -EINVAL;
	}
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (colon) {
		char *end;
		port = strtol(colon + 1, &end, 10);
		if (*end || end == colon + 1 || port < 1 || port > 65535) {
			util_seterr(err, errlen, "'%s' is not HOST:PORT (a port is 1 to 65535)", s);
			return -EINVAL;
		}
	} else if (!port) {
		util_seterr(err, errlen, "'%s' has no port (HOST:PORT)", s);
		return -EINVAL;
	}
	if (wire_addr_parse(host, (uint16_t)port, out) == 0)
		return 0; /* a dotted address (or localhost): no lookup */
	if (strspn(host, "0123456789.") == hl) {
		util_seterr(err, errlen, "'%s' is not an IPv4 address", host);
		return -EINVAL;
	}
	ret = getaddrinfo(host, NULL, &hints, &res);
	if (ret || !res) {
		util_seterr(err, errlen, "cannot resolve '%s': %s", host,
			    ret ? gai_strerror(ret) : "no IPv4 address");
		if (res)
			freeaddrinfo(res);
		return -ENOENT;
	}
	out->ip = ntohl(((struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr);
	out->port = (uint16_t)port;
	freeaddrinfo(res);
	return 0;
}
