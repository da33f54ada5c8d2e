/*
 * err.c - messages for IDunno's error codes and errno's (see err.h).
 */
#include "err.h"

#include <string.h>

static const char *const messages[IDN_ERR_BASE - IDN_EMAX] = {
	[IDN_ERR_BASE - IDN_ENOTCOORD] = "not the coordinator",
	[IDN_ERR_BASE - IDN_ESTALE_EPOCH] = "stale epoch",
	[IDN_ERR_BASE - IDN_ENOJOB] = "unknown job",
	[IDN_ERR_BASE - IDN_ENOMODEL] = "unknown model",
	[IDN_ERR_BASE - IDN_ENODATASET] = "unknown dataset",
	[IDN_ERR_BASE - IDN_EBUSY_QUEUE] = "queue full",
	[IDN_ERR_BASE - IDN_EBADMODEL] = "weights file does not match the model",
	[IDN_ERR_BASE - IDN_EGRAPH] = "inconsistent network graph",
	[IDN_ERR_BASE - IDN_EUNSUPPORTED] = "layer not supported by this backend",
	[IDN_ERR_BASE - IDN_EBACKEND] = "compute library failure",
};

const char *idn_strerror(int err)
{
	if (err == 0)
		return "success";
	if (err < 0 && err > -4096)
		return strerror(-err);
	if (err <= IDN_ERR_BASE && err > IDN_EMAX && messages[IDN_ERR_BASE - err])
		return messages[IDN_ERR_BASE - err];
	return "unknown error";
}
