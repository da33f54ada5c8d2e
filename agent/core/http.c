/*
 * http.c - an HTTP/1.x request head, parsed (http.h).
 */
#include "core/http.h"

#include <string.h>

/* The request line, p[0..n) without its line end. */
static enum http_parse request_line(const char *p, size_t n, char *path, size_t cap, int *head)
{
	const char *sp1 = memchr(p, ' ', n), *sp2;
	size_t m, tlen, plen;

	if (!sp1)
		return HTTP_BAD;
	m = (size_t)(sp1 - p);
	for (size_t i = 0; i < m; i++)
		if (p[i] < 'A' || p[i] > 'Z')
			return HTTP_BAD;
	sp2 = memchr(sp1 + 1, ' ', n - m - 1);
	if (m == 0 || !sp2)
		return HTTP_BAD;
	tlen = (size_t)(sp2 - sp1 - 1);
	if (tlen == 0 || sp1[1] != '/')
		return HTTP_BAD;
	if ((size_t)(p + n - sp2 - 1) != 8 ||
	    (memcmp(sp2 + 1, "HTTP/1.0", 8) && memcmp(sp2 + 1, "HTTP/1.1", 8)))
		return HTTP_BAD;
	for (size_t i = 0; i < tlen; i++)
		if (sp1[1 + i] <= ' ' || sp1[1 + i] > '~')
			return HTTP_BAD;
	if (!(m == 3 && !memcmp(p, "GET", 3)) && !(m == 4 && !memcmp(p, "HEAD", 4)))
		return HTTP_METHOD;
	*head = m == 4;
	plen = tlen;
	const char *q = memchr(sp1 + 1, '?', tlen);
	if (q)
		plen = (size_t)(q - sp1 - 1);
	if (cap) {
		if (plen >= cap)
			plen = cap - 1;
		memcpy(path, sp1 + 1, plen);
		path[plen] = '\0';
	}
	return HTTP_GET;
}

enum http_parse http_req_parse(const char *p, size_t len, char *path, size_t cap, int *head)
{
	size_t off = 0;
	int line = 0;
	enum http_parse first = HTTP_MORE;

	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)p[i];
		if ((ch < ' ' && ch != '\r' && ch != '\n' && ch != '\t') || ch >= 0x7f)
			return HTTP_BAD;
	}
	while (off < len) {
		const char *nl = memchr(p + off, '\n', len - off);
		size_t n;
		if (!nl)
			break;
		n = (size_t)(nl - (p + off));
		if (n && p[off + n - 1] == '\r')
			n--;
		if (memchr(p + off, '\r', n))
			return HTTP_BAD;
		if (line == 0) {
			first = request_line(p + off, n, path, cap, head);
			if (first == HTTP_BAD)
				return HTTP_BAD;
		} else if (n == 0) {
			return first;
		} else {
			const char *colon = memchr(p + off, ':', n);
			if (!colon || colon == p + off || p[off] == ' ' || p[off] == '\t')
				return HTTP_BAD;
		}
		line++;
		off = (size_t)(nl - p) + 1;
	}
	/* an unfinished request line must still be able to become one */
	if (line == 0) {
		for (size_t i = 0; i < len && p[i] != ' '; i++)
			if (p[i] < 'A' || p[i] > 'Z')
				return HTTP_BAD;
	}
	return len >= HTTP_HEAD_MAX ? HTTP_BAD : HTTP_MORE;
}
