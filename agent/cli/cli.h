/*
 * cli.h - the agent program's subcommands: one table (cli_cmds.c) of
 * names, arguments, options, help and handlers; main.c parses the command
 * line against it.  Each handler gets the parsed command line and returns
 * the exit code (CLI_* below; docs/cli.md).
 */
#ifndef IDUNNO_CLI_H
#define IDUNNO_CLI_H

#include "cli/client.h"
#include "version.h"

#include <stdio.h>

/* Exit codes (docs/cli.md).  grep: 1 is "nothing matched". */
#define CLI_OK		0
#define CLI_FAILED	1
#define CLI_USAGE	2 /* a bad option, argument, name or pattern */
#define CLI_UNREACHABLE 3 /* no answer from the agent asked (--agent) */
#define CLI_NOT_FOUND	4 /* no such file or dataset */

struct cli {
	struct client cl;
	int json;   /* --json */
	int flags;  /* grep's -c, -E and -i (GREP_*) */
	int force;  /* get's --force: overwrite a local file */
	char **arg; /* the positional arguments (for `job`, `model`, `dataset`:
		     * the verb first; pass-through options last) */
	int nargs;
};

/* Options a subcommand accepts (cli_cmd.opts). */
enum {
	OPT_CONN = 1,	 /* --agent, --key-file: a client of an agent */
	OPT_JSON = 2,	 /* --json */
	OPT_GREP = 4,	 /* -c, -E, -i */
	OPT_FORCE = 8,	 /* --force */
	OPT_LAUNCH = 16, /* --dataset, --batch, --weight, --loop, --client-only (passed on) */
	OPT_SUBMIT = 32, /* --client (passed on) */
};

struct cli_cmd {
	const char *name; /* "put", or "job launch" for a verb of a group */
	const char *args; /* the positional arguments, for usage: "LOCAL NAME" */
	int min, max;	  /* how many (max -1: any number) */
	unsigned opts;
	const char *summary; /* one line */
	const char *help;    /* what it does, its options: lines */
	const char *example;
	int (*fn)(struct cli *c); /* NULL: run and keygen, handled by main */
};

/* The table (cli_cmds.c) and the help printed from it (port: the default). */
extern const struct cli_cmd cli_cmds[];
extern const int cli_ncmds;
void cli_usage(FILE *f, int port);
void cli_help(FILE *f, const struct cli_cmd *cmd, int port);
/* Loads a key file as cmd's, warning when group or others may read it.
 * 0, or 1 with the reason printed. */
int cli_key_load(const char *cmd, const char *path, struct wire_key *key);

/* The membership and control commands (cli_ctl.c). */
int cli_members(struct cli *c);
int cli_self(struct cli *c);
int cli_leave(struct cli *c);
int cli_stats(struct cli *c);
int cli_grep(struct cli *c);
/* Prints "key value" lines (values: words or numbers) as one JSON object. */
void cli_kv_json(const char *text, size_t len, int first);

/*
 * Models and datasets in SDFS (cli_tasks.c): `model put NAME FILE`,
 * `model ls`, `dataset put NAME DIR-OR-FILES...`, `dataset ls [NAME]`;
 * arg[0] is the verb.
 */
int cli_model(struct cli *c);
int cli_dataset(struct cli *c);
/* What they share: a JSON string on stdout (quotes, backslashes and
 * control characters escaped); whether name is a good model or dataset
 * name (else a message, as cmd's); a memfd holding len bytes of p (or -1
 * with a message). */
void cli_json_str(const char *s);
int cli_name_ok(const char *cmd, const char *name);
int cli_memfd(const char *cmd, const void *p, size_t len);

/*
 * Jobs on the coordinator (cli_jobs.c): `job launch|ls|stop|batch`
 * (arg[0] is the verb), `qinfo [JOB]`, `qjob JOB`, `assign`, `results JOB [LOCAL]`.
 */
int cli_job(struct cli *c);
int cli_qinfo(struct cli *c);
int cli_qjob(struct cli *c);
int cli_assign(struct cli *c);
/*
 * Asks req (tasks/coord_rpc.h) of the agent, following the coordinator's
 * address.  0 with *body (malloc'd; [0] is 0, the text follows), or 1
 * with the reason printed under cmd's name.
 */
struct coord_rpc_req;
int cli_job_call(struct cli *c, const char *cmd, const struct coord_rpc_req *req, uint8_t **body,
		 size_t *len);
/* `results JOB [LOCAL]` (cli_results.c): the parts in SDFS, then the
 * coordinator's memory. */
int cli_results(struct cli *c);
/* The same results, each given to each(arg, result, its input's name)
 * instead of printed: 0, or 1 (the reason printed). */
struct coord_result;
typedef void (*cli_result_fn)(void *arg, const struct coord_result *r, const char *input);
int cli_results_each(struct cli *c, const char *job, cli_result_fn each, void *arg);

/* `agent submit JOB IMAGE... [--client ID]` (cli_submit.c): client queries,
 * every result printed as it comes. */
int cli_submit(struct cli *c);

/* The SDFS subcommands (sdfs_cli.h underneath). */
int cli_put(struct cli *c);
int cli_get(struct cli *c);
int cli_get_versions(struct cli *c);
int cli_delete(struct cli *c);
int cli_ls(struct cli *c);
int cli_holders(struct cli *c);
int cli_store(struct cli *c);
int cli_fsck(struct cli *c); /* sdfs_fsck.c */

/* `agent run`: parses the daemon's options and runs it (cli_run.c). */
int cli_run(int argc, char **argv);

#endif
