/*
 * cli_run.c - `agent run`: the daemon's options, its key and config
 * checked before it starts, and its seeds (--join, several) asked once on
 * the terminal: which answer, and if none does, that the agent starts
 * alone and keeps trying them in turn.
 */
#include "cli/cli.h"
#include "cli/resolve.h"
#include "core/agent.h"
#include "ctl/rpc.h"
#include "util.h"
#include "wire/wire.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEED_ANSWER_MS 2000 /* a seed that takes longer is reported as silent */

/* Adds the seeds in v ("A" or "A,B,..."), the agent's own address left out. */
static int add_seeds(struct agent_opts *o, const char *v)
{
	char buf[1024], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", v);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		struct wire_addr a;
		char err[320];
		if (addr_resolve(t, AGENT_DEFAULT_PORT, &a, err, sizeof(err))) {
			fprintf(stderr, "agent run: --join: %s\n", err);
			return -1;
		}
		if (o->njoin == SWIM_SEEDS_MAX) {
			fprintf(stderr, "agent run: --join: at most %d seeds\n", SWIM_SEEDS_MAX);
			return -1;
		}
		o->join[o->njoin++] = a;
	}
	return 0;
}

/* Asks seed who it is: 0 when it answers (with this key), else -errno with err. */
static int seed_answers(struct client *cl, struct wire_addr seed, char *err, size_t errlen)
{
	uint8_t payload[64], *body;
	struct rpc_req req = {.cmd = RPC_SELF};
	struct pollfd p;
	size_t len;
	int fd = client_connect(cl, seed, err, errlen), n, ret;

	if (fd < 0) {
		util_seterr(err, errlen, "%s", strerror(-fd));
		return fd;
	}
	n = rpc_req_encode(&req, payload, sizeof(payload));
	ret = n < 0 ? n : client_send_request(cl, fd, seed, payload, (size_t)n);
	p = (struct pollfd){fd, POLLIN, 0};
	if (!ret && poll(&p, 1, SEED_ANSWER_MS) != 1)
		ret = -ETIMEDOUT;
	if (!ret)
		ret = client_recv_response(cl, fd, &body, &len);
	if (!ret)
		free(body);
	close(fd);
	if (ret)
		util_seterr(err, errlen, "%s",
			    ret == -EPROTO	? "answers with a different cluster key"
			    : ret == -ETIMEDOUT ? "no answer in 2 s"
						: strerror(-ret));
	return ret;
}

/*
 * The seeds, the agent's own address left out; the first that answers is
 * put first.  When none answers, the terminal is told, and the agent
 * starts and keeps trying them in turn (swim_join_seeds).
 */
static void check_seeds(struct agent_opts *o)
{
	struct client cl;
	char msg[2048] = "";
	int k = 0;

	for (int i = 0; i < o->njoin; i++)
		if (!wire_addr_eq(o->join[i], o->advertise))
			o->join[k++] = o->join[i];
	o->njoin = k;
	o->have_join = k > 0;
	if (!k)
		return;
	client_init(&cl, o->join[0], &o->key);
	for (int i = 0; i < k; i++) {
		char err[256], a[32];
		wire_addr_str(o->join[i], a, sizeof(a));
		if (seed_answers(&cl, o->join[i], err, sizeof(err)) == 0) {
			struct wire_addr t = o->join[0];
			o->join[0] = o->join[i];
			o->join[i] = t;
			return;
		}
		snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg), "\n  %s: %s", a, err);
	}
	fprintf(stderr,
		"agent run: no seed answers:%s\nagent run: starting; joining through the first "
		"of them that answers (tried in turn every %u ms)\n",
		msg, o->swim.join_retry_ms);
}

static int takes_value(const char *opt)
{
	static const char *const with[] = {
		"--bind",   "--advertise", "--join",   "--data-dir",	   "--key-file",
		"--config", "--replicas",  "--engine", "--engine-threads", "--metrics"};

	for (size_t i = 0; i < ARRAY_SIZE(with); i++)
		if (!strcmp(opt, with[i]))
			return 1;
	return 0;
}

int cli_run(int argc, char **argv)
{
	struct agent_opts o = {0};
	const char *key_file = NULL, *config = NULL, *bind_s = NULL, *adv_s = NULL;
	char err[512];
	int ret;

	swim_config_default(&o.swim);
	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(argv[i], "--no-engine")) {
			o.no_engine = 1;
			continue;
		}
		if (!strcmp(argv[i], "--no-coordinator")) {
			o.no_coordinator = 1;
			continue;
		}
		if (strncmp(argv[i], "--", 2) || !strcmp(argv[i], "--")) {
			fprintf(stderr, "agent run: unexpected argument '%s' (agent run --help)\n",
				argv[i]);
			return 2;
		}
		if (!takes_value(argv[i])) {
			fprintf(stderr, "agent run: unknown option '%s' (agent run --help)\n",
				argv[i]);
			return 2;
		}
		if (!v || !*v) {
			fprintf(stderr, "agent run: option %s needs a value\n", argv[i]);
			return 2;
		}
		if (!strcmp(argv[i], "--bind"))
			bind_s = v;
		else if (!strcmp(argv[i], "--advertise"))
			adv_s = v;
		else if (!strcmp(argv[i], "--join")) {
			if (add_seeds(&o, v))
				return 2;
		} else if (!strcmp(argv[i], "--data-dir"))
			o.data_dir = v;
		else if (!strcmp(argv[i], "--key-file"))
			key_file = v;
		else if (!strcmp(argv[i], "--config"))
			config = v;
		else if (!strcmp(argv[i], "--replicas")) {
			o.replicas = atoi(v);
			if (o.replicas < 1 || o.replicas > 16) {
				fprintf(stderr, "agent run: --replicas: 1 to 16, not '%s'\n", v);
				return 2;
			}
		} else if (!strcmp(argv[i], "--metrics")) {
			if (wire_addr_parse(v, 0, &o.metrics) || o.metrics.port == 0) {
				fprintf(stderr, "agent run: --metrics: '%s' is not HOST:PORT\n", v);
				return 2;
			}
			o.have_metrics = 1;
		} else if (!strcmp(argv[i], "--engine")) {
			o.engine = v;
		} else if (!strcmp(argv[i], "--engine-threads")) {
			o.engine_threads = atoi(v);
			if (o.engine_threads < 1 || o.engine_threads > 256) {
				fprintf(stderr, "agent run: --engine-threads: 1 to 256, not '%s'\n",
					v);
				return 2;
			}
		} else {
			fprintf(stderr, "agent run: unknown option '%s' (agent run --help)\n",
				argv[i]);
			return 2;
		}
		i++;
	}
	if (!o.data_dir || !key_file) {
		fprintf(stderr, "agent run: --data-dir and --key-file are required\n");
		return 2;
	}
	if (addr_resolve(bind_s ? bind_s : "127.0.0.1", AGENT_DEFAULT_PORT, &o.bind, err,
			 sizeof(err))) {
		fprintf(stderr, "agent run: --bind: %s\n", err);
		return 2;
	}
	/* the address the others reach this agent by: its member id */
	o.advertise = o.bind;
	if (adv_s && addr_resolve(adv_s, o.bind.port, &o.advertise, err, sizeof(err))) {
		fprintf(stderr, "agent run: --advertise: %s\n", err);
		return 2;
	}
	if (!o.advertise.ip) {
		fprintf(stderr,
			"agent run: --bind %s needs --advertise HOST[:PORT], the address "
			"the other members reach this one by\n",
			bind_s);
		return 2;
	}
	if (cli_key_load("run", key_file, &o.key))
		return 1;
	if (config && agent_config_load(config, &o, err, sizeof(err))) {
		fprintf(stderr, "agent run: %s\n", err);
		return 1;
	}
	if (mkdir(o.data_dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "agent run: %s: %s\n", o.data_dir, strerror(errno));
		return 1;
	}
	check_seeds(&o);
	ret = agent_run(&o, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "agent run: %s\n", err);
		return 1;
	}
	return 0;
}
