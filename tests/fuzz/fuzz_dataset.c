/*
 * fuzz_dataset.c - a dataset's index as read from SDFS
 * (dataset_index_decode): what decodes passes dataset_index_check.
 */
#include "fuzz.h"
#include "tasks/dataset.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dataset_index ix;
	char err[256];

	memset(&ix, 0, sizeof(ix));
	if (dataset_index_decode(data, size, &ix, err, sizeof(err)) == 0)
		FUZZ_ASSERT(dataset_index_check(&ix, err, sizeof(err)) == 0);
	dataset_index_free(&ix);
	return 0;
}
