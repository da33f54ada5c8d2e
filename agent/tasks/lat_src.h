/*
 * lat_src.h - where a worker's per-query latency figures come from: the
 * BPF probes' per-job service-time histograms (bpf/latency.h), read from
 * the map the exporter pins, when it runs; else the engine's own ring
 * timestamps.  Each RESULT says which (task_wire.h), and `agent self`.
 */
#ifndef IDUNNO_LAT_SRC_H
#define IDUNNO_LAT_SRC_H

#include <stdint.h>

struct lat_src;

/* pin_dir: where the exporter pins its map (NULL: the default). */
struct lat_src *lat_src_new(const char *pin_dir);
void lat_src_free(struct lat_src *s);

/*
 * The service and ring-wait time of the entries of job the engine process
 * tgid completed since the last call for that job, averaged, from the BPF
 * histograms.  0, or -ENODATA when BPF has nothing (no exporter, not built
 * with BPF, or no entry seen): the caller uses the ring's timestamps.
 * Retries opening the pinned map at most once every few seconds.
 */
int lat_src_batch(struct lat_src *s, uint32_t tgid, uint32_t job, uint64_t now_ms,
		  uint64_t *service_ns, uint64_t *wait_ns);

/* 1 while the BPF map is open. */
int lat_src_bpf(const struct lat_src *s);

#endif
