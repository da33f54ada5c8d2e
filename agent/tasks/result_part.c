/*
 * result_part.c - a part of a job's result log in SDFS, one result a JSON
 * line (see result_part.h).  The parser reads exactly the objects the
 * encoder writes (keys in any order, each once), no general JSON.
 */
#include "tasks/result_part.h"

#include "model.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RSEQ_DIGITS 12
#define RSEQ_MAX    999999999999ull

int result_part_name(const char *job, uint64_t first, char *out, size_t cap)
{
	int n;

	if (coord_job_id_check(job) || first == 0 || first > RSEQ_MAX)
		return -EINVAL;
	n = snprintf(out, cap, RESULT_PART_DIR "%s/%0*llu", job, RSEQ_DIGITS,
		     (unsigned long long)first);
	return n < 0 || (size_t)n >= cap ? -EINVAL : 0;
}

int result_part_name_rseq(const char *name, uint64_t *first)
{
	const char *s = strrchr(name, '/');
	uint64_t v = 0;

	s = s ? s + 1 : name;
	if (strlen(s) != RSEQ_DIGITS)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v == 0)
		return -EINVAL;
	*first = v;
	return 0;
}

/* ---- encoding ---- */

struct out {
	char *p;
	size_t len, cap;
	int full;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len)
		o->full = 1;
	else
		o->len += (size_t)n;
}

static void put_str(struct out *o, const char *s, size_t max)
{
	put(o, "\"");
	for (size_t i = 0; s[i] && i < max; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\')
			put(o, "\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			put(o, "\\u%04x", ch);
		else
			put(o, "%c", ch);
	}
	put(o, "\"");
}

int result_part_line(const struct coord_result *r, const char *input, char *buf, size_t cap)
{
	const struct coord_answer *a = &r->a;
	struct out o = {.p = buf, .cap = cap};
	char who[32];

	if (cap == 0)
		return -EMSGSIZE;
	wire_addr_str(a->worker, who, sizeof(who));
	put(&o, "{\"rseq\":%llu,\"query\":%llu,", (unsigned long long)r->rseq,
	    (unsigned long long)a->qid);
	if (a->qid & COORD_QID_CLIENT)
		put(&o, "\"client\":%llu,\"cqid\":%llu,", (unsigned long long)r->client,
		    (unsigned long long)r->cqid);
	put(&o, "\"image\":%u,\"input\":", r->image);
	put_str(&o, input, DATASET_NAME_MAX);
	put(&o, ",\"status\":%d,\"worker\":\"%s\",\"service_ns\":%llu,\"done_ms\":%llu,\"top5\":[",
	    a->status, who, (unsigned long long)a->service_ns, (unsigned long long)a->done_ms);
	for (int k = 0; k < COORD_TOP && a->status == 0; k++) {
		unsigned cls = a->cls[k] < MODEL_CLASSES ? a->cls[k] : 0;
		put(&o, "%s{\"class\":%u,\"name\":", k ? "," : "", a->cls[k]);
		put_str(&o, model_imagenet_classes[cls], 200);
		put(&o, ",\"prob\":%.9g}", (double)a->prob[k]);
	}
	put(&o, "]}\n");
	return o.full ? -EMSGSIZE : (int)o.len;
}

/* ---- parsing ---- */

struct in {
	const char *p, *end;
	int err;
};

static void ws(struct in *in)
{
	while (in->p < in->end && (*in->p == ' ' || *in->p == '\t' || *in->p == '\r'))
		in->p++;
}

static int eat(struct in *in, char ch)
{
	ws(in);
	if (in->p < in->end && *in->p == ch) {
		in->p++;
		return 1;
	}
	return 0;
}

static void expect(struct in *in, char ch)
{
	if (!eat(in, ch))
		in->err = 1;
}

/* A string into out (cap bytes, NUL-terminated); escapes \" \\ \/ and \u
 * with four hex digits of a byte 0x01..0xff. */
static void str(struct in *in, char *out, size_t cap)
{
	size_t n = 0;

	if (!eat(in, '"')) {
		in->err = 1;
		return;
	}
	while (!in->err) {
		unsigned ch;
		if (in->p >= in->end) {
			in->err = 1;
			break;
		}
		ch = (unsigned char)*in->p++;
		if (ch == '"')
			break;
		if (ch < 0x20) {
			in->err = 1;
			break;
		}
		if (ch == '\\') {
			char hex[5] = {0};
			char *e;
			if (in->p >= in->end) {
				in->err = 1;
				break;
			}
			ch = (unsigned char)*in->p++;
			if (ch == 'u') {
				if (in->end - in->p < 4) {
					in->err = 1;
					break;
				}
				memcpy(hex, in->p, 4);
				in->p += 4;
				ch = (unsigned)strtoul(hex, &e, 16);
				if (*e || ch == 0 || ch > 0xff)
					in->err = 1;
			} else if (ch != '"' && ch != '\\' && ch != '/') {
				in->err = 1;
			}
		}
		if (n + 1 >= cap)
			in->err = 1;
		else
			out[n++] = (char)ch;
	}
	if (cap)
		out[n < cap ? n : cap - 1] = '\0';
}

/* An integer: unsigned (neg 0) or signed; its text ends at a delimiter. */
static long long num(struct in *in, int neg_ok, unsigned long long *u)
{
	char tmp[32], *e;
	size_t n = 0;

	ws(in);
	while (in->p + n < in->end && n < sizeof(tmp) - 1 &&
	       (in->p[n] == '-' || (in->p[n] >= '0' && in->p[n] <= '9')))
		n++;
	memcpy(tmp, in->p, n);
	tmp[n] = '\0';
	in->p += n;
	errno = 0;
	if (n == 0 || (tmp[0] == '-' && !neg_ok)) {
		in->err = 1;
		return 0;
	}
	if (neg_ok) {
		long long v = strtoll(tmp, &e, 10);
		if (errno || *e)
			in->err = 1;
		return v;
	}
	*u = strtoull(tmp, &e, 10);
	if (errno || *e)
		in->err = 1;
	return 0;
}

static unsigned long long unum(struct in *in)
{
	unsigned long long v = 0;

	num(in, 0, &v);
	return v;
}

static double real(struct in *in)
{
	char tmp[40], *e;
	size_t n = 0;
	double v;

	ws(in);
	while (in->p + n < in->end && n < sizeof(tmp) - 1 && strchr("+-.0123456789eE", in->p[n]))
		n++;
	memcpy(tmp, in->p, n);
	tmp[n] = '\0';
	in->p += n;
	v = strtod(tmp, &e);
	if (n == 0 || *e)
		in->err = 1;
	return v;
}

static void top5(struct in *in, struct coord_answer *a, int *n)
{
	expect(in, '[');
	if (eat(in, ']'))
		return;
	do {
		unsigned long long cls = MODEL_CLASSES;
		char key[16], name[200] = "";
		int seen = 0;
		double prob = -1;
		expect(in, '{');
		do {
			str(in, key, sizeof(key));
			expect(in, ':');
			if (!strcmp(key, "class") && !(seen & 1))
				cls = unum(in), seen |= 1;
			else if (!strcmp(key, "name") && !(seen & 2))
				str(in, name, sizeof(name)), seen |= 2;
			else if (!strcmp(key, "prob") && !(seen & 4))
				prob = real(in), seen |= 4;
			else
				in->err = 1;
		} while (!in->err && eat(in, ','));
		expect(in, '}');
		if (in->err || seen != 7 || *n >= COORD_TOP || cls >= MODEL_CLASSES ||
		    strcmp(name, model_imagenet_classes[cls]) || !(prob >= 0 && prob <= 1)) {
			in->err = 1;
			return;
		}
		a->cls[*n] = (uint16_t)cls;
		a->prob[(*n)++] = (float)prob;
	} while (eat(in, ','));
	expect(in, ']');
}

enum key {
	K_RSEQ,
	K_QUERY,
	K_CLIENT,
	K_CQID,
	K_IMAGE,
	K_INPUT,
	K_STATUS,
	K_WORKER,
	K_SERVICE,
	K_DONE,
	K_TOP5,
	K_MAX
};
static const char *const key_names[K_MAX] = {"rseq",	   "query",   "client", "cqid",
					     "image",	   "input",   "status", "worker",
					     "service_ns", "done_ms", "top5"};

int result_part_parse(const char *line, size_t len, struct coord_result *r, char *input, size_t cap)
{
	struct in in = {.p = line, .end = line + len};
	unsigned seen = 0;
	int ntop = 0;
	long long status = 0;
	unsigned long long image = 0;
	char worker[40] = "", key[16];

	memset(r, 0, sizeof(*r));
	expect(&in, '{');
	do {
		int k;
		str(&in, key, sizeof(key));
		expect(&in, ':');
		for (k = 0; k < K_MAX && strcmp(key, key_names[k]); k++)
			;
		if (in.err || k == K_MAX || (seen & (1u << k)))
			return -EINVAL;
		seen |= 1u << k;
		switch (k) {
		case K_RSEQ:
			r->rseq = unum(&in);
			break;
		case K_QUERY:
			r->a.qid = unum(&in);
			break;
		case K_CLIENT:
			r->client = unum(&in);
			break;
		case K_CQID:
			r->cqid = unum(&in);
			break;
		case K_IMAGE:
			image = unum(&in);
			break;
		case K_INPUT:
			str(&in, input, cap);
			break;
		case K_STATUS:
			status = num(&in, 1, NULL);
			break;
		case K_WORKER:
			str(&in, worker, sizeof(worker));
			break;
		case K_SERVICE:
			r->a.service_ns = unum(&in);
			break;
		case K_DONE:
			r->a.done_ms = unum(&in);
			break;
		default:
			top5(&in, &r->a, &ntop);
			break;
		}
	} while (!in.err && eat(&in, ','));
	expect(&in, '}');
	ws(&in);
	if (in.err || in.p != in.end)
		return -EINVAL;
	/* done_ms is optional: lines written before it existed read as 0 */
	if ((seen | (1u << K_CLIENT) | (1u << K_CQID) | (1u << K_DONE)) != (1u << K_MAX) - 1)
		return -EINVAL; /* a key missing */
	if (!!(r->a.qid & COORD_QID_CLIENT) != !!(seen & (1u << K_CLIENT)) ||
	    !!(seen & (1u << K_CLIENT)) != !!(seen & (1u << K_CQID)))
		return -EINVAL;
	if (r->rseq == 0 || r->a.qid == UINT64_MAX || image > UINT32_MAX || status > 0 ||
	    status < INT32_MIN || ntop != (status == 0 ? COORD_TOP : 0) || /* failed: no top5 */
	    wire_addr_parse(worker, 0, &r->a.worker) || r->a.worker.ip == 0 ||
	    r->a.worker.port == 0) /* "IP" alone: not a line the writer makes */
		return -EINVAL;
	r->image = (uint32_t)image;
	r->a.status = (int32_t)status;
	return 0;
}
