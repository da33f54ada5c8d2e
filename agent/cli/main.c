/*
 * main.c - the agent program: the daemon (`agent run`) and its client
 * subcommands, which talk to an agent over authenticated RPC.
 */
#include "core/agent.h"
#include "cli/client.h"
#include "cli/sdfs_cli.h"
#include "core/log.h"
#include "ctl/ctl_grep.h"
#include "ctl/rpc.h"
#include "membership/swim.h"
#include "util.h"
#include "wire/wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: agent run --bind HOST:PORT [--join HOST:PORT] --data-dir DIR --key-file "
		"FILE\n"
		"                 [--config FILE] [--replicas N (SDFS, default 4)]\n"
		"       agent keygen FILE\n"
		"       agent members [--json]      the membership as this agent sees it\n"
		"       agent self                  this agent\n"
		"       agent leave                 leave the cluster (the agent then exits)\n"
		"       agent stats                 counters, rejected input by reason\n"
		"       agent grep [-c] [-E] [--] PATTERN   search every live node's log\n"
		"       agent put LOCAL NAME        store a file in SDFS (a new version)\n"
		"       agent get NAME LOCAL        fetch its newest version\n"
		"       agent get-versions NAME N LOCAL   its newest N versions, delimited\n"
		"       agent delete NAME           remove every version everywhere\n"
		"       agent ls NAME               the members holding it\n"
		"       agent store                 what this agent holds\n"
		"client options: --agent HOST:PORT (default 127.0.0.1:%d),\n"
		"                --key-file FILE (default $IDUNNO_KEY_FILE, else ./cluster.key)\n",
		AGENT_DEFAULT_PORT);
}

/* ---- client side ---- */

static int cmd_members(struct client *cl, int json, uint8_t cmd)
{
	struct swim_member *m;
	int n = client_members(cl, cmd, &m);

	if (n < 0)
		return 1;
	if (json)
		printf("[");
	else if (cmd == RPC_MEMBERS)
		printf("%-22s %-8s %s\n", "ADDR", "STATUS", "INCARNATION");
	for (int i = 0; i < n; i++) {
		char a[32];
		wire_addr_str(m[i].addr, a, sizeof(a));
		if (json)
			printf("%s{\"addr\":\"%s\",\"status\":\"%s\",\"incarnation\":%llu}",
			       i ? "," : "", a, swim_status_names[m[i].status],
			       (unsigned long long)m[i].incarnation);
		else
			printf("%-22s %-8s %llu\n", a, swim_status_names[m[i].status],
			       (unsigned long long)m[i].incarnation);
	}
	if (json)
		printf("]\n");
	free(m);
	return 0;
}

static int cmd_simple(struct client *cl, uint8_t cmd)
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

static int cmd_grep(struct client *cl, int flags, const char *pattern)
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
		size_t len;
		struct wire_rd rd;
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
		rd = (struct wire_rd){body + 1, len - 1, 0, 0};
		count = wire_get_u64(&rd);
		if (body[0]) {
			fprintf(stderr, "agent grep: %s: %s\n", who,
				len > 9 ? (char *)body + 9 : "error");
			free(body);
			free(m);
			return 2; /* a bad pattern is bad everywhere */
		}
		if (!(flags & GREP_COUNT)) {
			char *line = (char *)body + 9, *nl;
			while (*line && (nl = strchr(line, '\n'))) {
				printf("%s: %.*s\n", who, (int)(nl - line), line);
				line = nl + 1;
			}
		}
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

/* ---- the daemon ---- */

static int cmd_run(int argc, char **argv)
{
	struct agent_opts o = {0};
	const char *key_file = NULL, *config = NULL, *bind_s = NULL;
	char err[512];
	int ret;

	swim_config_default(&o.swim);
	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v) {
			fprintf(stderr, "agent run: %s needs a value\n", argv[i]);
			return 2;
		}
		if (!strcmp(argv[i], "--bind"))
			bind_s = v;
		else if (!strcmp(argv[i], "--join")) {
			if (wire_addr_parse(v, AGENT_DEFAULT_PORT, &o.join)) {
				fprintf(stderr, "agent run: --join: '%s' is not HOST:PORT\n", v);
				return 2;
			}
			o.have_join = 1;
		} else if (!strcmp(argv[i], "--data-dir"))
			o.data_dir = v;
		else if (!strcmp(argv[i], "--key-file"))
			key_file = v;
		else if (!strcmp(argv[i], "--config"))
			config = v;
		else if (!strcmp(argv[i], "--replicas")) {
			o.replicas = atoi(v);
			if (o.replicas < 1 || o.replicas > 16) {
				fprintf(stderr, "agent run: --replicas: 1 to 16, not '%s'\n", v);
				return 2;
			}
		} else {
			fprintf(stderr, "agent run: unknown option '%s'\n", argv[i]);
			return 2;
		}
		i++;
	}
	if (!o.data_dir || !key_file) {
		fprintf(stderr, "agent run: --data-dir and --key-file are required\n");
		return 2;
	}
	if (wire_addr_parse(bind_s ? bind_s : "127.0.0.1", AGENT_DEFAULT_PORT, &o.bind)) {
		fprintf(stderr, "agent run: --bind: '%s' is not HOST:PORT\n", bind_s);
		return 2;
	}
	ret = wire_key_load(key_file, &o.key);
	if (ret) {
		fprintf(stderr, "agent run: key file %s: %s\n", key_file,
			ret == -EINVAL ? "not a key (want 64 hex digits; see agent keygen)"
				       : strerror(-ret));
		return 1;
	}
	if (config && agent_config_load(config, &o, err, sizeof(err))) {
		fprintf(stderr, "agent run: %s\n", err);
		return 1;
	}
	if (mkdir(o.data_dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "agent run: %s: %s\n", o.data_dir, strerror(errno));
		return 1;
	}
	ret = agent_run(&o, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "agent run: %s\n", err);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct client cl = {0};
	const char *agent_s = "127.0.0.1", *key_file = getenv("IDUNNO_KEY_FILE");
	int json = 0, flags = 0, ret;
	const char *cmd;
	char *args[8];
	int nargs = 0;

	if (sodium_init() < 0) {
		fprintf(stderr, "agent: libsodium failed to start\n");
		return 1;
	}
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	cmd = argv[1];
	if (!strcmp(cmd, "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "keygen")) {
		if (argc != 3) {
			fprintf(stderr, "usage: agent keygen FILE\n");
			return 2;
		}
		ret = wire_key_generate(argv[2]);
		if (ret) {
			fprintf(stderr, "agent keygen: %s: %s\n", argv[2],
				ret == -EEXIST ? "exists (not overwritten)" : strerror(-ret));
			return 1;
		}
		printf("wrote a new cluster key to %s\n", argv[2]);
		return 0;
	}
	for (int i = 2, opts = 1; i < argc; i++) {
		if (opts && !strcmp(argv[i], "--")) {
			opts = 0; /* the rest are arguments, e.g. a pattern starting with '-' */
			continue;
		}
		if (!opts && nargs < (int)ARRAY_SIZE(args))
			args[nargs++] = argv[i];
		else if (!opts) {
			usage(stderr);
			return 2;
		} else if (!strcmp(argv[i], "--agent") && i + 1 < argc)
			agent_s = argv[++i];
		else if (!strcmp(argv[i], "--key-file") && i + 1 < argc)
			key_file = argv[++i];
		else if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "-c"))
			flags |= GREP_COUNT;
		else if (!strcmp(argv[i], "-E"))
			flags |= GREP_EXTENDED;
		else if (nargs < (int)ARRAY_SIZE(args))
			args[nargs++] = argv[i];
		else {
			usage(stderr);
			return 2;
		}
	}
	if (wire_addr_parse(agent_s, AGENT_DEFAULT_PORT, &cl.agent)) {
		fprintf(stderr, "agent: --agent: '%s' is not HOST:PORT\n", agent_s);
		return 2;
	}
	if (!key_file)
		key_file = "cluster.key";
	ret = wire_key_load(key_file, &cl.key);
	if (ret) {
		fprintf(stderr, "agent: key file %s: %s\n", key_file,
			ret == -EINVAL ? "not a key" : strerror(-ret));
		return 1;
	}
	client_init(&cl, cl.agent, &cl.key);
	if (!strcmp(cmd, "members") && nargs == 0)
		return cmd_members(&cl, json, RPC_MEMBERS);
	if (!strcmp(cmd, "self") && nargs == 0)
		return cmd_members(&cl, json, RPC_SELF);
	if (!strcmp(cmd, "leave") && nargs == 0)
		return cmd_simple(&cl, RPC_LEAVE);
	if (!strcmp(cmd, "stats") && nargs == 0)
		return cmd_simple(&cl, RPC_STATS);
	if (!strcmp(cmd, "grep") && nargs == 1)
		return cmd_grep(&cl, flags, args[0]);
	if (!strcmp(cmd, "put") && nargs == 2)
		return sdfs_put(&cl, args[0], args[1]);
	if (!strcmp(cmd, "get") && nargs == 2)
		return sdfs_get(&cl, args[0], args[1]);
	if (!strcmp(cmd, "get-versions") && nargs == 3)
		return sdfs_get_versions(&cl, args[0], args[1], args[2]);
	if (!strcmp(cmd, "delete") && nargs == 1)
		return sdfs_delete(&cl, args[0]);
	if (!strcmp(cmd, "ls") && nargs == 1)
		return sdfs_ls(&cl, args[0]);
	if (!strcmp(cmd, "store") && nargs == 0)
		return sdfs_store(&cl);
	fprintf(stderr, "agent: unknown command or wrong arguments: %s\n", cmd);
	usage(stderr);
	return 2;
}
