/*
 * fuzz_safetensors.c - weights files: the safetensors reader (st_open),
 * then the model's own checks of the file (model_check_file), as the
 * engine runs them on a file from SDFS.
 */
#include "fuzz.h"
#include "model.h"
#include "safetensors.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct st_file f;
	struct model_check mc;
	char path[64], err[512];
	int fd = fuzz_file(data, size, path, sizeof(path));

	if (fd < 0)
		return 0;
	if (st_open(path, &f, err, sizeof(err)) == 0) {
		for (int i = 0; i < f.ntensors; i++)
			FUZZ_ASSERT(st_find(&f, f.tensors[i].name) != NULL);
		st_metadata(&f, "arch");
		st_close(&f);
	}
	model_check_file(path, NULL, &mc, err, sizeof(err));
	close(fd);
	return 0;
}
