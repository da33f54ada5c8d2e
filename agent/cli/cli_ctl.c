/*
 * cli_ctl.c - the membership and control subcommands: members, self,
 * leave, stats and grep (which asks every live member and merges).
 */
#include "cli/cli.h"
#include "ctl/ctl_grep.h"
#include "ctl/rpc.h"
#include "membership/swim.h"
#include "util.h"
#include "wire/wire.h"

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

static int simple(struct client *cl, uint8_t cmd)
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

	printf("%s%s", (char *)body + 1, len > 1 && body[len - 1] == '\n' ? "" : "\n");
	free(body);
	return status ? 1 : 0;
}

static int grep(struct client *cl, int flags, const char *pattern)
{
	struct swim_member *m;
	struct rpc_req req = {.cmd = RPC_GREP, .flags = (uint8_t)flags};
	unsigned long long total = 0;
	int n, failed = 0, asked = 0;

	if (strlen(pattern) >= sizeof(req.arg)) {
		fprintf(stderr, "agent grep: pattern longer than %zu bytes\n", sizeof(req.arg) - 1);
		return 2;
	}
	n = client_members(cl, RPC_MEMBERS, &m);
	if (n < 0)
		return 1;
	req.arglen = (uint16_t)strlen(pattern);
	memcpy(req.arg, pattern, req.arglen + 1);
	for (int i = 0; i < n; i++) {
		char who[32], err[256];
		uint8_t *body;
		size_t len, tl;
		const char *text;
		uint8_t status;
		uint64_t count;
		if (m[i].status != SWIM_ALIVE && m[i].status != SWIM_SUSPECT)
			continue;
		asked++;
		wire_addr_str(m[i].addr, who, sizeof(who));
		if (rpc_call(cl, m[i].addr, &req, &body, &len, err, sizeof(err))) {
			fprintf(stderr, "agent grep: %s\n", err);
			failed++;
			continue;
		}
		if (rpc_grep_decode(body, len, &status, &count, &text, &tl)) {
			fprintf(stderr, "agent grep: %s: a malformed answer\n", who);
			failed++;
			free(body);
			continue;
		}
		if (status) {
			fprintf(stderr, "agent grep: %s: %.*s\n", who, (int)tl,
				tl ? text : "error");
			free(body);
			free(m);
			return 2; /* a bad pattern is bad everywhere */
		}
		for (const char *line = text, *end = text + tl, *nl;
		     !(flags & GREP_COUNT) && line < end &&
		     (nl = memchr(line, '\n', (size_t)(end - line)));
		     line = nl + 1)
			printf("%s: %.*s\n", who, (int)(nl - line), line);
		printf("%s: %llu matching line%s\n", who, (unsigned long long)count,
		       count == 1 ? "" : "s");
		total += count;
		free(body);
	}
	printf("total: %llu matching line%s on %d node%s%s\n", total, total == 1 ? "" : "s",
	       asked - failed, asked - failed == 1 ? "" : "s", failed ? " (some unreachable)" : "");
	free(m);
	return failed ? 1 : 0;
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
	for (const char *p = text, *end = text + tl; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *sp;
		size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
		sp = memchr(p, ' ', ll);
		if (sp && c->json) /* values are words or numbers: numbers stay numbers */
			printf(strspn(sp + 1, "0123456789") == ll - (size_t)(sp + 1 - p)
				       ? ",\"%.*s\":%.*s"
				       : ",\"%.*s\":\"%.*s\"",
			       (int)(sp - p), p, (int)(ll - (size_t)(sp + 1 - p)), sp + 1);
		else if (sp)
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
	return simple(&c->cl, RPC_LEAVE);
}

int cli_stats(struct cli *c)
{
	return simple(&c->cl, RPC_STATS);
}

int cli_grep(struct cli *c)
{
	return grep(&c->cl, c->flags, c->arg[0]);
}
