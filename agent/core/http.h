/*
 * http.h - the request head of a small HTTP/1.x GET server (the agent's
 * /metrics, core/metrics.h).  Pure: no I/O, no clock.
 */
#ifndef IDUNNO_HTTP_H
#define IDUNNO_HTTP_H

#include <stddef.h>

#define HTTP_HEAD_MAX 4096 /* a longer request head is refused */

enum http_parse {
	HTTP_MORE,   /* no blank line yet: read on */
	HTTP_GET,    /* a complete GET (or HEAD) head: its path is filled */
	HTTP_BAD,    /* not an HTTP/1.x request head: answer 400 */
	HTTP_METHOD, /* a well-formed request with another method: answer 405 */
	HTTP_PARSE_MAX
};

/*
 * Parses the bytes received so far, p[0..len).  The request line is
 * "METHOD SP /TARGET SP HTTP/1.0|1.1" and each header "Name: value", lines
 * ending in CRLF or LF, up to a blank line.  Returns HTTP_BAD as soon as
 * the bytes so far cannot begin a valid head (a control byte, a bad
 * request line, a header without a colon, HTTP_HEAD_MAX bytes without
 * the blank line).  On HTTP_GET, path gets the target without its query
 * ("?..."), truncated to cap; *head is 1 for a HEAD request.
 */
enum http_parse http_req_parse(const char *p, size_t len, char *path, size_t cap, int *head);

#endif
