/*
 * seeds_node.c - seeds of what a node reads from SDFS (the coordinator's
 * checkpoint, result parts), its own disk (store replica files), its
 * engine (the ring) and its metrics clients (HTTP request heads), made by
 * the project's own encoders and code (see seeds.c).
 */
#include "ring_int.h"
#include "sdfs/store.h"
#include "sdfs/store_int.h"
#include "seeds.h"
#include "tasks/coord_ckpt.h"
#include "tasks/coord_log.h"
#include "tasks/result_part.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void ckpt_seeds(void)
{
	static struct coord_rec rec;
	struct coord_state *s = coord_state_new();
	uint8_t *out;
	size_t len;

	coord_ckpt_encode(s, &out, &len);
	emit("coord_ckpt", "empty", out, len, NULL, 0);
	free(out);
	for (int i = 0; i < 3; i++) {
		rec = (struct coord_rec){.type = COORD_REC_JOB_LAUNCH, .seq = 1 + (uint64_t)i};
		snprintf(rec.job, sizeof(rec.job), "job-%d", i);
		rec.u.launch = (struct coord_job_settings){.model = "resnet18",
							   .model_version = 3,
							   .dataset = "imgs",
							   .index_version = 4,
							   .images = 100,
							   .batch = (uint16_t)(4 + i),
							   .weight = 1.5};
		memcpy(rec.u.launch.id, rec.job, sizeof(rec.job));
		coord_state_apply(s, &rec, NULL);
	}
	rec = (struct coord_rec){.type = COORD_REC_JOB_STOP, .seq = 4, .job = "job-1"};
	coord_state_apply(s, &rec, NULL);
	coord_ckpt_encode(s, &out, &len);
	emit("coord_ckpt", "three", out, len, NULL, 0);
	free(out);
	coord_state_free(s);
}

static void result_part_seeds(void)
{
	struct coord_result r = {.rseq = 42, .image = 7};
	char line[RESULT_PART_LINE_MAX];
	int n;

	r.a.qid = 7;
	r.a.worker = (struct wire_addr){0x7f000002, 7001};
	r.a.service_ns = 12345678;
	r.a.done_ms = 1796000000123ull;
	for (int k = 0; k < COORD_TOP; k++) {
		r.a.cls[k] = (uint16_t)(k * 199 + 3);
		r.a.prob[k] = 0.4f / (float)(k + 1);
	}
	/* the lines without their '\n', as the readers split them */
	n = result_part_line(&r, "img_0007.jpg", line, sizeof(line));
	emit("result_part", "dataset", line, (size_t)n - 1, NULL, 0);
	r.a.qid = COORD_QID_CLIENT | 5;
	r.client = 99;
	r.cqid = 123456789012ull;
	n = result_part_line(&r, "dir/\"q\"\x01.jpg", line, sizeof(line));
	emit("result_part", "client", line, (size_t)n - 1, NULL, 0);
	r = (struct coord_result){.rseq = 43, .a = {.qid = 8, .status = -EIO}};
	r.a.worker = (struct wire_addr){0x7f000003, 7002};
	n = result_part_line(&r, "img_0008.jpg", line, sizeof(line));
	emit("result_part", "failed", line, (size_t)n - 1, NULL, 0);
}

static void http_seeds(void)
{
	static const char *const heads[][2] = {
		{"get", "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9100\r\nAccept: */*\r\n\r\n"},
		{"head", "HEAD /metrics?x=1 HTTP/1.0\n\n"},
		{"post", "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n"},
		{"partial", "GET /metrics HTTP/1.1\r\nUser-Agent: Prometheus/2.45\r\n"},
	};

	for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++)
		emit("http_req", heads[i][0], heads[i][1], strlen(heads[i][1]), NULL, 0);
}

/* ---- the ring: patches as fuzz_ring.c reads them ---- */

static uint8_t ring_in[4096];
static size_t ring_len;

static void ring_patch(uint8_t region, size_t off, const void *p, size_t n)
{
	ring_in[ring_len++] = region;
	ring_in[ring_len++] = (uint8_t)off;
	ring_in[ring_len++] = (uint8_t)(off >> 8);
	ring_in[ring_len++] = (uint8_t)n;
	memcpy(ring_in + ring_len, p, n);
	ring_len += n;
}

/*
 * What a well-behaved engine writes: it takes the entries fuzz_ring
 * submits (n of them, byte 1 their batches), completes `done` of them and
 * reports model slot 1 (status st, message why), on a ring like the
 * target's; the bytes it wrote become the patches.
 */
static void ring_seed(const char *seed, uint32_t n, uint8_t sizes, uint32_t done, int st,
		      const char *why)
{
	char name[64];
	struct ring *r;
	struct ring_engine *e;
	struct ring_sqe q = {0};
	struct ring_hdr *h;
	struct ring_model *mo;
	uint32_t pid_gen[2] = {4242, 1}; /* not this process's pid: the same seeds each time */

	snprintf(name, sizeof(name), "fuzz-seeds-%d", (int)getpid());
	if (ring_create(name, 8, 4096, &r) || ring_attach(name, &e)) {
		fprintf(stderr, "fuzz_seeds: cannot make a ring\n");
		exit(1);
	}
	for (uint32_t i = 0; i < n; i++) {
		struct ring_sqe s = {.query = 100 + i,
				     .job = 7,
				     .batch = 1 + ((sizes >> (2 * (i & 3))) & 3),
				     .flags = RING_F_JPEG};
		ring_reserve(r, &s);
		ring_submit(r, &s);
	}
	ring_set_model(r, 1, "resnet18", "/w/resnet18.safetensors");
	h = r->v.h;
	for (uint32_t i = 0; i < n && ring_next(e, &q, 0) != -ETIMEDOUT;)
		if (q.batch) { /* -EAGAIN (the model table changed) returns no entry */
			struct ring_cqe c = {.seq = q.seq,
					     .query = q.query,
					     .job = q.job,
					     .status = i ? 0 : -EBADMSG,
					     .batch = q.batch,
					     .gen = ring_gen(e),
					     .out_off = q.out_off,
					     .enqueue_ns = 1000 + q.seq}; /* fixed seeds */
			if (i++ < done)
				ring_complete(e, &c);
			q.batch = 0;
		}
	ring_model_report(e, 1, ring_model_gen(e, 1), st, why);
	ring_len = 0;
	ring_in[ring_len++] = (uint8_t)n;
	ring_in[ring_len++] = sizes;
	ring_patch(0, offsetof(struct ring_hdr, cq_tail), &h->cq_tail, 4);
	ring_patch(0, offsetof(struct ring_hdr, engine_pid), pid_gen, 8);
	ring_patch(0, offsetof(struct ring_hdr, busy_since), &h->busy_since, 16);
	if (done)
		ring_patch(1, 0, r->v.cq, done * sizeof(struct ring_cqe));
	mo = &h->models[1];
	ring_patch(2, (size_t)((uint8_t *)&mo->vseq - (uint8_t *)h->models), &mo->vseq, 16);
	ring_patch(2, (size_t)((uint8_t *)mo->err - (uint8_t *)h->models), mo->err,
		   strlen(mo->err) + 1);
	emit("ring", seed, ring_in, ring_len, NULL, 0);
	ring_detach(e);
	ring_destroy(r);
}

static void ring_seeds(void)
{
	ring_seed("three", 3, 0x24, 3, 0, NULL);
	ring_seed("one_of_four", 4, 0xe4, 1, -EINPROGRESS, NULL);
	ring_seed("model_error", 2, 0x01, 2, -EINVAL, "resnet18: fc.weight: 2 dims, not 2");
}

/* Replica files as the store writes them (empty, small, a few KiB). */
static void store_seeds(void)
{
	static uint8_t content[3000];
	const size_t sizes[] = {0, 100, sizeof(content)};
	char sdir[64], f[600], path[700], err[256];
	struct store *s;
	struct store_writer *w;

	for (size_t i = 0; i < sizeof(content); i++)
		content[i] = (uint8_t)(i * 13);
	snprintf(sdir, sizeof(sdir), "/dev/shm/fuzz-seeds-store-%d", (int)getpid());
	if (store_open(sdir, &s, err, sizeof(err))) {
		fprintf(stderr, "fuzz_seeds: store: %s\n", err);
		exit(1);
	}
	for (int i = 0; i < 3; i++) {
		char seed[16];
		if (store_write_begin(s, "f", 1 + (uint64_t)i, &w) ||
		    store_write(w, content, sizes[i]) || store_write_commit(w)) {
			fprintf(stderr, "fuzz_seeds: cannot write a replica\n");
			exit(1);
		}
		store_file_of("f", 1 + (uint64_t)i, f, sizeof(f));
		snprintf(path, sizeof(path), "%s/%s", sdir, f);
		snprintf(seed, sizeof(seed), "size%zu", sizes[i]);
		file_seed("store_file", seed, path);
		unlink(path);
	}
	store_close(s);
	rmdir(sdir);
}

void node_seeds(void)
{
	ckpt_seeds();
	result_part_seeds();
	http_seeds();
	ring_seeds();
	store_seeds();
}
