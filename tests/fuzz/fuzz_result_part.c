/*
 * fuzz_result_part.c - a line of a job's result part, read back from SDFS
 * by a cold recovery and by `idunno results` (result_part_parse), with
 * the input name's room the recovery gives it: what parses is in range (a
 * result that did not fail has five classes of the 1000) and writes a line
 * (result_part_line) that parses to the same result and name (the name cut
 * to the DATASET_NAME_MAX bytes the writer keeps).
 */
#include "fuzz.h"
#include "model.h"
#include "../result_same.h"
#include "tasks/dataset.h"
#include "tasks/result_part.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char input[DATASET_NAME_MAX * 6 + 1], again[DATASET_NAME_MAX * 6 + 1];
	static char line[RESULT_PART_LINE_MAX * 8];
	struct coord_result r, back;
	int n;

	if (result_part_parse((const char *)data, size, &r, input, sizeof(input)) != 0)
		return 0;
	FUZZ_ASSERT(r.rseq > 0 && r.a.status <= 0 && r.a.worker.ip != 0);
	for (int k = 0; k < COORD_TOP && r.a.status == 0; k++)
		FUZZ_ASSERT(r.a.cls[k] < MODEL_CLASSES && r.a.prob[k] >= 0 && r.a.prob[k] <= 1);
	n = result_part_line(&r, input, line, sizeof(line));
	FUZZ_ASSERT(n > 0 && line[n - 1] == '\n');
	FUZZ_ASSERT(result_part_parse(line, (size_t)n - 1, &back, again, sizeof(again)) == 0);
	FUZZ_ASSERT(result_same(&r, &back));
	FUZZ_ASSERT(!strncmp(input, again, DATASET_NAME_MAX) &&
		    strlen(again) ==
			    (strlen(input) < DATASET_NAME_MAX ? strlen(input) : DATASET_NAME_MAX));
	return 0;
}
