/*
 * fuzz_ring.c - the agent's side of the shared-memory ring to its engine
 * (common/ring.c, ring_table.c), against an engine process that writes
 * anything into the memory it shares (a bug, or a hostile weights or JPEG
 * file that took it over): the engine's process may write any byte of
 * the mapping, the completion queue and its index, the model slots'
 * status and messages, and the header the owner wrote.
 *
 * Each input: byte 0 says how many JPEG entries to submit (0..7, batches
 * of 1..4 from byte 1); then patches, each a region byte (header, CQ and
 * its index, model table, data area, anywhere), a u16 offset into the
 * region, a length byte and that many bytes, written over the mapping.
 * The owner then reaps, reads every model slot, recovers as after the
 * engine's death, reaps, and submits until the ring is full.  Holds:
 * every completion reaped is that of an entry submitted and not yet
 * reaped, with the entry's own batch and results area (inside the data
 * area), and a status of 0 or -errno, and so is each image's result as the
 * worker takes it (ring_result_take), its classes and probabilities in
 * range; a model slot's message is a
 * terminated string; a reap does a bounded amount of work; a submit finds
 * its slot free; nothing reads or writes out of bounds.
 */
#include "fuzz.h"
#include "ring_int.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#define SLOTS 8
#define DATA  4096

struct sent {
	struct ring_sqe e;
	int reaped;
};

static void check_reaped(struct ring *r, struct sent *s, int ns, const struct ring_cqe *c, int n)
{
	const struct ring_result *res;
	struct ring_result one;

	for (int i = 0; i < n; i++) {
		int k;
		for (k = 0; k < ns && s[k].e.seq != c[i].seq; k++)
			;
		FUZZ_ASSERT(k < ns && !s[k].reaped);
		s[k].reaped = 1;
		FUZZ_ASSERT(c[i].query == s[k].e.query && c[i].job == s[k].e.job);
		FUZZ_ASSERT(c[i].batch == s[k].e.batch && c[i].out_off == s[k].e.out_off);
		FUZZ_ASSERT(c[i].out_off + c[i].batch * sizeof(struct ring_result) <= DATA);
		FUZZ_ASSERT(c[i].status <= 0 && c[i].status > -4096);
		/* each image's result, as the worker takes it */
		res = (const struct ring_result *)((uint8_t *)ring_data(r) + c[i].out_off);
		for (uint32_t b = 0; b < c[i].batch; b++) {
			int st = ring_result_take(&res[b], &one);
			FUZZ_ASSERT(st == one.status && st <= 0 && st > -4096);
			for (int k = 0; k < 5; k++)
				FUZZ_ASSERT(st ? one.idx[k] == -1 && one.prob[k] == 0
					       : one.idx[k] >= 0 && one.idx[k] < RING_CLASSES &&
							    one.prob[k] >= 0 && one.prob[k] <= 1);
		}
	}
}

static int submit(struct ring *r, struct sent *s, int *ns, uint32_t batch)
{
	struct ring_sqe e = {
		.query = 100 + (uint64_t)*ns, .job = 7, .batch = batch, .flags = RING_F_JPEG};

	if (ring_reserve(r, &e))
		return -1;
	FUZZ_ASSERT(ring_submit(r, &e) == 0);
	FUZZ_ASSERT(e.out_off + batch * sizeof(struct ring_result) <= DATA);
	s[(*ns)++] = (struct sent){.e = e};
	return 0;
}

static void reap_all(struct ring *r, struct sent *s, int ns)
{
	struct ring_cqe c[4];
	int n;

	for (int round = 0; round < 2 * SLOTS + 2; round++) {
		n = ring_reap(r, c, 4);
		FUZZ_ASSERT(n >= 0 && n <= 4);
		check_reaped(r, s, ns, c, n);
		if (n == 0)
			break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sent s[4 * SLOTS];
	uint8_t *m;
	size_t off = 2;
	struct ring *r;
	char name[64], err[RING_ERR_MAX + 8];
	int ns = 0;

	if (size < 2)
		return 0;
	snprintf(name, sizeof(name), "fuzz-ring-%d", (int)getpid());
	FUZZ_ASSERT(ring_create(name, SLOTS, DATA, &r) == 0);
	shm_unlink(r->name); /* mapped already: a crash leaves no name behind */
	m = (uint8_t *)r->v.h;
	for (uint32_t i = 0; i < (data[0] & 7u); i++)
		submit(r, s, &ns, 1 + ((data[1] >> (2 * (i & 3))) & 3));
	ring_set_model(r, 1, "resnet18", "/w/resnet18.safetensors");
	while (off + 4 <= size) {
		size_t base = 0, span = r->v.map_len, at, len = data[off + 3];
		switch (data[off] % 5) {
		case 0: /* the header's scalars and queue indices */
			span = offsetof(struct ring_hdr, models);
			break;
		case 1: /* the completion queue */
			base = (size_t)((uint8_t *)r->v.cq - m);
			span = SLOTS * sizeof(struct ring_cqe);
			break;
		case 2: /* the model table */
			base = offsetof(struct ring_hdr, models);
			span = sizeof(r->v.h->models);
			break;
		case 3: /* the data area */
			base = (size_t)(r->v.data - m);
			span = DATA;
			break;
		default:
			break;
		}
		at = base + (data[off + 1] | (size_t)data[off + 2] << 8) % span;
		off += 4;
		len = len < size - off ? len : size - off;
		if (len > r->v.map_len - at)
			len = r->v.map_len - at;
		memcpy(m + at, data + off, len);
		off += len;
	}
	reap_all(r, s, ns);
	for (uint32_t slot = 0; slot < RING_MAX_MODELS + 1; slot++) {
		uint32_t gen;
		int st = ring_model_status(r, slot, &gen);
		memset(err, 'x', sizeof(err));
		FUZZ_ASSERT(ring_model_error(r, slot, err, RING_ERR_MAX) == st);
		FUZZ_ASSERT(memchr(err, '\0', RING_ERR_MAX) != NULL);
	}
	(void)ring_model_loading(r);
	(void)ring_engine_busy_since(r);
	(void)ring_completed(r);
	FUZZ_ASSERT(ring_recover(r) <= SLOTS);
	reap_all(r, s, ns);
	for (int i = 0; i <= SLOTS; i++) /* until the ring is full */
		submit(r, s, &ns, 1 + (uint32_t)i % 4);
	reap_all(r, s, ns);
	FUZZ_ASSERT(ring_inflight(r) <= SLOTS);
	ring_destroy(r);
	return 0;
}
