/*
 * lat_export.h - the exporter's series: the probes' map entries, keyed by
 * engine process, summed into series labelled by node (the ring the engine
 * serves: the agent's IP:PORT; else this machine's host name), job and
 * model, in the Prometheus text format.
 *
 * An engine process that has exited is expired: its entries are folded
 * into its series' totals (so the counters never go back) and deleted from
 * the map (with its runs in flight), making room for the living.  A series
 * no living engine has added to for retain_ns is dropped.
 */
#ifndef IDUNNO_LAT_EXPORT_H
#define IDUNNO_LAT_EXPORT_H

#include "core/prom.h"
#include "hist.h"

#include <stdint.h>

struct latency;
struct lat_export;

struct lat_export *lat_export_new(void);
void lat_export_free(struct lat_export *x);

/* The node label of engine process tgid (cached while it lives). */
const char *lat_export_node(struct lat_export *x, __u32 tgid);

/* Reads the map: sums the living, expires the exited, drops stale series. */
void lat_export_sweep(struct lat_export *x, struct latency *l, uint64_t now_ns, uint64_t retain_ns);

/* Every series (as of the last sweep) and the exporter's own metrics. */
void lat_export_render(struct lat_export *x, struct latency *l, struct prom_buf *b);

#endif
