/*
 * config.c - the agent's config file (see agent.h): "name = value" lines.
 */
#include "core/agent.h"
#include "util.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int agent_config_load(const char *path, struct agent_opts *o, char *err, size_t errlen)
{
	static const struct {
		const char *name;
		size_t off;
	} keys[] = {
#define K(f) {#f, offsetof(struct swim_config, f)}
		K(probe_interval_ms),	  K(probe_timeout_ms),	 K(indirect_k),
		K(suspicion_mult),	  K(suspicion_max_mult), K(retransmit_mult),
		K(gossip_interval_ms),	  K(gossip_nodes),	 K(pushpull_interval_ms),
		K(reconnect_interval_ms),
#undef K
	};
	char *text, *line, *save = NULL;
	size_t len;
	int ret = util_read_file(path, 1 << 20, &text, &len), lineno = 0;

	if (ret) {
		util_seterr(err, errlen, "%s: %s", path, strerror(-ret));
		return ret;
	}
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[64];
		unsigned long v;
		size_t k;
		lineno++;
		line += strspn(line, " \t");
		if (!*line || *line == '#' || *line == ';' || *line == '[')
			continue;
		if (sscanf(line, "%63[a-z_] = %lu", name, &v) != 2 || v == 0 || v > 3600000) {
			util_seterr(err, errlen, "%s: line %d: want 'name = positive number'", path,
				    lineno);
			ret = -EINVAL;
			break;
		}
		if (!strcmp(name, "replicas")) {
			if (v > 16) {
				util_seterr(err, errlen, "%s: line %d: replicas is 1..16", path,
					    lineno);
				ret = -EINVAL;
				break;
			}
			o->replicas = (int)v;
			continue;
		}
		if (!strcmp(name, "coord_queue_max")) {
			o->coord_queue_max = (uint32_t)v;
			continue;
		}
		for (k = 0; k < ARRAY_SIZE(keys) && strcmp(keys[k].name, name); k++)
			;
		if (k == ARRAY_SIZE(keys)) {
			util_seterr(err, errlen, "%s: line %d: unknown setting '%s'", path, lineno,
				    name);
			ret = -EINVAL;
			break;
		}
		*(uint32_t *)((char *)&o->swim + keys[k].off) = (uint32_t)v;
	}
	free(text);
	return ret;
}
