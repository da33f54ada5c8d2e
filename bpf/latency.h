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

#define LATENCY_PIN_DIR "/sys/fs/bpf/idunno"

struct latency;

/*
 * Loads and attaches the probes to binary and pins the map at
 * pin_dir/lats.  Returns 0, or a negative errno with err filled: -EPERM
 * when this process may not use BPF.
 */
int latency_attach(const char *binary, const char *pin_dir, struct latency **out, char *err,
		   size_t errlen);
/* Detaches, unpins and frees. */
void latency_detach(struct latency *l);
/* The histogram map's fd (owned by l). */
int latency_fd(const struct latency *l);

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
