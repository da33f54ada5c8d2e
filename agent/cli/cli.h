/*
 * cli.h - the agent program's subcommands: one table (main.c) of names,
 * argument counts and handlers; each handler gets the parsed command line
 * and returns the exit code (0 ok, 1 failed, 2 bad usage).
 */
#ifndef IDUNNO_CLI_H
#define IDUNNO_CLI_H

#include "cli/client.h"

struct cli {
	struct client cl;
	int json;   /* --json */
	int flags;  /* grep's -c and -E */
	char **arg; /* the positional arguments */
	int nargs;
};

/* The membership and control commands (cli_ctl.c). */
int cli_members(struct cli *c);
int cli_self(struct cli *c);
int cli_leave(struct cli *c);
int cli_stats(struct cli *c);
int cli_grep(struct cli *c);

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

/* `agent run`: parses the daemon's options and runs it (cli_run.c). */
int cli_run(int argc, char **argv);

#endif
