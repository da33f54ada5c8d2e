/*
 * fuzz_http_req.c - the request head of the agent's metrics endpoint
 * (http_req_parse), as a TCP client sends it: an answer of the enum; on a
 * GET, a path that starts with '/', holds no '?' and no byte outside
 * '!'..'~', within the room given; a GET head cut short (as a slow client
 * sends it) reads HTTP_MORE, or HTTP_GET once it holds the blank line,
 * never HTTP_BAD or HTTP_METHOD.
 */
#include "core/http.h"
#include "fuzz.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	int head = -1;
	enum http_parse p;
	size_t plen;

	memset(path, 0x55, sizeof(path));
	p = http_req_parse((const char *)data, size, path, sizeof(path), &head);
	FUZZ_ASSERT(p >= HTTP_MORE && p < HTTP_PARSE_MAX);
	if (size >= HTTP_HEAD_MAX)
		FUZZ_ASSERT(p != HTTP_MORE);
	if (p != HTTP_GET)
		return 0;
	FUZZ_ASSERT(head == 0 || head == 1);
	plen = strnlen(path, sizeof(path));
	FUZZ_ASSERT(plen < sizeof(path) && plen >= 1 && path[0] == '/');
	for (size_t i = 0; i < plen; i++)
		FUZZ_ASSERT(path[i] > ' ' && path[i] <= '~' && path[i] != '?');
	/* the same head arriving a piece at a time */
	for (size_t k = 0; k < size; k += 1 + size / 16) {
		enum http_parse q =
			http_req_parse((const char *)data, k, path, sizeof(path), &head);
		FUZZ_ASSERT(q == HTTP_MORE || q == HTTP_GET);
	}
	return 0;
}
