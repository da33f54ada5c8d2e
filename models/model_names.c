/*
 * model_names.c - the names of the models, apart from the models
 * themselves, so that programs that only label things (the exporter) need
 * not link the compute stack.
 */
#include "model.h"
#include "err.h"

#include <string.h>

static const char *const names[MODEL_MAX] = {
	[MODEL_RESNET18] = "resnet18",
	[MODEL_ALEXNET] = "alexnet",
};

const char *model_name(enum model_id id)
{
	return (unsigned)id < MODEL_MAX ? names[id] : "unknown";
}

int model_parse(const char *name, enum model_id *out)
{
	for (int i = 0; i < MODEL_MAX; i++)
		if (strcmp(name, names[i]) == 0) {
			*out = (enum model_id)i;
			return 0;
		}
	return IDN_ENOMODEL;
}
