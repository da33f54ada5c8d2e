/*
 * probe_coord.c - a stand-in coordinator for the worker's tests and
 * benchmark: it opens a task stream to one worker agent and drives it.
 * Not a test by itself (the runner runs test_* only).
 *
 *   probe_coord KEYFILE WORKER MEMBERS EPOCH run MODEL DATASET N BATCH
 *       N queries (ids 0..N-1, image i % images) in batches of BATCH, as
 *       many batches in flight as the worker's WELCOME offers
 *   probe_coord KEYFILE WORKER MEMBERS EPOCH express MODEL DATASET N BATCH
 *       N queries in batches of BATCH, all sent at once (beyond the slots),
 *       then one more query (id N) in an express DISPATCH ("express BATCH"
 *       says which): it should overtake the batches still waiting
 *   probe_coord KEYFILE WORKER MEMBERS EPOCH stale MODEL DATASET
 *       HELLO at EPOCH, then one DISPATCH at EPOCH - 1
 *   probe_coord KEYFILE WORKER MEMBERS EPOCH one MODEL VERSION DATASET IMAGE
 *       one query naming any model version and image, as given
 *
 * MEMBERS (a,b,...) are the agents the SDFS look-ups ask.  Prints one line
 * per event: "welcome STATUS EPOCH SLOTS ENGINE_OK", "answer ID STATUS
 * SERVICE_NS WAIT_NS C0 P0 ... C4 P4" (after "result BATCH LATENCY-SOURCE"),
 * "refuse BATCH ERROR REASON", and at
 * the end "done BATCHES QUERIES SECONDS"; exits 0 when every query was
 * answered exactly once (run), 1 otherwise.
 */
#include "core/conn.h"
#include "probe_client.h"
#include "core/loop.h"
#include "sdfs/sdfs_client.h"
#include "tasks/dataset.h"
#include "tasks/task_wire.h"
#include "util.h"
#include "wire/wire.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct wire_addr worker;
static uint64_t epoch; /* the coordinator epoch it claims */
static struct loop *loop;
static struct conns *conns;
static struct sdfs_client *sdfs;
static struct conn *stream;
static const char *mode, *model, *dataset;
static uint64_t model_version, index_version, nq, batch_size, sent, answered, batches, start_ns;
static uint32_t one_image;
static struct dataset_index ix;
static uint8_t *seen; /* answers per query id */
static int slots = 1, inflight, failed, lookups;
static uint8_t flags; /* of the next DISPATCH */

static void stop(int status)
{
	failed |= status;
	loop_stop(loop);
}

static void send_dispatch(uint64_t ep, uint64_t first, uint64_t n)
{
	struct task_dispatch *d = xcalloc(1, sizeof(*d));
	uint8_t buf[TASK_DISPATCH_MAX];
	int len;

	*d = (struct task_dispatch){.epoch = ep,
				    .batch = ++batches,
				    .job = 1,
				    .model_version = model_version,
				    .index_version = index_version,
				    .n = (uint16_t)n,
				    .flags = flags};
	snprintf(d->model, sizeof(d->model), "%s", model);
	snprintf(d->dataset, sizeof(d->dataset), "%s", dataset);
	for (uint64_t i = 0; i < n; i++) {
		uint32_t img =
			!strcmp(mode, "one") ? one_image : (uint32_t)((first + i) % ix.nimages);
		d->q[i] = (struct task_query){.id = first + i,
					      .shard = img < ix.nimages ? ix.images[img].shard : 0,
					      .image = img};
	}
	len = task_dispatch_encode(d, buf, sizeof(buf));
	free(d);
	if (len < 0 || conn_send_frame(stream, WIRE_RPC_REQ, buf, (size_t)len, 10000, 0))
		stop(1);
	inflight++;
}

/* Every batch at once, then the express one. */
static void fill_express(void)
{
	for (; sent < nq - 1; sent += MIN(batch_size, nq - 1 - sent))
		send_dispatch(epoch, sent, MIN(batch_size, nq - 1 - sent));
	flags = TASK_DISPATCH_EXPRESS;
	send_dispatch(epoch, sent++, 1);
	printf("express %llu\n", (unsigned long long)batches);
}

static void fill(void)
{
	while (!strcmp(mode, "run") && inflight < slots && sent < nq) {
		uint64_t n = MIN(batch_size, nq - sent);
		send_dispatch(epoch, sent, n);
		sent += n;
	}
}

static void on_frame(const uint8_t *p, size_t len)
{
	static struct task_result r;
	struct task_welcome w;
	struct task_refuse f;

	if (len && p[0] == TASK_WELCOME && task_welcome_decode(p, len, &w) == 0) {
		printf("welcome %d %llu %u %u\n", w.status, (unsigned long long)w.epoch, w.slots,
		       w.engine_ok);
		slots = w.slots ? w.slots : 1;
		if (w.status)
			stop(1);
		else if (!strcmp(mode, "stale"))
			send_dispatch(epoch - 1, 0, 1);
		else if (!strcmp(mode, "one"))
			send_dispatch(epoch, 0, 1);
		else if (!strcmp(mode, "express"))
			fill_express();
		else
			fill();
	} else if (len && p[0] == TASK_RESULT && task_result_decode(p, len, &r) == 0) {
		inflight--;
		printf("result %llu %s\n", (unsigned long long)r.batch,
		       task_lat_src_names[r.lat_src]);
		for (int i = 0; i < r.n; i++) {
			const struct task_answer *a = &r.a[i];
			printf("answer %llu %d %llu %llu", (unsigned long long)a->id, a->status,
			       (unsigned long long)a->service_ns, (unsigned long long)a->wait_ns);
			for (int k = 0; k < TASK_TOP; k++)
				printf(" %u %.6f", a->cls[k], (double)a->prob[k]);
			printf("\n");
			if (a->id < nq && seen[a->id]++ == 0)
				answered++;
			else
				failed = 1; /* an id never asked, or answered twice */
		}
		if ((strcmp(mode, "run") && strcmp(mode, "express")) || answered == nq)
			stop(0);
		else
			fill();
	} else if (len && p[0] == TASK_REFUSE && task_refuse_decode(p, len, &f) == 0) {
		printf("refuse %llu %d %s\n", (unsigned long long)f.batch, f.error, f.reason);
		stop(!strcmp(mode, "run") || !strcmp(mode, "express"));
	} else {
		printf("garbage from the worker (%zu bytes)\n", len);
		stop(1);
	}
	fflush(stdout);
}

static void on_stream(void *arg, struct conn *c, enum conn_ev ev, uint64_t tag, int res)
{
	struct wire_hdr h;
	const uint8_t *p;
	size_t len;

	(void)arg, (void)tag;
	if (ev == CONN_EV_CONNECTED && res == 0) {
		uint8_t buf[64];
		/* one coordinator address for every run of the stand-in: workers
		 * refuse a second coordinator of the same epoch (the tie-break) */
		struct task_hello hello = {.epoch = epoch, .coordinator = {0x7f0000fe, 7}};
		int n = task_hello_encode(&hello, buf, sizeof(buf));
		if (conn_send_frame(c, WIRE_RPC_REQ, buf, (size_t)n, 10000, 0) ||
		    conn_recv_frame(c, WIRE_HDR_LEN + TASK_RESULT_MAX + WIRE_TAG_LEN, 0, 0))
			stop(1);
		start_ns = util_now_ns();
	} else if (ev == CONN_EV_FRAME && res == 0) {
		conn_frame(c, &h, &p, &len);
		on_frame(p, len);
		if (!loop_stopping(loop) &&
		    conn_recv_frame(c, WIRE_HDR_LEN + TASK_RESULT_MAX + WIRE_TAG_LEN, 0, 0))
			stop(1);
	} else if (ev == CONN_EV_CLOSED) {
		stream = NULL;
	} else if (res < 0) {
		printf("stream: %s %s\n", conn_ev_names[ev], strerror(-res));
		stop(1);
	}
}

static void start_stream(void)
{
	if (conn_connect(conns, worker, 2000, on_stream, NULL, &stream))
		stop(1);
}

static void on_lookup(void *arg, int st, uint64_t version, uint64_t size, uint32_t crc,
		      uint8_t *data)
{
	char err[200];

	(void)crc;
	if (st) {
		printf("lookup of %s: %s\n", (const char *)arg, strerror(-st));
		stop(1);
	} else if (data) { /* the index */
		index_version = version;
		if (dataset_index_decode(data, size, &ix, err, sizeof(err))) {
			printf("index: %s\n", err);
			stop(1);
		}
	} else {
		model_version = version;
	}
	free(data);
	if (--lookups == 0 && !failed)
		start_stream();
}

int main(int argc, char **argv)
{
	struct conns_env cenv = {
		.key = &probe_key, .listen_fd = -1, .max_conns = 64, .seal = probe_seal};
	struct sdfs_client_env senv = {.key = &probe_key, .replicas = 4, .live = probe_live};
	static char mpath[160], ipath[160];
	int devnull;

	if (argc < 8 || wire_addr_parse(argv[2], 7600, &worker) ||
	    probe_init(argv[1], argv[3], 2)) {
		fprintf(stderr, "usage: see the top of tests/probe_coord.c\n");
		return 2;
	}
	cenv.self = probe_self; /* the worker answers to it */
	signal(SIGPIPE, SIG_IGN);
	epoch = strtoull(argv[4], NULL, 10);
	mode = argv[5];
	model = argv[6];
	if ((!strcmp(mode, "run") || !strcmp(mode, "express")) && argc == 10) {
		dataset = argv[7];
		nq = strtoull(argv[8], NULL, 10) + !strcmp(mode, "express");
		batch_size = strtoull(argv[9], NULL, 10);
	} else if (!strcmp(mode, "stale") && argc == 8) {
		dataset = argv[7];
		nq = 1;
		batch_size = 1;
	} else if (!strcmp(mode, "one") && argc == 10) {
		model_version = strtoull(argv[7], NULL, 10);
		dataset = argv[8];
		one_image = (uint32_t)strtoul(argv[9], NULL, 10);
		nq = 1;
	} else {
		fprintf(stderr, "usage: see the top of tests/probe_coord.c\n");
		return 2;
	}
	if (batch_size < 1 || batch_size > TASK_BATCH_MAX)
		batch_size = 1;
	seen = xcalloc(nq + 1, 1);
	if (loop_new(256, &loop) || conns_new(loop, &cenv, &conns))
		return 1;
	senv.loop = loop;
	senv.conns = conns;
	if (sdfs_client_new(&senv, &sdfs))
		return 1;
	/* the model's and the index's newest versions */
	devnull = open("/dev/null", O_WRONLY);
	snprintf(mpath, sizeof(mpath), "models/%s.safetensors", model);
	dataset_index_path(dataset, ipath, sizeof(ipath));
	lookups = 1;
	if (!model_version) {
		lookups++;
		sdfs_client_get(sdfs, mpath, 0, devnull, 0, on_lookup, mpath);
	}
	sdfs_client_get(sdfs, ipath, 0, -1, 64u << 20, on_lookup, ipath);
	loop_run(loop);
	printf("done %llu %llu %.3f\n", (unsigned long long)batches, (unsigned long long)answered,
	       (double)(util_now_ns() - start_ns) / 1e9);
	loop_free(loop);
	sdfs_client_free(sdfs);
	conns_free(conns);
	dataset_index_free(&ix);
	close(devnull);
	free(seen);
	return failed || ((!strcmp(mode, "run") || !strcmp(mode, "express")) && answered != nq);
}
