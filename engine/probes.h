/*
 * probes.h - the engine's uprobe points.
 *
 * Every query the engine runs passes idunno_query_start() just before its
 * forward pass and idunno_query_end() just after.  They are stable,
 * exported, never inlined and do nothing else, so that BPF uprobes can
 * attach to them by name (bpf/ does) and read the arguments from
 * registers: job id, query id, batch size, the time the query was put on
 * the ring (CLOCK_MONOTONIC ns; 0 when it did not come through one) and the
 * model (enum model_id); at the end the status and flags: PROBE_COLD when
 * the run built its plan (the first at its batch size since the model was
 * loaded: much slower, kept apart by the exporter).
 */
#ifndef IDUNNO_PROBES_H
#define IDUNNO_PROBES_H

#include <stdint.h>

void idunno_query_start(uint32_t job, uint64_t query, uint32_t batch, uint64_t enqueue_ns,
			uint32_t model);
#define PROBE_COLD 1u /* = LAT_COLD (common/hist.h) */

void idunno_query_end(uint32_t job, uint64_t query, int32_t status, uint32_t flags);

#endif
