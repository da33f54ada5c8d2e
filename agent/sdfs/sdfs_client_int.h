/*
 * sdfs_client_int.h - what the files of the in-loop SDFS client share
 * (not for its users; sdfs_client.h is the interface).
 *
 *   sdfs_client.c      the operation table, connections to members, the
 *                      events that drive both state machines, the module
 *   sdfs_client_get.c  a get: OP_STAT (who holds what), then OP_READ
 *   sdfs_client_put.c  a put: OP_WRITE to the head of the file's chain
 */
#ifndef IDUNNO_SDFS_CLIENT_INT_H
#define IDUNNO_SDFS_CLIENT_INT_H

#include "sdfs/sdfs_client.h"
#include "sdfs/sdfs_wire.h"
#include "sdfs/store.h"

#include <stddef.h>
#include <stdint.h>

struct conn;
struct op;

#define OPS_MAX	    32
#define STAT_EXTRA  2 /* members asked beyond the replica count */
#define HOLDERS_MAX (16 + STAT_EXTRA)
#define IO_MS	    10000
#define CONNECT_MS  2000
#define PUT_TRIES   3

enum op_state { OP_IDLE, OP_STAT, OP_READ, OP_WRITE, OP_DONE, OP_STATE_MAX };

enum fop { F_READ = 1, F_WRITE };

/* What a connection's events are about: a STAT call (idx >= 0) or the
 * operation's stream (idx < 0). */
struct link {
	struct op *o;
	int idx;
};

struct holder {
	struct link link;
	struct wire_addr who;
	int ok, n;
	uint64_t v[64]; /* versions held, newest first */
	uint64_t deleted;
};

struct op {
	enum op_state state;
	struct sdfs_client *c;
	int is_put;
	char name[STORE_NAME_MAX + 1];
	uint64_t version, size, max, done, chunk;
	uint32_t crc; /* of the content received so far, in order */
	int fd;
	uint8_t *data; /* get: the result buffer; put: the caller's bytes, copied */
	sdfs_client_fn fn;
	void *arg;
	int status, finished, pending;
	/* OP_STAT */
	struct holder h[HOLDERS_MAX];
	int nh, stat_left;
	/* OP_READ / OP_WRITE */
	struct link link;
	struct conn *conn;
	struct wire_addr order[64];
	int norder, at, answered;
	uint8_t sid[SDFS_SID_LEN];
	uint8_t *frame;
};

struct sdfs_client {
	struct sdfs_client_env env;
	int owner;
	struct op ops[OPS_MAX];
	uint64_t n_gets, n_puts, n_failed, bytes_in, bytes_out;
};

/* ---- sdfs_client.c ---- */

/* A free operation for name (on fd, -1 for a buffer), or NULL. */
struct op *op_new(struct sdfs_client *c, const char *name, int fd, sdfs_client_fn fn, void *arg);
/* The file's ranked live members, at most max. */
int op_ranked(struct op *o, struct wire_addr *out, int max);
/* Connects to `to` for l (a STAT call or the stream); 0 or -errno. */
int op_connect(struct op *o, struct wire_addr to, struct link *l, struct conn **out);
/* A read (F_READ) or write (F_WRITE) of o->fd through the loop. */
void op_file_io(struct op *o, enum fop f, uint8_t *buf, size_t len, uint64_t off);
/* Ends o with status: the callback runs once, o is released once idle. */
void op_finish(struct op *o, int status);

/* ---- sdfs_client_get.c ---- */

void get_stat_answer(struct holder *h, const uint8_t *body, size_t len);
/* Every STAT call ended: the version and its holders, then the stream. */
void get_stat_done(struct op *o);
/* The stream from the next holder (from the last whole chunk). */
void get_next_holder(struct op *o);
void get_answer(struct op *o, const uint8_t *body, size_t len);
/* The next chunk frame, or the end. */
void get_chunk(struct op *o);
void get_got_chunk(struct op *o, int res);

/* ---- sdfs_client_put.c ---- */

/* The stream to the next head (at most PUT_TRIES). */
void put_next_head(struct op *o);
/* The next chunk out (read from the file first, when from a file). */
void put_chunk(struct op *o);
void put_answer(struct op *o, const uint8_t *body, size_t len);

#endif
