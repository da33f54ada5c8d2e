/*
 * ring_result.c - one image's result as the agent takes it from the ring
 * (see ring.h): the engine wrote it into the shared data area, so it is
 * copied once and checked before anything uses it.
 */
#include "ring.h"
#include "util.h"

#include <errno.h>
#include <string.h>

int ring_result_take(const struct ring_result *shared, struct ring_result *out)
{
	memcpy(out, shared, sizeof(*out)); /* once: the engine may be rewriting it */
	if (out->status == 0) {
		for (size_t k = 0; k < ARRAY_SIZE(out->idx); k++)
			if (out->idx[k] < 0 || out->idx[k] >= RING_CLASSES ||
			    !(out->prob[k] >= 0.0f && out->prob[k] <= 1.0f))
				out->status = -EIO;
	} else if (out->status > 0 || out->status < -4095) {
		out->status = -EIO;
	}
	if (out->status)
		for (size_t k = 0; k < ARRAY_SIZE(out->idx); k++) {
			out->idx[k] = -1;
			out->prob[k] = 0;
		}
	return out->status;
}
