// SPDX-License-Identifier: GPL-2.0
/*
 * latency.bpf.c - per-query latency from the engine's uprobe points.
 *
 * idunno_query_start(job, query, batch, enqueue_ns, model) and
 * idunno_query_end(job, query, status, flags) are attached as uprobes.  At
 * start the ring wait (enqueue to start) is recorded and the start time
 * and batch kept per (process, job, query); at end the service time is
 * recorded and the batch's queries counted.  Histograms live in `lats`,
 * keyed by (engine process, job, model, cold), so several engines on one
 * machine (a local cluster) stay apart, and runs that built their plan
 * (flags LAT_COLD: the first at a batch size after a model load) stay out
 * of the warm histograms.  What cannot be kept (a full map) is counted in
 * `drops` (enum lat_drop).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "hist.h"

struct start_key {
	__u32 tgid;
	__u32 job;
	__u64 query;
};

struct start_val {
	__u64 ts;
	__u32 model;
	__u32 batch;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct start_key);
	__type(value, struct start_val);
} starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct lat_key);
	__type(value, struct lat_val);
} lats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LAT_DROP_MAX);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

static __always_inline void dropped(__u32 why)
{
	__u64 *n = bpf_map_lookup_elem(&drops, &why);

	if (n)
		*n += 1; /* per CPU: no other writer */
}

/* A zeroed value to create new entries from (too large for the stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lat_val);
} zero SEC(".maps");

static __always_inline struct lat_val *val_of(struct lat_key *k)
{
	struct lat_val *v = bpf_map_lookup_elem(&lats, k);
	__u32 z = 0;
	void *blank;

	if (v)
		return v;
	blank = bpf_map_lookup_elem(&zero, &z);
	if (!blank)
		return 0;
	bpf_map_update_elem(&lats, k, blank, BPF_NOEXIST);
	v = bpf_map_lookup_elem(&lats, k);
	if (!v)
		dropped(LAT_DROP_LATS_FULL);
	return v;
}

static __always_inline void record(struct hist *h, __u64 v)
{
	__u32 i = hist_bucket(v);

	/* The compiler can prove i < HIST_NBUCKETS and would drop the check;
	 * the verifier cannot. The barrier keeps the check in the code. */
	asm volatile("" : "+r"(i));
	if (i >= HIST_NBUCKETS)
		return;
	__sync_fetch_and_add(&h->b[i], 1);
	__sync_fetch_and_add(&h->sum, v);
	__sync_fetch_and_add(&h->count, 1);
}

SEC("uprobe")
int BPF_KPROBE(query_start, __u32 job, __u64 query, __u32 batch, __u64 enqueue_ns, __u32 model)
{
	__u64 now = bpf_ktime_get_ns();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct start_key sk = {.tgid = tgid, .job = job, .query = query};
	struct start_val sv = {.ts = now, .model = model, .batch = batch};

	if (bpf_map_update_elem(&starts, &sk, &sv, BPF_ANY))
		dropped(LAT_DROP_STARTS_FULL);
	if (enqueue_ns && enqueue_ns <= now) {
		struct lat_key k = {.tgid = tgid, .job = job, .model = model};
		struct lat_val *v = val_of(&k);
		if (v)
			record(&v->wait, now - enqueue_ns);
	}
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(query_end, __u32 job, __u64 query, __s32 status, __u32 flags)
{
	__u64 now = bpf_ktime_get_ns();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct start_key sk = {.tgid = tgid, .job = job, .query = query};
	struct start_val *sv = bpf_map_lookup_elem(&starts, &sk);
	struct lat_key k = {.tgid = tgid, .job = job, .cold = (flags & LAT_COLD) ? 1 : 0};
	struct lat_val *v;
	__u64 ts, batch;

	if (!sv)
		return 0; /* started before we attached */
	ts = sv->ts;
	k.model = sv->model;
	batch = sv->batch;
	bpf_map_delete_elem(&starts, &sk);
	v = val_of(&k);
	if (!v)
		return 0;
	record(&v->svc, now - ts);
	__sync_fetch_and_add(&v->queries, batch);
	if (status)
		__sync_fetch_and_add(&v->errors, batch);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
