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
#include "sdfs/store.h"

#include <stdint.h>

/* The subcommands themselves (put, get, ...) are cli_put etc. in cli.h. */

/* What a put prints once stored. */
enum { SDFS_PUT_TEXT, SDFS_PUT_QUIET, SDFS_PUT_JSON };

/*
 * For other subcommands (cli_tasks.c).  sdfs_put_file puts the file local
 * as name (as cmd's, printing as mode says: SDFS_PUT_*) and
 * sdfs_put_fd the first size bytes of fd, quietly; both return the exit
 * status (0, 1 failed with the reason printed, 2 a bad name) and the new
 * version.
 */
int sdfs_put_file(struct client *cl, const char *cmd, const char *local, const char *name, int mode,
		  uint64_t *version);
int sdfs_put_fd(struct client *cl, const char *cmd, int fd, uint64_t size, const char *name,
		uint64_t *version);
/*
 * The newest version of name into a new buffer (*data, the caller frees
 * it; at most max bytes).  0, -ENOENT (no such file, nothing printed),
 * -EFBIG, or another -errno after the reason was printed.
 */
int sdfs_get_mem(struct client *cl, const char *name, uint64_t max, uint8_t **data, size_t *len,
		 uint64_t *version);

struct sdfs_entry {
	char name[STORE_NAME_MAX + 1];
	uint64_t version, size; /* the newest version not deleted */
	int versions;		/* how many versions not deleted, cluster-wide */
	int replicas;		/* how many live members hold the newest one */
};
/*
 * Every file whose name starts with prefix, as the live members' stores
 * list them (merged: each name once, its newest version above any
 * deletion marker), sorted by name.  Returns how many (*out, the caller
 * frees it), or -1 with the reason printed.
 */
int sdfs_list(struct client *cl, const char *prefix, struct sdfs_entry **out);

#endif
