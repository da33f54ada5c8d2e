/*
 * ctl.h - the CLI's server in the agent: the commands of rpc.h (members,
 * self, leave, stats, grep), one table of handlers, reached through the
 * connection layer's route for their command range.
 *
 * grep never runs on the loop: the agent starts itself (`agent
 * __grep-local`, see ctl_grep.h) with posix_spawn, reads the answer from a
 * pipe with io_uring and learns of the child's exit through a pidfd, so
 * it neither forks its whole self nor reaps anyone else's children.
 */
#ifndef IDUNNO_CTL_H
#define IDUNNO_CTL_H

#include <stddef.h>

struct loop;
struct conns;
struct swim;
struct ctl;

struct ctl_env {
	struct loop *loop;
	struct conns *conns;
	struct swim *swim;
	const char *log_path;
	const char *exe; /* this program, for grep's child */
	/* The leave command: start leaving the cluster. */
	void (*leave)(void *arg, const char *why);
	/* Every module's counters, "name value" lines. */
	size_t (*stats)(void *arg, char *buf, size_t cap);
	/* This node's description for `self`: "key value" lines. */
	size_t (*describe)(void *arg, char *buf, size_t cap);
	void *arg;
};

/* Registers the commands with the loop and the connection layer. */
int ctl_new(const struct ctl_env *env, struct ctl **out);
void ctl_free(struct ctl *c);

#endif
