/*
 * cli_cmds.c - the agent program's subcommand table: each subcommand's
 * arguments, the options it accepts, its help and its handler (cli.h);
 * the overall usage and the per-subcommand help printed from it.
 */
#include "cli/cli.h"
#include "util.h"
#include "wire/wire.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define C  OPT_CONN
#define CJ (OPT_CONN | OPT_JSON)

const struct cli_cmd cli_cmds[] = {
	{"run", "--data-dir DIR --key-file FILE [OPTIONS]", 0, 0, 0,
	 "run the agent (this node's daemon)",
	 "options:\n"
	 "  --bind HOST:PORT      the address to serve (UDP and TCP; default 127.0.0.1:7600;\n"
	 "                        HOST an IPv4 address or a host name, resolved at start)\n"
	 "  --advertise HOST[:PORT]  the address the other members reach this one by:\n"
	 "                        its member id (default: --bind; required with 0.0.0.0;\n"
	 "                        the port defaults to --bind's)\n"
	 "  --join HOST:PORT      a member to join through; repeat it (or give A,B,...) for\n"
	 "                        several: they are tried in turn until one answers\n"
	 "  --data-dir DIR        this node's folder (created, mode 0700); required\n"
	 "  --key-file FILE       the cluster key (agent keygen); required\n"
	 "  --config FILE         name = value settings (docs/agent.md)\n"
	 "  --replicas N          SDFS replicas per file, 1 to 16 (default 4)\n"
	 "  --engine PATH         the engine binary (default: bin/engine beside agent)\n"
	 "  --engine-threads N    its compute threads, 1 to 256 (default 1)\n"
	 "  --no-engine           run no engine: store and coordinate only\n"
	 "  --no-coordinator      never take the coordinator's role (tests)\n"
	 "  --metrics HOST:PORT   serve Prometheus /metrics there (docs/agent.md)\n",
	 "agent run --bind 10.0.0.2:7600 --join 10.0.0.1:7600 --join 10.0.0.3:7600 \\\n"
	 "            --data-dir /var/lib/idunno --key-file /etc/idunno/cluster.key",
	 NULL},
	{"keygen", "FILE", 1, 1, 0, "write a new cluster key (mode 0600; never overwrites)", NULL,
	 "agent keygen cluster.key", NULL},
	{"members", "", 0, 0, CJ, "the membership as this agent sees it",
	 "columns ADDR STATUS ROLE EPOCH INCARNATION; --json: a list of\n"
	 "{addr, status, role, epoch, incarnation}\n",
	 "agent members --agent 10.0.0.1:7600", cli_members},
	{"self", "", 0, 0, CJ, "this agent: its member line, then what it says of itself",
	 "--json: one object {addr, status, incarnation, and every key it reports}\n",
	 "agent self --json", cli_self},
	{"leave", "", 0, 0, C, "leave the cluster (the agent then exits)", NULL, "agent leave",
	 cli_leave},
	{"stats", "", 0, 0, CJ, "the agent's counters (rejected input by reason, ...)",
	 "lines \"name value\"; --json: one object {name: value}\n", "agent stats --json",
	 cli_stats},
	{"grep", "PATTERN", 1, 1, CJ | OPT_GREP, "search every live node's log",
	 "prints matching lines as \"NODE: LINE\"; exit 0 when a line matched, 1 when\n"
	 "nothing matched on any node, 2 for a bad pattern (or a node not searched\n"
	 "and nothing matched elsewhere).  A PATTERN starting with - goes after --.\n"
	 "options:\n"
	 "  -c          print only each node's count, \"NODE: COUNT\"\n"
	 "  -E          POSIX extended regular expressions (default: basic)\n"
	 "  -i          ignore case\n"
	 "  --json      {pattern, matches: [{node, line}], counts: {NODE: n}, total,\n"
	 "              unreachable: [NODE]}\n",
	 "agent grep -i -E 'failed|suspect'", cli_grep},
	{"put", "LOCAL NAME", 2, 2, CJ, "store a file in SDFS as a new version of NAME",
	 "--json: {name, version, bytes, replicas: [ADDR]}\n",
	 "agent put weights.bin models/x.safetensors", cli_put},
	{"get", "NAME LOCAL", 2, 2, CJ | OPT_FORCE, "fetch the newest version of NAME",
	 "LOCAL - writes the file to standard output.\n"
	 "options:\n"
	 "  --force     overwrite LOCAL if it exists (refused otherwise)\n"
	 "  --json      {name, version, bytes, local} (not with LOCAL -)\n",
	 "agent get models/x.safetensors - | sha256sum", cli_get},
	{"get-versions", "NAME N LOCAL", 3, 3, CJ | OPT_FORCE,
	 "fetch the newest N versions of NAME, each after a delimiter line",
	 "each version is preceded by \"==> NAME version V (SIZE bytes) <==\" and\n"
	 "followed by a newline.  LOCAL - writes to standard output.\n"
	 "options:\n"
	 "  --force     overwrite LOCAL if it exists\n"
	 "  --json      {name, versions: [V], local} (not with LOCAL -)\n",
	 "agent get-versions notes.txt 3 -", cli_get_versions},
	{"delete", "NAME", 1, 1, CJ, "remove every version of NAME everywhere",
	 "--json: {name, upto, members, unreachable}\n", "agent delete tmp/x", cli_delete},
	{"ls", "[PREFIX]", 0, 1, CJ, "the files in SDFS (under PREFIX)",
	 "columns VERSION VERSIONS REPLICAS BYTES NAME: the newest version, how many\n"
	 "versions are kept, how many live members hold the newest one, its size.\n"
	 "--json: a list of {name, version, versions, replicas, bytes}\n",
	 "agent ls datasets/", cli_ls},
	{"holders", "NAME", 1, 1, CJ, "the live members holding NAME, in its rank order",
	 "columns ADDR VERSIONS NEWEST; --json: a list of {addr, versions, newest}\n",
	 "agent holders models/x.safetensors", cli_holders},
	{"store", "", 0, 0, CJ, "what this agent holds, every version",
	 "lines \"NAME version V N bytes\"; --json: a list of {name, version, bytes}\n",
	 "agent store --agent 10.0.0.3:7600", cli_store},
	{"fsck", "[PREFIX]", 0, 1, CJ,
	 "SDFS health: under-replicated files, corrupt replicas found",
	 "lists every file (under PREFIX) whose newest version is on fewer live members\n"
	 "than the agent's replication factor (at most the live members), and each\n"
	 "agent's corrupt replicas found (and repaired) since it started; a summary\n"
	 "line and \"status: HEALTHY\" or \"status: UNDER-REPLICATED\".  Exit 0 healthy,\n"
	 "1 under-replicated.\n"
	 "--json: {prefix, replicas, live, under_replicated: [{name, version, replicas}],\n"
	 "corrupt_found: {NODE: n}, files, bytes, healthy, status}\n",
	 "agent fsck models/", cli_fsck},
	{"model put", "NAME FILE", 2, 2, CJ, "check a weights file (engine check), store it", NULL,
	 "agent model put resnet18 models/resnet18.safetensors", cli_model},
	{"model ls", "", 0, 0, CJ, "the models in SDFS", NULL, "agent model ls", cli_model},
	{"dataset put", "NAME DIR-OR-FILES...", 2, -1, CJ, "pack JPEGs into shards in SDFS", NULL,
	 "agent dataset put val ./images", cli_dataset},
	{"dataset ls", "[NAME]", 0, 1, CJ, "the datasets, or one dataset's shards and images", NULL,
	 "agent dataset ls val --json", cli_dataset},
	{"job launch", "MODEL", 1, 1, CJ | OPT_LAUNCH, "start a job; prints its id",
	 "options:\n"
	 "  --dataset NAME   the dataset to classify (required)\n"
	 "  --batch N        queries per batch (default 4)\n"
	 "  --weight W       its share against other jobs, in (0, 1000] (default 1)\n"
	 "  --loop           go over the dataset again and again\n"
	 "  --client-only    only the queries submitted to it (agent submit)\n"
	 "  --json           {job}\n",
	 "agent job launch resnet18 --dataset val --batch 8", cli_job},
	{"job ls", "", 0, 0, CJ, "the jobs", NULL, "agent job ls --json", cli_job},
	{"job stop", "JOB", 1, 1, CJ, "stop a job", NULL, "agent job stop j1", cli_job},
	{"job batch", "JOB N", 2, 2, CJ, "set a job's batch size", NULL, "agent job batch j1 16",
	 cli_job},
	{"qinfo", "[JOB]", 0, 1, CJ, "query rate over the last 10 s, queries processed", NULL,
	 "agent qinfo j1", cli_qinfo},
	{"qjob", "JOB", 1, 1, CJ, "service time per query: mean, std, median, p90/95/99",
	 "--json: {job, model, source, queries_bpf, queries_ring, answered, failed, count,\n"
	 "mean_ms, std_ms, median_ms, p90_ms, p95_ms, p99_ms}\n",
	 "agent qjob j1 --json", cli_qjob},
	{"assign", "", 0, 0, CJ, "which workers serve which job, with shares", NULL, "agent assign",
	 cli_assign},
	{"results", "JOB [LOCAL]", 1, 2, CJ, "the job's results, each query once",
	 "--json: one JSON object per line {query, image, worker, status, service_ms,\n"
	 "top5: [{class, name, prob}]}\n",
	 "agent results j1 --json", cli_results},
	{"submit", "JOB IMAGE...", 2, -1, CJ | OPT_SUBMIT,
	 "submit queries to a job, print their results as they come",
	 "options:\n"
	 "  --client ID   this submitter's id (a number above 0): the same id and\n"
	 "                images again are answered without running again\n"
	 "  --json        one JSON object per line (docs/tasks.md)\n",
	 "agent submit j1 a.jpg b.jpg --client 42", cli_submit},
};
const int cli_ncmds = (int)ARRAY_SIZE(cli_cmds);

void cli_usage(FILE *f, int port)
{
	fprintf(f, "usage: agent SUBCOMMAND [OPTIONS] [ARGUMENTS]\n"
		   "       agent SUBCOMMAND --help     its usage, options and an example\n"
		   "       agent --version\n\nsubcommands:\n");
	for (int i = 0; i < cli_ncmds; i++) {
		char head[64];
		snprintf(head, sizeof(head), "%s %s", cli_cmds[i].name, cli_cmds[i].args);
		fprintf(f, "  %-34s %s\n", head, cli_cmds[i].summary);
	}
	fprintf(f,
		"\nclient options (every subcommand but run and keygen):\n"
		"  --agent HOST:PORT   the agent to ask (default $IDUNNO_AGENT, else "
		"127.0.0.1:%d)\n"
		"  --key-file FILE     the cluster key (default $IDUNNO_KEY_FILE, else "
		"./cluster.key)\n"
		"  --json              machine-readable output (docs/cli.md)\n"
		"exit codes: 0 ok, 1 failed (grep: nothing matched), 2 bad usage, 3 the agent\n"
		"did not answer, 4 not found\n",
		port);
}

void cli_help(FILE *f, const struct cli_cmd *cmd, int port)
{
	fprintf(f, "usage: agent %s%s%s%s%s\n\n%s\n", cmd->name, *cmd->args ? " " : "", cmd->args,
		cmd->opts & OPT_JSON ? " [--json]" : "",
		cmd->opts & OPT_CONN ? " [--agent HOST:PORT] [--key-file FILE]" : "", cmd->summary);
	if (cmd->help)
		fprintf(f, "\n%s", cmd->help);
	if (cmd->opts & OPT_CONN)
		fprintf(f,
			"\nclient options: --agent HOST:PORT (default $IDUNNO_AGENT, else "
			"127.0.0.1:%d),\n"
			"  --key-file FILE (default $IDUNNO_KEY_FILE, else ./cluster.key)\n",
			port);
	fprintf(f, "\nexample:\n  %s\n", cmd->example);
}

int cli_key_load(const char *cmd, const char *path, struct wire_key *key)
{
	struct stat st;
	int ret = wire_key_load(path, key);

	if (ret) {
		fprintf(stderr, "agent%s%s: key file %s: %s\n", *cmd ? " " : "", cmd, path,
			ret == -EINVAL ? "not a key (want 64 hex digits; see agent keygen)"
				       : strerror(-ret));
		return 1;
	}
	if (stat(path, &st) == 0 && (st.st_mode & 077))
		fprintf(stderr,
			"agent%s%s: warning: key file %s can be read by %s (mode %04o); "
			"chmod 600 %s\n",
			*cmd ? " " : "", cmd, path, st.st_mode & 007 ? "others" : "its group",
			(unsigned)(st.st_mode & 07777), path);
	return 0;
}
