/*
 * hist.h - latency histograms shared by the BPF programs (kernel side),
 * the exporter and the agent (user side), and the engine-timestamp
 * fallback.  It compiles for both targets: plain integer types, no
 * library calls, no loops.
 *
 * Buckets are log2 with 16 linear sub-buckets: values below 16 have a
 * bucket each; above, bucket [ (16+s) << (e-4), (17+s) << (e-4) ) holds
 * values whose top bit is e and next four bits are s.  A bucket is at most
 * 1/16 of its lower bound wide, so a quantile read from the histogram is
 * within 6.25 % of the true one.  Values are nanoseconds, up to 2^41
 * (36 minutes); larger ones land in the last bucket.  The mean is exact
 * (from the sum); the std is computed from bucket midpoints, so it carries
 * up to half a bucket (about 3 % of the values) of error.
 */
#ifndef IDUNNO_HIST_H
#define IDUNNO_HIST_H

#ifndef __bpf__
#include <linux/types.h>
#endif

#define HIST_SUB_BITS 4
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_MAX_EXP  40
#define HIST_NBUCKETS (HIST_SUB + (HIST_MAX_EXP - HIST_SUB_BITS + 1) * HIST_SUB)

struct hist {
	__u64 count;
	__u64 sum; /* of the values, ns */
	__u64 b[HIST_NBUCKETS];
};

/* What the BPF side keeps per (engine process, job, model). */
struct lat_key {
	__u32 tgid; /* the engine process: one per node */
	__u32 job;
	__u32 model; /* enum model_id; MODEL_MAX when unknown */
	__u32 cold;  /* 1: runs that built their plan (LAT_COLD); svc only */
};

/*
 * One engine run (a batch of 1..N queries) is one observation of svc and
 * wait; queries counts the queries (images) in them.
 */
struct lat_val {
	struct hist svc;  /* query start to end, in the engine */
	struct hist wait; /* enqueued on the ring to start (in the cold = 0 entry) */
	__u64 errors;	  /* queries of runs that ended with a non-zero status */
	__u64 queries;	  /* queries (images) of the runs, errors included */
};

/* idunno_query_end's flags (engine/probes.h): the run built its plan. */
#define LAT_COLD 1u

/* The BPF side's drop counters (the `drops` array, one slot each). */
enum lat_drop {
	LAT_DROP_LATS_FULL,   /* an observation lost: no room for its (engine, job, model) entry */
	LAT_DROP_STARTS_FULL, /* a run's start lost: too many runs in flight */
	LAT_DROP_MAX
};

/* floor(log2(v)) for v > 0, without loops (the BPF verifier's friend). */
static inline __u32 hist_log2(__u64 v)
{
	__u32 r, s;

	r = (v > 0xffffffffULL) << 5;
	v >>= r;
	s = (v > 0xffff) << 4;
	v >>= s;
	r |= s;
	s = (v > 0xff) << 3;
	v >>= s;
	r |= s;
	s = (v > 0xf) << 2;
	v >>= s;
	r |= s;
	s = (v > 0x3) << 1;
	v >>= s;
	r |= s;
	r |= (__u32)(v >> 1);
	return r;
}

static inline __u32 hist_bucket(__u64 v)
{
	__u32 e;

	if (v < HIST_SUB)
		return (__u32)v;
	e = hist_log2(v);
	if (e > HIST_MAX_EXP)
		return HIST_NBUCKETS - 1;
	return HIST_SUB + (e - HIST_SUB_BITS) * HIST_SUB +
	       (__u32)((v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1));
}

/* The smallest value of bucket i. */
static inline __u64 hist_bucket_low(__u32 i)
{
	__u32 e, s;

	if (i < HIST_SUB)
		return i;
	e = (i - HIST_SUB) / HIST_SUB + HIST_SUB_BITS;
	s = (i - HIST_SUB) % HIST_SUB;
	return (__u64)(HIST_SUB + s) << (e - HIST_SUB_BITS);
}

#ifndef __bpf__
#include <stdint.h>

/* Summary of a histogram, in nanoseconds. */
struct hist_stats {
	uint64_t count;
	double mean, std;
	double p50, p90, p95, p99;
};

/* Adds one value (the user-side fallback fills histograms this way). */
void hist_record(struct hist *h, uint64_t v);
void hist_merge(struct hist *dst, const struct hist *src);
/* Quantile q in [0,1], interpolated within its bucket; 0 when empty. */
double hist_quantile(const struct hist *h, double q);
void hist_stats(const struct hist *h, struct hist_stats *out);
/* Count of values below 2^e ns (exact: powers of two are bucket bounds). */
uint64_t hist_count_below_pow2(const struct hist *h, unsigned e);

/*
 * The Prometheus `le` bounds both endpoints export: every bucket bound
 * from 2^HIST_LE_MIN_EXP ns (8.2 us) to 2^HIST_LE_MAX_EXP ns (68.7 s),
 * 16 an octave, so histogram_quantile() is as close as hist_quantile()
 * (within 6.25 %) over that range.
 */
#define HIST_LE_MIN_EXP 13
#define HIST_LE_MAX_EXP 36
#define HIST_LE_N	((HIST_LE_MAX_EXP - HIST_LE_MIN_EXP) * HIST_SUB + 1)
/* The k-th bound, ns (k < HIST_LE_N). */
uint64_t hist_le_bound(unsigned k);
/* below[k]: the count of values below hist_le_bound(k), for every k. */
void hist_le_counts(const struct hist *h, uint64_t below[HIST_LE_N]);
#endif

#endif
