/*
 * cli_ctl.c - the membership and control subcommands: members, self,
 * leave, stats and grep (which asks every live member and merges), and
 * the JSON of "key value" lines.
 */
#include "cli/cli.h"
#include "ctl/ctl_grep.h"
#include "ctl/rpc.h"
#include "membership/swim.h"
#include "util.h"
#include "wire/wire.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The value of "key value" line key in text (its first word), or "". */
static void self_value(const char *text, size_t tl, const char *key, char *out, size_t cap)
{
	size_t kl = strlen(key);

	out[0] = '\0';
	for (const char *p = text, *end = text + tl; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (ll > kl && p[kl] == ' ' && memcmp(p, key, kl) == 0) {
			snprintf(out, cap, "%.*s", (int)(ll - kl - 1), p + kl + 1);
			return;
		}
		p += ll + 1;
	}
}

/* What the agent asked says of the roles: coordinator, standby, epoch. */
static void roles_seen(struct client *cl, char *coord, char *standby, char *epoch, size_t cap)
{
	struct rpc_req req = {.cmd = RPC_SELF};
	struct swim_member m;
	const char *text;
	uint8_t *body;
	size_t len, tl;
	char err[256];

	coord[0] = standby[0] = '\0';
	snprintf(epoch, cap, "0");
	if (rpc_call(cl, cl->agent, &req, &body, &len, err, sizeof(err)))
		return;
	if (!body[0] && rpc_self_decode(body + 1, len - 1, &m, &text, &tl) == 0) {
		self_value(text, tl, "coordinator", coord, cap);
		self_value(text, tl, "standby", standby, cap);
		self_value(text, tl, "coordinator_epoch", epoch, cap);
	}
	free(body);
}

static int members(struct client *cl, int json, uint8_t cmd)
{
	struct swim_member *m;
	int n = client_members(cl, cmd, &m);
	char coord[32], standby[32], epoch[32];

	if (n < 0)
		return 1;
	/* each member's role, as the agent asked computes them from its view */
	roles_seen(cl, coord, standby, epoch, sizeof(coord));
	if (json)
		printf("[");
	else if (cmd == RPC_MEMBERS)
		printf("%-22s %-8s %-12s %-5s %s\n", "ADDR", "STATUS", "ROLE", "EPOCH",
		       "INCARNATION");
	for (int i = 0; i < n; i++) {
		char a[32];
		const char *role;
		wire_addr_str(m[i].addr, a, sizeof(a));
		role = m[i].status == SWIM_FAILED || m[i].status == SWIM_LEFT ? "none"
		       : strcmp(a, coord) == 0				      ? "coordinator"
		       : strcmp(a, standby) == 0			      ? "standby"
									      : "worker";
		if (json)
			printf("%s{\"addr\":\"%s\",\"status\":\"%s\",\"role\":\"%s\","
			       "\"epoch\":%s,\"incarnation\":%llu}",
			       i ? "," : "", a, swim_status_names[m[i].status], role, epoch,
			       (unsigned long long)m[i].incarnation);
		else
			printf("%-22s %-8s %-12s %-5s %llu\n", a, swim_status_names[m[i].status],
			       role, epoch, (unsigned long long)m[i].incarnation);
	}
	if (json)
		printf("]\n");
	free(m);
	return 0;
}

static int simple(struct client *cl, uint8_t cmd, int json)
{
	struct rpc_req req = {.cmd = cmd};
	uint8_t *body;
	size_t len;
	char err[256];

	if (rpc_call(cl, cl->agent, &req, &body, &len, err, sizeof(err))) {
		fprintf(stderr, "agent: %s\n", err);
		return 1;
	}
	int status = body[0];

	if (json && !status) {
		printf("{");
		cli_kv_json((char *)body + 1, len - 1, 1);
		printf("}\n");
	} else {
		printf("%s%s", (char *)body + 1, len > 1 && body[len - 1] == '\n' ? "" : "\n");
	}
	free(body);
	return status ? 1 : 0;
}

void cli_kv_json(const char *text, size_t tl, int first)
{
	for (const char *p = text, *end = text + tl; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *sp;
		size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p), vl;
		char key[128], val[512];
		sp = memchr(p, ' ', ll);
		if (sp && sp > p) {
			vl = ll - (size_t)(sp + 1 - p);
			snprintf(key, sizeof(key), "%.*s", (int)(sp - p), p);
			snprintf(val, sizeof(val), "%.*s", (int)vl, sp + 1);
			printf("%s", first ? "" : ",");
			cli_json_str(key);
			/* values are words or numbers: numbers stay numbers */
			if (vl && strspn(val, "0123456789") == strlen(val) &&
			    (val[0] != '0' || !val[1]))
				printf(":%s", val);
			else {
				putchar(':');
				cli_json_str(val);
			}
			first = 0;
		}
		p += ll + 1;
	}
}

/* What a grep collects: every match and count, for JSON at the end. */
struct grep_out {
	int json, count_only;
	unsigned long long total, printed;
	int nodes, failed;
};

static void grep_node(struct grep_out *g, const char *who, const char *text, size_t tl,
		      uint64_t count)
{
	g->total += count;
	if (g->count_only && !g->json) {
		printf("%s: %llu\n", who, (unsigned long long)count);
		return;
	}
	for (const char *line = text, *end = text + tl, *nl;
	     !g->count_only && line < end && (nl = memchr(line, '\n', (size_t)(end - line)));
	     line = nl + 1) {
		if (!g->json) {
			printf("%s: %.*s\n", who, (int)(nl - line), line);
			continue;
		}
		char *l = xmalloc((size_t)(nl - line) + 1);
		memcpy(l, line, (size_t)(nl - line));
		l[nl - line] = '\0';
		printf("%s{\"node\":\"%s\",\"line\":", g->printed++ ? "," : "", who);
		cli_json_str(l);
		printf("}");
		free(l);
	}
}

/*
 * Asks every live member to search its log; exit 0 a line matched, 1
 * nothing matched on any node, 2 a bad pattern, or a node that could not
 * be searched and nothing matched elsewhere (as grep).
 */
static int grep(struct client *cl, int flags, int json, const char *pattern)
{
	struct swim_member *m;
	struct rpc_req req = {.cmd = RPC_GREP, .flags = (uint8_t)flags};
	struct grep_out g = {.json = json, .count_only = !!(flags & GREP_COUNT)};
	char *counts, *unreach;
	size_t cl_len = 0, ul = 0;
	regex_t re;
	int n, rc;

	if (strlen(pattern) >= sizeof(req.arg)) {
		fprintf(stderr, "agent grep: pattern longer than %zu bytes\n", sizeof(req.arg) - 1);
		return 2;
	}
	/* checked here once, with the flags every node uses */
	rc = regcomp(&re, pattern,
		     REG_NOSUB | (flags & GREP_EXTENDED ? REG_EXTENDED : 0) |
			     (flags & GREP_ICASE ? REG_ICASE : 0));
	if (rc) {
		char msg[256];
		regerror(rc, &re, msg, sizeof(msg));
		fprintf(stderr, "agent grep: bad regular expression '%s': %s\n", pattern, msg);
		return 2;
	}
	regfree(&re);
	n = client_members(cl, RPC_MEMBERS, &m);
	if (n < 0)
		return 1;
	counts = xcalloc(1, 1);
	unreach = xcalloc(1, 1);
	req.arglen = (uint16_t)strlen(pattern);
	memcpy(req.arg, pattern, req.arglen + 1);
	if (json) {
		printf("{\"pattern\":");
		cli_json_str(pattern);
		printf(",\"matches\":[");
	}
	for (int i = 0; i < n; i++) {
		char who[32], err[256], line[64];
		uint8_t *body;
		size_t len, tl;
		const char *text;
		uint8_t status;
		uint64_t count;
		if (m[i].status != SWIM_ALIVE && m[i].status != SWIM_SUSPECT)
			continue;
		wire_addr_str(m[i].addr, who, sizeof(who));
		status = 0;
		if (rpc_call(cl, m[i].addr, &req, &body, &len, err, sizeof(err))) {
			fprintf(stderr, "agent grep: %s (not searched)\n", err);
			body = NULL;
		} else if (rpc_grep_decode(body, len, &status, &count, &text, &tl) || status) {
			fprintf(stderr, "agent grep: %s: %s (not searched)\n", who,
				status ? strerror(status) : "a malformed answer");
			free(body);
			body = NULL;
		}
		if (!body) {
			g.failed++;
			ul += (size_t)snprintf(line, sizeof(line), "%s\"%s\"", ul ? "," : "", who);
			unreach = xrealloc(unreach, ul + 1);
			strcat(unreach, line);
			continue;
		}
		g.nodes++;
		grep_node(&g, who, text, tl, count);
		cl_len += (size_t)snprintf(line, sizeof(line), "%s\"%s\":%llu", cl_len ? "," : "",
					   who, (unsigned long long)count);
		counts = xrealloc(counts, cl_len + 1);
		strcat(counts, line);
		free(body);
	}
	if (json)
		printf("],\"counts\":{%s},\"total\":%llu,\"unreachable\":[%s]}\n", counts, g.total,
		       unreach);
	free(counts);
	free(unreach);
	free(m);
	return g.total ? 0 : g.failed ? 2 : 1;
}

int cli_members(struct cli *c)
{
	return members(&c->cl, c->json, RPC_MEMBERS);
}

/* This node: its member line, then what it says of itself ("key value"). */
int cli_self(struct cli *c)
{
	struct rpc_req req = {.cmd = RPC_SELF};
	struct swim_member m;
	const char *text;
	uint8_t *body;
	size_t len, tl;
	char err[256], a[32];

	if (rpc_call(&c->cl, c->cl.agent, &req, &body, &len, err, sizeof(err))) {
		fprintf(stderr, "agent: %s\n", err);
		return 1;
	}
	if (body[0] || rpc_self_decode(body + 1, len - 1, &m, &text, &tl)) {
		fprintf(stderr, "agent: malformed answer to self\n");
		free(body);
		return 1;
	}
	wire_addr_str(m.addr, a, sizeof(a));
	if (c->json)
		printf("{\"addr\":\"%s\",\"status\":\"%s\",\"incarnation\":%llu", a,
		       swim_status_names[m.status], (unsigned long long)m.incarnation);
	else
		printf("%-22s %-8s %llu\n", a, swim_status_names[m.status],
		       (unsigned long long)m.incarnation);
	if (c->json)
		cli_kv_json(text, tl, 0);
	else
		for (const char *p = text, *end = text + tl; p < end;) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
			if (memchr(p, ' ', ll))
				printf("%.*s\n", (int)ll, p);
			p += ll + 1;
		}
	if (c->json)
		printf("}\n");
	free(body);
	return 0;
}

int cli_leave(struct cli *c)
{
	return simple(&c->cl, RPC_LEAVE, 0);
}

int cli_stats(struct cli *c)
{
	return simple(&c->cl, RPC_STATS, c->json);
}

int cli_grep(struct cli *c)
{
	return grep(&c->cl, c->flags, c->json, c->arg[0]);
}
