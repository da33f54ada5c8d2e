/*
 * sdfs_cli.h - the SDFS subcommands of bin/agent.  Each asks the agent
 * (--agent) for the membership, ranks the live members for the file
 * (place.h) and talks to the replicas directly: a put is one upload, to
 * the head of the chain; a get reads from one replica and, if that one
 * fails or turns out corrupt, goes on from where it stopped with another.
 * Each returns the program's exit status and prints what went wrong.
 */
#ifndef IDUNNO_SDFS_CLI_H
#define IDUNNO_SDFS_CLI_H

#include "cli/client.h"

int sdfs_put(struct client *cl, const char *local, const char *name);
int sdfs_get(struct client *cl, const char *name, const char *local);
int sdfs_get_versions(struct client *cl, const char *name, const char *count, const char *local);
int sdfs_delete(struct client *cl, const char *name);
int sdfs_ls(struct client *cl, const char *name);
int sdfs_store(struct client *cl);

#endif
