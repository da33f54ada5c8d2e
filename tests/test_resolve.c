/*
 * Description: addresses on command lines (agent/cli/resolve.c): dotted
 * IPv4 with and without a port (the default port, or none allowed),
 * localhost, this machine's host name resolved as the system resolves it
 * (skipped when it has no IPv4 address), and refusals that name the
 * reason: bad ports, an empty host, a dotted address that is not one (not
 * looked up), a name that does not resolve (-ENOENT), an over-long host.
 */
#include "check.h"
#include "cli/resolve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <string.h>
#include <unistd.h>

static int refused(const char *s, uint16_t dflt, int want, const char *words)
{
	struct wire_addr a = {0x01020304, 5};
	char err[320] = "";
	int ret = addr_resolve(s, dflt, &a, err, sizeof(err));

	CHECK(ret == want && strstr(err, words) && a.ip == 0x01020304 && a.port == 5,
	      "'%s': %d '%s'", s, ret, err);
	return ret == want;
}

int main(void)
{
	struct wire_addr a;
	char err[320], host[256], long_host[400];
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res;

	CHECK(addr_resolve("10.0.0.1", 7600, &a, err, sizeof(err)) == 0 && a.ip == 0x0a000001 &&
		      a.port == 7600,
	      "default port: %s", err);
	CHECK(addr_resolve("10.0.0.1:7601", 7600, &a, err, sizeof(err)) == 0 &&
		      a.ip == 0x0a000001 && a.port == 7601,
	      "given port: %s", err);
	CHECK(addr_resolve("localhost:9", 0, &a, err, sizeof(err)) == 0 && a.ip == 0x7f000001 &&
		      a.port == 9,
	      "localhost: %s", err);
	CHECK(addr_resolve("0.0.0.0:7600", 0, &a, err, sizeof(err)) == 0 && a.ip == 0,
	      "0.0.0.0: %s", err);

	refused("10.0.0.1", 0, -EINVAL, "has no port");
	refused("10.0.0.1:0", 7600, -EINVAL, "is not HOST:PORT (a port is 1 to 65535)");
	refused("10.0.0.1:65536", 7600, -EINVAL, "is not HOST:PORT (a port is 1 to 65535)");
	refused("10.0.0.1:", 7600, -EINVAL, "is not HOST:PORT (a port is 1 to 65535)");
	refused("10.0.0.1:12x", 7600, -EINVAL, "is not HOST:PORT (a port is 1 to 65535)");
	refused(":7600", 7600, -EINVAL, "is not HOST:PORT");
	refused("", 7600, -EINVAL, "is not HOST:PORT");
	refused("999.1.1.1:7600", 7600, -EINVAL, "'999.1.1.1' is not an IPv4 address");
	refused("10.0.0:7600", 7600, -EINVAL, "is not an IPv4 address");
	refused("no-such-host.invalid:7600", 7600, -ENOENT,
		"cannot resolve 'no-such-host.invalid'");
	memset(long_host, 'a', 300);
	strcpy(long_host + 300, ":7600");
	refused(long_host, 7600, -EINVAL, "a host name is at most 255 characters");

	/* this machine's name, as the system resolves it */
	if (gethostname(host, sizeof(host)) == 0 && getaddrinfo(host, NULL, &hints, &res) == 0) {
		uint32_t want = ntohl(((struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr);
		char hp[300];
		freeaddrinfo(res);
		snprintf(hp, sizeof(hp), "%s:7602", host);
		CHECK(addr_resolve(hp, 7600, &a, err, sizeof(err)) == 0 && a.ip == want &&
			      a.port == 7602,
		      "%s: %s", hp, err);
		CHECK(addr_resolve(host, 7600, &a, err, sizeof(err)) == 0 && a.ip == want &&
			      a.port == 7600,
		      "%s: %s", host, err);
	} else {
		printf("part skipped: this machine's name has no IPv4 address\n");
	}
	return t_failures ? T_EXIT_FAIL : T_EXIT_PASS;
}
