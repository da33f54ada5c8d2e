/*
 * coord_ckpt.h - the checkpoint of the coordinator's job records in SDFS,
 * coord/jobs (pure: no I/O, no clock).  A cold recovery reads it to know
 * the jobs, their settings now and which are stopped; their results come
 * from their parts (result_part.h).
 *
 * Encoding: the 8 bytes "IDCKPT1\n", u32 the number of records, then per
 * record u32 its length and the record (coord_rec_encode): for each job
 * in launch order a JOB_LAUNCH with its settings as they are now (its
 * batch the current one), followed by a JOB_STOP when it is stopped.
 */
#ifndef IDUNNO_COORD_CKPT_H
#define IDUNNO_COORD_CKPT_H

#include "tasks/coord_log.h"

#include <stddef.h>
#include <stdint.h>

#define COORD_CKPT_NAME "coord/jobs"

struct coord_ckpt_job {
	struct coord_job_settings set;
	uint8_t stopped;
};

/* s's jobs as a checkpoint (*out malloc'd, the caller frees it).  0. */
int coord_ckpt_encode(const struct coord_state *s, uint8_t **out, size_t *len);
/*
 * The jobs of a checkpoint, in launch order, into out (room for
 * COORD_JOBS_MAX).  Returns how many, or -EINVAL for anything truncated,
 * trailing, of another magic, a record that does not decode or is neither
 * a launch nor a stop, a repeated launch, a stop of a job not launched
 * before it or stopped twice, more than COORD_JOBS_MAX jobs.
 */
int coord_ckpt_decode(const uint8_t *p, size_t len, struct coord_ckpt_job *out);

#endif
