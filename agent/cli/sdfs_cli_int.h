/*
 * sdfs_cli_int.h - what the files of the SDFS subcommands share (not for
 * other subcommands; sdfs_cli.h is the interface).
 *
 *   sdfs_cli.c   talking to members (calls, streams, who holds what),
 *                delete, ls, store
 *   sdfs_put.c   put: one upload to the head of the file's chain
 *   sdfs_get.c   get, get-versions and a file into memory: from the
 *                holders in rank order, going on where one stopped
 *   sdfs_list.c  what the cluster holds under a prefix
 *   sdfs_fsck.c  fsck; the replication factor
 */
#ifndef IDUNNO_SDFS_CLI_INT_H
#define IDUNNO_SDFS_CLI_INT_H

#include "cli/client.h"
#include "sdfs/sdfs_wire.h"

#include <stddef.h>
#include <stdint.h>

/* What one member holds of a name: its versions, newest first, and up to
 * which version it knows the name was deleted. */
struct holding {
	struct wire_addr who;
	int ok;
	struct sdfs_stat st; /* n, v[] (newest first), deleted */
};

/* 0 when name is a valid SDFS name; else -1 with the reason printed (as cmd's). */
int sdfs_cli_check_name(const char *cmd, const char *name);
/* One request r to `to` and its answer (*body, the caller frees it).
 * 0, or -errno with err filled. */
int sdfs_cli_call(struct client *cl, struct wire_addr to, const struct sdfs_req *r, uint8_t **body,
		  size_t *len, char *err, size_t errlen);
/* Opens a stream for name: the socket with the first answer in *body (the
 * caller frees it), or -errno with err filled. */
int sdfs_cli_stream(struct client *cl, struct wire_addr to, struct sdfs_req *r, const char *name,
		    uint8_t **body, size_t *len, char *err, size_t errlen);
/* What every live member holds of name (*out, the caller frees it), the
 * versions a delete covered taken out.  Returns how many members, or -1. */
int sdfs_cli_gather(struct client *cl, const char *name, struct holding **out);
/* The newest version any member holds (0: none). */
uint64_t sdfs_cli_newest(const struct holding *hs, int n);
/*
 * Checks name, gathers what every member holds (*hs, the caller frees it;
 * *n members) and finds the newest version (*v).  Returns 0, or the exit
 * status (2 a bad name, 1 otherwise: no membership, no such file) with
 * the reason printed as cmd's, and nothing to free.
 */
int sdfs_cli_find(struct client *cl, const char *cmd, const char *name, struct holding **hs, int *n,
		  uint64_t *v);
/* The replication factor of the agent asked (its `self`: sdfs_replicas),
 * or -1 with the reason printed as cmd's. */
int sdfs_cli_replicas(struct client *cl, const char *cmd);
/* Prints a refusal (a status answer) as cmd's, about what. */
void sdfs_cli_status(const char *cmd, const char *what, const uint8_t *body, size_t len);

#endif
