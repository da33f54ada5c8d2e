/*
 * fuzz_config.c - the agent's config file (agent_config_load): any bytes
 * give 0 or an error, and values in range.
 */
#include "core/agent.h"
#include "fuzz.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent_opts o;
	char path[64], err[512];
	int fd = fuzz_file(data, size, path, sizeof(path));

	if (fd < 0)
		return 0;
	memset(&o, 0, sizeof(o));
	swim_config_default(&o.swim);
	if (agent_config_load(path, &o, err, sizeof(err)) == 0)
		FUZZ_ASSERT(o.replicas >= 0 && o.replicas <= 16);
	close(fd);
	return 0;
}
