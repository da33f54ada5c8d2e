/*
 * latency.h - loading the latency probes, and reading what they measured.
 *
 * The exporter calls latency_attach(): it loads the BPF programs, attaches
 * them to an engine binary (every process running it) and pins the
 * histogram map under a bpffs folder.  Readers (the exporter itself, the
 * agent's qjob command and scheduler) open the pinned map and walk it.
 */
#ifndef IDUNNO_LATENCY_H
#define IDUNNO_LATENCY_H

#include "hist.h"

#include <stddef.h>
#include <stdint.h>

#define LATENCY_PIN_DIR "/sys/fs/bpf/idunno"

struct latency;

#define LATENCY_MAX_ENTRIES 4096 /* the map's (engine, job, model, cold) entries */

/*
 * Loads and attaches the probes to binary, with room for max_entries
 * entries (0: LATENCY_MAX_ENTRIES), and pins the map at pin_dir/lats
 * (pin_dir NULL: no pin, the map is this process's alone).  A map pinned
 * there already is replaced when it is stale (left by an exporter that
 * was killed: no program uses it), and refused with -EBUSY when another
 * exporter still serves from it.  Returns 0, or a negative errno with err
 * filled: -EPERM when this process may not use BPF.
 */
int latency_attach(const char *binary, const char *pin_dir, unsigned max_entries,
		   struct latency **out, char *err, size_t errlen);
/*
 * Detaches and frees; unpins the map only if the pin is still its own
 * (and removes pin_dir only if it made it and it is empty).
 */
void latency_detach(struct latency *l);
/* The histogram map's fd (owned by l). */
int latency_fd(const struct latency *l);
/* The drop counters (enum lat_drop), summed over the CPUs. */
void latency_drops(const struct latency *l, uint64_t out[LAT_DROP_MAX]);
/*
 * Deletes every entry of engine process tgid (lats, and its runs in
 * flight): for a process that has exited.  Returns the lats entries deleted.
 */
int latency_forget(const struct latency *l, __u32 tgid);

/* Opens the map pinned under pin_dir. Returns an fd, or -errno. */
int latency_open_pinned(const char *pin_dir);

typedef int (*latency_fn)(const struct lat_key *k, const struct lat_val *v, void *arg);
/* Calls fn for every entry; stops at a non-zero return and returns it. */
int latency_foreach(int fd, latency_fn fn, void *arg);

/*
 * Sums one job's histograms over every engine process (tgid 0) or one,
 * and every model, into svc and wait.  Returns how many entries matched.
 */
int latency_job(int fd, __u32 tgid, __u32 job, struct hist *svc, struct hist *wait);

#endif
