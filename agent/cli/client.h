/*
 * client.h - the blocking client side of the agent's RPC, used by the
 * command-line subcommands (and by tests and benchmarks): one connection
 * per request, authenticated frames, a timeout on every wait.
 */
#ifndef IDUNNO_CLIENT_H
#define IDUNNO_CLIENT_H

#include "ctl/rpc.h"
#include "membership/swim.h"
#include "wire/wire.h"

#include <stddef.h>
#include <stdint.h>

#define CLIENT_TIMEOUT_MS 10000

struct client {
	struct wire_addr agent;
	struct wire_key key;
	struct wire_addr id; /* sender id for replay protection: 0.x.y.z, random */
	uint64_t epoch, seq;
	int agent_failed; /* a call to `agent` itself got no answer (exit code 3) */
};

/* Sets up cl for agent with key (a fresh epoch for replay protection). */
void client_init(struct client *cl, struct wire_addr agent, const struct wire_key *key);

/* Connects to an agent. Returns the socket, or -errno with err set. */
int client_connect(struct client *cl, struct wire_addr to, char *err, size_t errlen);
/* Seals payload as a request to the agent at `to` and sends it. 0 or -errno. */
int client_send_request(struct client *cl, int fd, struct wire_addr to, const void *payload,
			size_t len);
/* Sends or receives exactly len bytes. 0, or -errno (-ECONNRESET at EOF). */
int client_send_all(int fd, const void *buf, size_t len);
int client_recv_all(int fd, void *buf, size_t len);
/*
 * Receives one response frame and checks it (authentic, addressed to this
 * client's id).  On success *body (malloc'd, NUL-terminated, at least the
 * status byte) and 0; else -errno / -EPROTO, or -EBUSY when the agent said
 * it had no connection free (WIRE_BUSY_MAGIC).
 */
int client_recv_response(struct client *cl, int fd, uint8_t **body, size_t *len);

/* One request payload, one response, to the agent at to. 0 or -errno with err. */
int client_call(struct client *cl, struct wire_addr to, const void *payload, size_t plen,
		uint8_t **body, size_t *blen, char *err, size_t errlen);
int rpc_call(struct client *cl, struct wire_addr to, const struct rpc_req *req, uint8_t **body,
	     size_t *blen, char *err, size_t errlen);

/* The agent's members (or itself), sorted by address; -1 with a message printed. */
int client_members(struct client *cl, uint8_t cmd, struct swim_member **out);
/* Its live members' addresses (alive or suspected); -1 with a message printed. */
int client_live(struct client *cl, struct wire_addr **out);

#endif
