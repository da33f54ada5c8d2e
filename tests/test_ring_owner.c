/*
 * Description: the agent's side of the engine ring against an engine that
 * writes anything into the shared memory (no engine process: the test
 * writes as one would): a completion's query, job, batch and results
 * offset are the entry's own whatever the engine wrote, and a positive
 * status reads -EIO; a completion index moved four billion entries ahead
 * is read as one queue's worth at most (dropped ones counted); a header
 * whose slot count, data size and submission index were overwritten
 * leaves reserve, submit, reap and recover inside the ring's memory; an
 * entry completed before older ones does not free a slot they hold; an
 * image's result with a class or probability out of range, or a positive
 * status, reads -EIO.
 * (Each was found by tests/fuzz/fuzz_ring.c; its inputs are in
 * tests/fuzz/regress/ring/.)
 */
#include "check.h"
#include "ring_int.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define SLOTS 8
#define DATA  4096

static struct ring *make(const char *what, struct ring_sqe *e, int n)
{
	char name[64];
	struct ring *r;

	snprintf(name, sizeof(name), "t-owner-%s-%d", what, (int)getpid());
	REQUIRE(ring_create(name, SLOTS, DATA, &r) == 0, "create");
	for (int i = 0; i < n; i++) {
		e[i] = (struct ring_sqe){.query = 100 + (uint64_t)i,
					 .job = 7,
					 .batch = 1 + (uint32_t)i,
					 .flags = RING_F_JPEG};
		REQUIRE(ring_reserve(r, &e[i]) == 0 && ring_submit(r, &e[i]) == 0, "submit %d", i);
	}
	return r;
}

static void cqe_fields(void)
{
	struct ring_sqe e[3];
	struct ring *r = make("cqe", e, 3);
	struct ring_cqe c[4];
	int n;

	r->v.cq[0] = (struct ring_cqe){.seq = e[1].seq,
				       .query = 999,
				       .job = 5,
				       .status = 7,
				       .batch = 1000,
				       .out_off = 1ull << 40};
	atomic_store(&r->v.h->cq_tail.v, 1);
	n = ring_reap(r, c, 4);
	REQUIRE(n == 1, "reaped %d", n);
	CHECK(c[0].seq == e[1].seq && c[0].query == e[1].query && c[0].job == e[1].job,
	      "query %llu job %u", (unsigned long long)c[0].query, c[0].job);
	CHECK(c[0].batch == e[1].batch && c[0].out_off == e[1].out_off,
	      "batch %u out_off %llu, want %u %llu", c[0].batch, (unsigned long long)c[0].out_off,
	      e[1].batch, (unsigned long long)e[1].out_off);
	CHECK(c[0].status == -EIO, "status %d", c[0].status);
	CHECK(ring_inflight(r) == 2, "inflight %u", ring_inflight(r));
	ring_destroy(r);
	printf("ok   a completion's fields are the entry's own; a positive status reads -EIO\n");
}

static void cq_tail_far(void)
{
	struct ring_sqe e[3];
	struct ring *r = make("tail", e, 3);
	struct ring_cqe c[4];
	int n;

	for (int i = 0; i < SLOTS; i++)
		r->v.cq[i].seq = UINT64_MAX; /* no entry's */
	atomic_store(&r->v.h->cq_tail.v, 0xfffffff0u);
	n = ring_reap(r, c, 4);
	CHECK(n == 0, "reaped %d from garbage", n);
	CHECK(ring_duplicates(r) == 0xfffffff0ull, "dropped %llu",
	      (unsigned long long)ring_duplicates(r));
	CHECK(atomic_load(&r->v.h->cq_head.v) == 0xfffffff0u, "head %u",
	      atomic_load(&r->v.h->cq_head.v));
	/* and the same through a recovery */
	atomic_store(&r->v.h->cq_tail.v, 0x7ffffff0u);
	CHECK(ring_recover(r) == 3, "recover resubmits the three");
	ring_destroy(r);
	printf("ok   a completion index far ahead costs one queue's worth of reading\n");
}

static void header(void)
{
	struct ring_sqe e[3], more;
	struct ring *r = make("hdr", e, 3);
	struct ring_cqe c[4];

	r->v.h->nslots = 0xffffffffu;
	r->v.h->data_size = 1ull << 40;
	atomic_store(&r->v.h->sq_tail.v, 0x10000000u);
	r->v.cq[0] = (struct ring_cqe){.seq = e[2].seq};
	atomic_store(&r->v.h->cq_tail.v, 1);
	CHECK(ring_reap(r, c, 4) == 1 && c[0].seq == e[2].seq, "reap");
	CHECK(ring_recover(r) == 2, "recover");
	for (int i = 0; i < 40; i++) {
		more = (struct ring_sqe){
			.query = 200 + (uint64_t)i, .batch = 4, .flags = RING_F_JPEG};
		if (ring_reserve(r, &more))
			break;
		CHECK(more.in_off < DATA && more.out_off + 4 * sizeof(struct ring_result) <= DATA,
		      "entry %d at %llu..%llu, past the %d bytes", i,
		      (unsigned long long)more.in_off, (unsigned long long)more.out_off, DATA);
		CHECK(ring_submit(r, &more) == 0, "submit");
	}
	/* seq 0 and 1 never completed: their slots stay taken */
	CHECK(ring_inflight(r) == SLOTS - 1, "inflight %u", ring_inflight(r));
	ring_destroy(r);
	printf("ok   an overwritten header leaves the owner inside its memory\n");
}

static void results(void)
{
	struct ring_result ok = {.idx = {1, 2, 3, 4, 999}, .prob = {0.5f, 0.2f, 0.1f, 0.1f, 0}},
			   bad, out;
	float nan = __builtin_nanf("");

	CHECK(ring_result_take(&ok, &out) == 0 && !memcmp(&out, &ok, sizeof(ok)), "a good result");
	bad = ok, bad.idx[4] = 1000;
	CHECK(ring_result_take(&bad, &out) == -EIO && out.idx[0] == -1, "class 1000");
	bad = ok, bad.idx[0] = -1;
	CHECK(ring_result_take(&bad, &out) == -EIO, "class -1 with status 0");
	bad = ok, bad.prob[2] = nan;
	CHECK(ring_result_take(&bad, &out) == -EIO, "a NaN probability");
	bad = ok, bad.prob[2] = 1.5f;
	CHECK(ring_result_take(&bad, &out) == -EIO && out.prob[0] == 0, "a probability of 1.5");
	bad = ok, bad.status = 7;
	CHECK(ring_result_take(&bad, &out) == -EIO, "a positive status");
	bad = ok, bad.status = -EBADMSG;
	CHECK(ring_result_take(&bad, &out) == -EBADMSG && out.idx[3] == -1, "a failed image");
	printf("ok   an image's result with a class or probability out of range reads -EIO\n");
}

int main(void)
{
	cqe_fields();
	cq_tail_far();
	header();
	results();
	return t_result();
}
