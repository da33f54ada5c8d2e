/*
 * agent.h - the agent daemon: one thread, one io_uring event loop serving
 * SWIM membership over UDP and request/response RPC over TCP on the same
 * port, and SDFS (sdfs.h) in the same loop.
 */
#ifndef IDUNNO_AGENT_H
#define IDUNNO_AGENT_H

#include "membership/swim.h"
#include "wire/wire.h"

#include <stddef.h>

#define AGENT_DEFAULT_PORT 7600

struct agent_opts {
	struct wire_addr bind;		       /* the sockets' address (may be 0.0.0.0) */
	struct wire_addr advertise;	       /* the address members know it by (set: its id) */
	int have_join;			       /* njoin > 0 */
	struct wire_addr join[SWIM_SEEDS_MAX]; /* the seeds, tried in turn */
	int njoin;
	const char *data_dir;
	struct wire_key key;
	struct swim_config swim;
	int replicas;		  /* SDFS replication factor */
	const char *engine;	  /* the engine binary (default: beside this one) */
	int no_engine;		  /* run no engine: store and coordinate only */
	int engine_threads;	  /* its compute threads (default 1) */
	int no_coordinator;	  /* never coordinate (tests driving workers with a stand-in) */
	int have_metrics;	  /* serve Prometheus /metrics (core/metrics.h) ... */
	struct wire_addr metrics; /* ... on this address */
	/* the coordinator's queued queries per job (config coord_queue_max; 0: 4096) */
	uint32_t coord_queue_max;
};

/*
 * Reads "name = value" lines (# comments, [sections] ignored) into the
 * options: the SWIM settings probe_interval_ms, probe_timeout_ms,
 * indirect_k, suspicion_mult, suspicion_max_mult, retransmit_mult,
 * gossip_interval_ms, gossip_nodes, pushpull_interval_ms,
 * reconnect_interval_ms, SDFS's replicas (1..16) and the coordinator's
 * coord_queue_max (queued queries per job, beyond which submitters are
 * told "busy").
 * Returns 0 or -EINVAL with the offending line in err.
 */
int agent_config_load(const char *path, struct agent_opts *o, char *err, size_t errlen);

/*
 * Runs the daemon until it leaves (the leave command, SIGTERM or SIGINT).
 * Returns 0, or a negative errno with err filled when it cannot start.
 */
int agent_run(const struct agent_opts *o, char *err, size_t errlen);

#endif
