/*
 * main.c - the agent program: the daemon (`agent run`) and its client
 * subcommands, which talk to an agent over authenticated RPC.  The command
 * line is parsed against the subcommand table (cli_cmds.c): help and the
 * version before anything else is read, every option checked to exist and
 * to apply to the subcommand, the arguments counted; then the key is read
 * and the handler runs.
 */
#include "cli/cli.h"
#include "cli/resolve.h"
#include "core/agent.h"
#include "ctl/ctl_grep.h"
#include "util.h"
#include "wire/wire.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The options any subcommand may accept; pass: handed to the handler
 * among its arguments (after the positional ones), with its value. */
static const struct opt {
	const char *name;
	int value;
	unsigned set; /* the OPT_* a subcommand needs to accept it */
	int pass;
} options[] = {
	{"--agent", 1, OPT_CONN, 0},	{"--key-file", 1, OPT_CONN, 0},
	{"--json", 0, OPT_JSON, 0},	{"-c", 0, OPT_GREP, 0},
	{"-E", 0, OPT_GREP, 0},		{"-i", 0, OPT_GREP, 0},
	{"--force", 0, OPT_FORCE, 0},	{"--dataset", 1, OPT_LAUNCH, 1},
	{"--batch", 1, OPT_LAUNCH, 1},	{"--weight", 1, OPT_LAUNCH, 1},
	{"--loop", 0, OPT_LAUNCH, 1},	{"--client-only", 0, OPT_LAUNCH, 1},
	{"--client", 1, OPT_SUBMIT, 1},
};

struct parsed {
	const char *agent, *key_file;
	char **pass; /* pass-through options and values */
	int npass;
};

static const struct cli_cmd *find_cmd(const char *name)
{
	for (int i = 0; i < cli_ncmds; i++)
		if (!strcmp(cli_cmds[i].name, name))
			return &cli_cmds[i];
	return NULL;
}

/* A group (job, model, dataset): its verbs, for its help or an error (f
 * NULL: only counted).  Returns how many. */
static int group_help(FILE *f, const char *group)
{
	size_t gl = strlen(group);
	int n = 0;

	for (int i = 0; i < cli_ncmds; i++)
		if (!strncmp(cli_cmds[i].name, group, gl) && cli_cmds[i].name[gl] == ' ') {
			if (!f) {
				n++;
				continue;
			}
			if (!n++)
				fprintf(f, "usage:\n");
			fprintf(f, "  agent %s %s\n      %s\n", cli_cmds[i].name, cli_cmds[i].args,
				cli_cmds[i].summary);
		}
	if (n && f)
		fprintf(f, "(agent %s VERB --help for a verb's options)\n", group);
	return n;
}

/* The argument names after the first `have` of args ("NAME N LOCAL", 1: "N LOCAL"). */
static const char *missing(const char *args, int have)
{
	const char *p = args;

	for (int i = 0; i < have && p; i++)
		if ((p = strchr(p, ' ')))
			p++;
	return p && *p ? p : args;
}

/* A short-option cluster ("-ci"): every letter one of cmd's flags. */
static int short_cluster(const char *a, unsigned opts)
{
	if (a[0] != '-' || a[1] == '-' || strlen(a) < 3 || !(opts & OPT_GREP))
		return 0;
	return strspn(a + 1, "cEi") == strlen(a + 1);
}

static void set_flag(struct cli *c, char f)
{
	c->flags |= f == 'c' ? GREP_COUNT : f == 'E' ? GREP_EXTENDED : GREP_ICASE;
}

static int is_option(const char *a)
{
	return a[0] == '-' && a[1] != '\0'; /* "-" alone is an argument: stdout */
}

/*
 * Parses argv[2..] as cmd's (argv[verb], a group's verb, left out):
 * options into c and p, the arguments into c->arg (which holds the verb
 * already).  Returns -1 to go on,
 * or the exit code (0 after --help).
 */
static int parse(const struct cli_cmd *cmd, int argc, char **argv, int verb, struct cli *c,
		 struct parsed *p)
{
	int opts = 1, npos = 0;

	for (int i = 2; i < argc; i++)
		if (opts && (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))) {
			cli_help(stdout, cmd, AGENT_DEFAULT_PORT);
			return 0;
		} else if (opts && !strcmp(argv[i], "--")) {
			opts = 0;
		}
	opts = 1;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *eq, *val = NULL;
		const struct opt *o = NULL;
		size_t nl;
		if (i == verb)
			continue;
		if (opts && !strcmp(a, "--")) {
			opts = 0;
			continue;
		}
		if (!opts || !is_option(a)) {
			c->arg[c->nargs++] = argv[i];
			npos++;
			continue;
		}
		if (short_cluster(a, cmd->opts)) {
			for (const char *f = a + 1; *f; f++)
				set_flag(c, *f);
			continue;
		}
		eq = strchr(a, '=');
		nl = eq && a[1] == '-' ? (size_t)(eq - a) : strlen(a);
		for (size_t k = 0; k < ARRAY_SIZE(options) && !o; k++)
			if (strlen(options[k].name) == nl && !strncmp(options[k].name, a, nl))
				o = &options[k];
		if (!o) {
			fprintf(stderr, "agent %s: unknown option '%.*s' (agent %s --help)\n",
				cmd->name, (int)nl, a, cmd->name);
			return CLI_USAGE;
		}
		if (!(o->set & cmd->opts)) {
			fprintf(stderr, "agent %s: option %s does not apply to %s\n", cmd->name,
				o->name, cmd->name);
			return CLI_USAGE;
		}
		if (o->value) {
			val = eq && a[1] == '-' ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
			if (!val || !*val) {
				fprintf(stderr, "agent %s: option %s needs a value\n", cmd->name,
					o->name);
				return CLI_USAGE;
			}
		} else if (eq && a[1] == '-') {
			fprintf(stderr, "agent %s: option %s takes no value\n", cmd->name, o->name);
			return CLI_USAGE;
		}
		if (o->pass) {
			p->pass[p->npass++] = (char *)o->name;
			if (val)
				p->pass[p->npass++] = (char *)val;
		} else if (!strcmp(o->name, "--agent")) {
			p->agent = val;
		} else if (!strcmp(o->name, "--key-file")) {
			p->key_file = val;
		} else if (!strcmp(o->name, "--json")) {
			c->json = 1;
		} else if (!strcmp(o->name, "--force")) {
			c->force = 1;
		} else {
			set_flag(c, o->name[1]);
		}
	}
	if (npos < cmd->min || (cmd->max >= 0 && npos > cmd->max)) {
		if (npos < cmd->min)
			fprintf(stderr, "agent %s: missing %s: usage: agent %s %s\n", cmd->name,
				missing(cmd->args, npos), cmd->name, cmd->args);
		else
			fprintf(stderr, "agent %s: unexpected argument '%s': usage: agent %s %s\n",
				cmd->name, c->arg[c->nargs - (npos - cmd->max)], cmd->name,
				cmd->args);
		return CLI_USAGE;
	}
	for (int k = 0; k < p->npass; k++)
		c->arg[c->nargs++] = p->pass[k];
	return -1;
}

static int wants_help(int argc, char **argv)
{
	for (int i = 2; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return 1;
	return 0;
}

/* A group's verb: the first argument that is not an option or an
 * option's value (`agent job --agent A ls`).  Its index, or 0. */
static int find_verb(int argc, char **argv)
{
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			return i + 1 < argc ? i + 1 : 0;
		if (!is_option(argv[i]))
			return i;
		for (size_t k = 0; k < ARRAY_SIZE(options); k++)
			if (!strcmp(options[k].name, argv[i]) && options[k].value)
				i++;
	}
	return 0;
}

static int keygen(const char *path)
{
	int ret = wire_key_generate(path);

	if (ret) {
		fprintf(stderr, "agent keygen: %s: %s\n", path,
			ret == -EEXIST ? "exists (not overwritten)" : strerror(-ret));
		return CLI_FAILED;
	}
	printf("wrote a new cluster key to %s\n", path);
	return CLI_OK;
}

/* The agent to ask and the key; then the handler. */
static int run_client(const struct cli_cmd *cmd, struct cli *c, const struct parsed *p)
{
	const char *env = getenv("IDUNNO_AGENT"), *agent_s = p->agent, *key_file = p->key_file;
	char err[320];
	int ret;

	if (!agent_s)
		agent_s = env && *env ? env : "127.0.0.1";
	ret = addr_resolve(agent_s, AGENT_DEFAULT_PORT, &c->cl.agent, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "agent %s: %s: %s\n", cmd->name,
			p->agent ? "--agent" : "$IDUNNO_AGENT", err);
		/* a name that does not resolve: the agent cannot be reached */
		return ret == -ENOENT ? CLI_UNREACHABLE : CLI_USAGE;
	}
	if (!key_file)
		key_file = getenv("IDUNNO_KEY_FILE");
	if (!key_file || !*key_file)
		key_file = "cluster.key";
	if (cli_key_load(cmd->name, key_file, &c->cl.key))
		return CLI_FAILED;
	client_init(&c->cl, c->cl.agent, &c->cl.key);
	ret = cmd->fn(c);
	if (ret == CLI_FAILED && c->cl.agent_failed)
		ret = CLI_UNREACHABLE;
	return ret;
}

int main(int argc, char **argv)
{
	struct cli c = {0};
	struct parsed p = {0};
	const struct cli_cmd *cmd;
	char name[64];
	int ret, verb;

	if (argc < 2) {
		cli_usage(stderr, AGENT_DEFAULT_PORT);
		return CLI_USAGE;
	}
	if (!strcmp(argv[1], "__grep-local") && argc == 5) /* the agent's own grep child */
		return ctl_grep_child(argv[2], argv[3], argv[4]);
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		if (argc < 3) {
			cli_usage(stdout, AGENT_DEFAULT_PORT);
		} else if ((cmd = find_cmd(argv[2]))) {
			cli_help(stdout, cmd, AGENT_DEFAULT_PORT);
		} else if (!group_help(stdout, argv[2])) {
			fprintf(stderr, "agent: unknown subcommand '%s' (agent --help)\n", argv[2]);
			return CLI_USAGE;
		}
		return CLI_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("agent (IDunno) %s\n", IDUNNO_VERSION);
		return CLI_OK;
	}
	cmd = find_cmd(argv[1]);
	verb = cmd ? 0 : find_verb(argc, argv);
	if (!cmd && verb) { /* a verb of a group */
		snprintf(name, sizeof(name), "%s %s", argv[1], argv[verb]);
		cmd = find_cmd(name);
	}
	if (!cmd) {
		if (is_option(argv[1])) {
			fprintf(stderr, "agent: unknown option '%s' (agent --help)\n", argv[1]);
		} else if (!group_help(NULL, argv[1])) {
			fprintf(stderr, "agent: unknown subcommand '%s' (agent --help)\n", argv[1]);
		} else if (!verb && wants_help(argc, argv)) {
			group_help(stdout, argv[1]);
			return CLI_OK;
		} else {
			group_help(stderr, argv[1]);
			if (!verb)
				fprintf(stderr, "agent %s: a verb is needed\n", argv[1]);
			else
				fprintf(stderr, "agent %s: unknown verb '%s'\n", argv[1],
					argv[verb]);
		}
		return CLI_USAGE;
	}
	if (!strcmp(cmd->name, "run")) {
		for (int i = 2; i < argc; i++)
			if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
				cli_help(stdout, cmd, AGENT_DEFAULT_PORT);
				return CLI_OK;
			}
		if (sodium_init() < 0) {
			fprintf(stderr, "agent: libsodium failed to start\n");
			return CLI_FAILED;
		}
		return cli_run(argc - 1, argv + 1);
	}
	c.arg = xcalloc((size_t)argc + 1, sizeof(*c.arg));
	p.pass = xcalloc((size_t)argc + 1, sizeof(*p.pass));
	if (verb) /* the handlers of a group take the verb first */
		c.arg[c.nargs++] = argv[verb];
	ret = parse(cmd, argc, argv, verb, &c, &p);
	if (ret < 0 && sodium_init() < 0) {
		fprintf(stderr, "agent: libsodium failed to start\n");
		ret = CLI_FAILED;
	}
	if (ret < 0)
		ret = cmd->fn ? run_client(cmd, &c, &p) : keygen(c.arg[0]);
	free(c.arg);
	free(p.pass);
	return ret;
}
