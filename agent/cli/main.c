/*
 * main.c - the agent program: the daemon (`agent run`) and its client
 * subcommands, which talk to an agent over authenticated RPC.  One table
 * below names every subcommand, its argument count and its handler.
 */
#include "cli/cli.h"
#include "cli/sdfs_cli.h"
#include "core/agent.h"
#include "ctl/ctl_grep.h"
#include "util.h"
#include "wire/wire.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: agent run --bind HOST:PORT [--join HOST:PORT] --data-dir DIR --key-file "
		"FILE\n"
		"                 [--config FILE] [--replicas N (SDFS, default 4)]\n"
		"                 [--engine PATH (default: beside agent)] [--engine-threads N]\n"
		"                 [--no-engine (store and coordinate only)]\n"
		"                 [--no-coordinator (never take the role: tests with a stand-in)]\n"
		"                 [--metrics HOST:PORT (serve Prometheus /metrics there)]\n"
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
		"       agent ls PREFIX/            the files under PREFIX/, cluster-wide\n"
		"       agent store                 what this agent holds\n"
		"       agent model put NAME FILE   check a weights file (engine check), store it\n"
		"       agent model ls              the models in SDFS\n"
		"       agent dataset put NAME DIR-OR-FILES...   pack JPEGs into shards in SDFS\n"
		"       agent dataset ls [NAME]     the datasets, or one dataset's images\n"
		"       agent job launch MODEL --dataset NAME [--batch N (default 4)] [--weight "
		"W]\n"
		"                 [--loop | --client-only]   start a job over a dataset (or only\n"
		"                                   the queries submitted to it); prints its id\n"
		"       agent job ls | job stop JOB | job batch JOB N   the jobs; stop one; its "
		"batch\n"
		"       agent qinfo [JOB]           query rate over the last 10 s, queries "
		"processed\n"
		"       agent qjob JOB              service time per query: mean, std, median, "
		"p90/95/99\n"
		"       agent assign                which workers serve which job, with shares\n"
		"       agent results JOB [LOCAL]   the job's results, each query once\n"
		"       agent submit JOB IMAGE... [--client ID]   submit queries, print their "
		"results\n"
		"       (every command also --json; any agent forwards to the coordinator)\n"
		"client options: --agent HOST:PORT (default 127.0.0.1:%d),\n"
		"                --key-file FILE (default $IDUNNO_KEY_FILE, else ./cluster.key)\n",
		AGENT_DEFAULT_PORT);
}

/* ---- the subcommand table ---- */

static int put(struct cli *c)
{
	return sdfs_put(&c->cl, c->arg[0], c->arg[1]);
}

static int get(struct cli *c)
{
	return sdfs_get(&c->cl, c->arg[0], c->arg[1]);
}

static int get_versions(struct cli *c)
{
	return sdfs_get_versions(&c->cl, c->arg[0], c->arg[1], c->arg[2]);
}

static int delete (struct cli *c)
{
	return sdfs_delete(&c->cl, c->arg[0]);
}

static int ls(struct cli *c)
{
	return sdfs_ls(&c->cl, c->arg[0]);
}

static int store(struct cli *c)
{
	return sdfs_store(&c->cl);
}

static const struct {
	const char *name;
	int nargs;
	int more; /* takes more arguments than nargs too */
	int (*fn)(struct cli *c);
} commands[] = {
	{"members", 0, 0, cli_members},
	{"self", 0, 0, cli_self},
	{"leave", 0, 0, cli_leave},
	{"stats", 0, 0, cli_stats},
	{"grep", 1, 0, cli_grep},
	{"put", 2, 0, put},
	{"get", 2, 0, get},
	{"get-versions", 3, 0, get_versions},
	{"delete", 1, 0, delete},
	{"ls", 1, 0, ls},
	{"store", 0, 0, store},
	{"model", 1, 1, cli_model},
	{"dataset", 1, 1, cli_dataset},
	{"job", 1, 1, cli_job},
	{"qinfo", 0, 1, cli_qinfo},
	{"qjob", 1, 0, cli_qjob},
	{"assign", 0, 0, cli_assign},
	{"results", 1, 1, cli_results},
	{"submit", 2, 1, cli_submit},
};

static int keygen(int argc, char **argv)
{
	int ret;

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

int main(int argc, char **argv)
{
	struct cli c = {0};
	const char *agent_s = "127.0.0.1", *key_file = getenv("IDUNNO_KEY_FILE");
	const char *cmd;
	char **args;
	int ret;

	if (sodium_init() < 0) {
		fprintf(stderr, "agent: libsodium failed to start\n");
		return 1;
	}
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	cmd = argv[1];
	if (!strcmp(cmd, "__grep-local") && argc == 5) /* the agent's own grep child */
		return ctl_grep_child(argv[2], argv[3], argv[4]);
	if (!strcmp(cmd, "run"))
		return cli_run(argc - 1, argv + 1);
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "keygen"))
		return keygen(argc, argv);
	c.arg = args = xcalloc((size_t)argc, sizeof(*args));
	for (int i = 2, opts = 1; i < argc; i++) {
		if (opts && !strcmp(argv[i], "--")) {
			opts = 0; /* the rest are arguments, e.g. a pattern starting with '-' */
			continue;
		}
		if (!opts)
			args[c.nargs++] = argv[i];
		else if (!strcmp(argv[i], "--agent") && i + 1 < argc)
			agent_s = argv[++i];
		else if (!strcmp(argv[i], "--key-file") && i + 1 < argc)
			key_file = argv[++i];
		else if (!strcmp(argv[i], "--json"))
			c.json = 1;
		else if (!strcmp(argv[i], "-c"))
			c.flags |= GREP_COUNT;
		else if (!strcmp(argv[i], "-E"))
			c.flags |= GREP_EXTENDED;
		else
			args[c.nargs++] = argv[i];
	}
	if (wire_addr_parse(agent_s, AGENT_DEFAULT_PORT, &c.cl.agent)) {
		fprintf(stderr, "agent: --agent: '%s' is not HOST:PORT\n", agent_s);
		ret = 2;
		goto out;
	}
	if (!key_file)
		key_file = "cluster.key";
	ret = wire_key_load(key_file, &c.cl.key);
	if (ret) {
		fprintf(stderr, "agent: key file %s: %s\n", key_file,
			ret == -EINVAL ? "not a key" : strerror(-ret));
		ret = 1;
		goto out;
	}
	client_init(&c.cl, c.cl.agent, &c.cl.key);
	ret = -1;
	for (size_t i = 0; i < ARRAY_SIZE(commands) && ret < 0; i++)
		if (!strcmp(cmd, commands[i].name) &&
		    (c.nargs == commands[i].nargs ||
		     (commands[i].more && c.nargs > commands[i].nargs)))
			ret = commands[i].fn(&c);
	if (ret < 0) {
		fprintf(stderr, "agent: unknown command or wrong arguments: %s\n", cmd);
		usage(stderr);
		ret = 2;
	}
out:
	free(args);
	return ret;
}
