/*
 * cli_run.c - `agent run`: the daemon's options, its key and config
 * checked before it starts.
 */
#include "cli/cli.h"
#include "core/agent.h"
#include "util.h"
#include "wire/wire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int cli_run(int argc, char **argv)
{
	struct agent_opts o = {0};
	const char *key_file = NULL, *config = NULL, *bind_s = NULL;
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
		if (!v) {
			fprintf(stderr, "agent run: %s needs a value\n", argv[i]);
			return 2;
		}
		if (!strcmp(argv[i], "--bind"))
			bind_s = v;
		else if (!strcmp(argv[i], "--join")) {
			if (wire_addr_parse(v, AGENT_DEFAULT_PORT, &o.join)) {
				fprintf(stderr, "agent run: --join: '%s' is not HOST:PORT\n", v);
				return 2;
			}
			o.have_join = 1;
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
			fprintf(stderr, "agent run: unknown option '%s'\n", argv[i]);
			return 2;
		}
		i++;
	}
	if (!o.data_dir || !key_file) {
		fprintf(stderr, "agent run: --data-dir and --key-file are required\n");
		return 2;
	}
	if (wire_addr_parse(bind_s ? bind_s : "127.0.0.1", AGENT_DEFAULT_PORT, &o.bind)) {
		fprintf(stderr, "agent run: --bind: '%s' is not HOST:PORT\n", bind_s);
		return 2;
	}
	ret = wire_key_load(key_file, &o.key);
	if (ret) {
		fprintf(stderr, "agent run: key file %s: %s\n", key_file,
			ret == -EINVAL ? "not a key (want 64 hex digits; see agent keygen)"
				       : strerror(-ret));
		return 1;
	}
	if (config && agent_config_load(config, &o, err, sizeof(err))) {
		fprintf(stderr, "agent run: %s\n", err);
		return 1;
	}
	if (mkdir(o.data_dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "agent run: %s: %s\n", o.data_dir, strerror(errno));
		return 1;
	}
	ret = agent_run(&o, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "agent run: %s\n", err);
		return 1;
	}
	return 0;
}
