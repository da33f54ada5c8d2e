/*
 * seeds.c - writes the fuzz targets' seed corpora (valid inputs made by
 * the project's own encoders) into DIR/TARGET/NAME.  `make fuzz-seeds`
 * runs it into tests/fuzz/corpus, which is committed.  The seeds of what
 * a node reads from SDFS, its disk, its engine and its metrics clients
 * are in seeds_node.c.
 *
 *   fuzz_seeds DIR
 */
#include "ctl/rpc.h"
#include "image.h"
#include "membership/swim.h"
#include "safetensors.h"
#include "sdfs/sdfs_wire.h"
#include "seeds.h"
#include "tasks/coord_log.h"
#include "tasks/coord_rpc.h"
#include "tasks/dataset.h"
#include "tasks/repl_wire.h"
#include "tasks/submit_wire.h"
#include "tasks/task_wire.h"
#include "util.h"
#include "wire/wire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>

static const char *dir;
static int written;

void emit(const char *target, const char *name, const void *a, size_t n, const void *b, size_t m)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, target);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", dir, target, name);
	f = fopen(path, "wb");
	if (!f || fwrite(a, 1, n, f) != n || (m && fwrite(b, 1, m, f) != m) || fclose(f)) {
		fprintf(stderr, "fuzz_seeds: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	written++;
}

/* a selector byte, then n bytes */
void emit_sel(const char *target, const char *name, uint8_t sel, const void *p, int n)
{
	if (n < 0) {
		fprintf(stderr, "fuzz_seeds: cannot encode %s/%s\n", target, name);
		exit(1);
	}
	emit(target, name, &sel, 1, p, (size_t)n);
}

static void wire_seeds(void)
{
	struct wire_key key;
	struct swim_msg m = {.type = WIRE_PING, .seq = 9, .nupdates = 2};
	struct wire_hdr h = {.sender = {0x7f000002, 7600},
			     .epoch = 5,
			     .seq = 1,
			     .sent_ms = 1000,
			     .to = {0x7f000001, 7600}};
	uint8_t body[WIRE_MAX_DATAGRAM], f[WIRE_MAX_DATAGRAM + 100];
	int n;

	memset(key.k, 0x5a, sizeof(key.k));
	m.updates[0] = (struct swim_update){{0x7f000003, 7600}, SWIM_ALIVE, 7, {0, 0}};
	m.updates[1] =
		(struct swim_update){{0x7f000004, 7600}, SWIM_SUSPECT, 8, {0x7f000002, 7600}};
	for (int t = WIRE_PING; t <= WIRE_GOSSIP; t++) {
		char name[32];
		m.type = (uint8_t)t;
		m.flags = t == WIRE_STATE ? SWIM_F_REPLY : 0;
		m.target = (struct wire_addr){0x7f000005, 7600};
		n = swim_msg_encode(&m, body, sizeof(body));
		snprintf(name, sizeof(name), "type%d", t);
		emit_sel("swim", name, (uint8_t)t, body, n);
		h.type = (uint8_t)t;
		n = wire_seal(&key, &h, body, (size_t)n, f, sizeof(f));
		emit("frame", name, f, (size_t)n, NULL, 0);
	}
	h.type = WIRE_RPC_REQ;
	n = wire_seal(&key, &h, "\x01", 1, f, sizeof(f));
	emit("frame", "rpc", f, (size_t)n, NULL, 0);
}

static void rpc_seeds(void)
{
	struct rpc_req r = {.cmd = RPC_GREP, .flags = 1, .arglen = 5, .arg = "error"};
	struct swim_member m[2] = {{{0x7f000001, 7600}, SWIM_ALIVE, 5, 0},
				   {{0x7f000002, 7600}, SWIM_SUSPECT, 6, 0}};
	uint8_t buf[2048];

	emit_sel("rpc", "req", 0, buf, rpc_req_encode(&r, buf, sizeof(buf)));
	/* answers' bodies after their status byte, as the CLI decodes them */
	emit_sel("rpc", "members", 1, buf + 1, rpc_members_encode(0, m, 2, buf, sizeof(buf)) - 1);
	rpc_grep_head_encode(0, 2, buf);
	memcpy(buf + RPC_GREP_HEAD, "a\nb\n", 4);
	emit_sel("rpc", "grep", 2, buf, RPC_GREP_HEAD + 4);
	emit_sel("rpc", "self", 3, buf + 1,
		 rpc_self_encode(m, "engine ok\n", buf, sizeof(buf)) - 1);
}

static void sdfs_seeds(void)
{
	struct sdfs_req r = {
		.cmd = SDFS_WRITE, .version = 7, .size = 3u << 20, .want = 4, .ncand = 2};
	struct sdfs_ready rd = {.version = 9, .nreps = 2, .reps = {{1, 2}, {3, 4}}};
	struct sdfs_list_enc le;
	struct wire_key key;
	uint8_t buf[4096], sid[SDFS_SID_LEN] = {7}, frame[CHUNK_HDR + 64 + CHUNK_TAG];
	uint64_t v[3] = {30, 20, 10};

	strcpy(r.name, "models/resnet18.safetensors");
	r.cand[0] = (struct wire_addr){0x7f000002, 7600};
	r.cand[1] = (struct wire_addr){0x7f000003, 7600};
	for (int c = SDFS_WRITE; c < SDFS_CMD_END; c++) {
		char name[32];
		r.cmd = (uint8_t)c;
		snprintf(name, sizeof(name), "cmd%d", c);
		emit("sdfs_req", name, buf, (size_t)sdfs_req_encode(&r, buf, sizeof(buf)), NULL, 0);
	}
	emit_sel("sdfs_ans", "status", 0, buf, sdfs_status_encode(ENOSPC, "no space", buf, 4096));
	emit_sel("sdfs_ans", "ready", 1, buf, sdfs_ready_encode(&rd, buf, sizeof(buf)));
	emit_sel("sdfs_ans", "read", 2, buf, sdfs_read_ans_encode(5, 1234, buf, sizeof(buf)));
	emit_sel("sdfs_ans", "stat", 3, buf, sdfs_stat_encode(v, 3, 5, buf, sizeof(buf)));
	sdfs_list_begin(&le, buf, sizeof(buf));
	sdfs_list_add(&le, "a/b", 3, 100);
	sdfs_list_add(&le, "c", 4, SDFS_TOMB_SIZE);
	emit_sel("sdfs_ans", "list", 4, buf, (int)sdfs_list_end(&le));
	emit_sel("sdfs_ans", "delete", 5, buf, sdfs_delete_ans_encode(2, buf, sizeof(buf)));
	emit_sel("sdfs_ans", "commit", 6, buf, sdfs_commit_encode(sid, buf, sizeof(buf)));
	memset(key.k, 0x5a, sizeof(key.k));
	memset(frame + CHUNK_HDR, 'x', 64);
	chunk_seal(&key, sid, 0, frame, 64, store_crc32c(0, frame + CHUNK_HDR, 64));
	emit_sel("sdfs_ans", "chunk", 7, frame, (int)sizeof(frame));
}

static void task_seeds(void)
{
	static struct task_dispatch d = {.epoch = 3,
					 .batch = 9,
					 .job = 1,
					 .model = "resnet18",
					 .model_version = 4,
					 .dataset = "imgs",
					 .index_version = 5,
					 .n = 2};
	static struct task_result r = {.epoch = 3, .batch = 9, .job = 1, .n = 1};
	static uint8_t buf[TASK_DISPATCH_MAX + 64 * TASK_BATCH_MAX];
	struct task_hello h = {.epoch = 3, .coordinator = {0x7f000001, 7600}};
	struct task_welcome w = {.epoch = 3, .slots = 2, .engine_ok = 1};
	struct task_refuse f = {.epoch = 3, .batch = 9, .error = -EINVAL, .reason = "no"};

	d.q[0] = (struct task_query){1, 0, 0};
	d.q[1] = (struct task_query){2, 0, 1};
	r.a[0] = (struct task_answer){.id = 1,
				      .service_ns = 5,
				      .cls = {1, 2, 3, 4, 5},
				      .prob = {0.5f, 0.2f, 0.1f, 0.1f, 0.05f}};
	emit_sel("task_wire", "hello", 0, buf, task_hello_encode(&h, buf, sizeof(buf)));
	emit_sel("task_wire", "welcome", 1, buf, task_welcome_encode(&w, buf, sizeof(buf)));
	emit_sel("task_wire", "dispatch", 2, buf, task_dispatch_encode(&d, buf, sizeof(buf)));
	d.flags = TASK_DISPATCH_EXPRESS;
	emit_sel("task_wire", "dispatch_express", 2, buf,
		 task_dispatch_encode(&d, buf, sizeof(buf)));
	emit_sel("task_wire", "result", 3, buf, task_result_encode(&r, buf, sizeof(buf)));
	emit_sel("task_wire", "refuse", 4, buf, task_refuse_encode(&f, buf, sizeof(buf)));
}

static void coord_seeds(void)
{
	static struct coord_rec rec;
	static uint8_t buf[COORD_REC_MAX];
	struct coord_rpc_req q = {.batch = 8,
				  .weight_milli = 1500,
				  .from = 3,
				  .job = "j1",
				  .model = "resnet18",
				  .dataset = "imgs"};
	struct coord_state *s = coord_state_new();
	uint8_t *snap;
	size_t len;
	int n;

	for (int c = COORD_RPC_LAUNCH; c < COORD_RPC_END; c++) {
		char name[32];
		q.cmd = (uint8_t)c;
		snprintf(name, sizeof(name), "cmd%d", c);
		emit("coord_rpc", name, buf, (size_t)coord_rpc_req_encode(&q, buf, sizeof(buf)),
		     NULL, 0);
	}
	rec = (struct coord_rec){.type = COORD_REC_JOB_LAUNCH, .seq = 1, .job = "j1"};
	rec.u.launch = (struct coord_job_settings){.id = "j1",
						   .model = "resnet18",
						   .model_version = 3,
						   .dataset = "imgs",
						   .index_version = 4,
						   .images = 100,
						   .batch = 4,
						   .weight = 1};
	emit("coord_rec", "launch", buf, (size_t)coord_rec_encode(&rec, buf, sizeof(buf)), NULL, 0);
	coord_state_apply(s, &rec, NULL);
	rec = (struct coord_rec){.type = COORD_REC_QUERIES_ACCEPTED, .seq = 2, .job = "j1"};
	rec.u.accept.client = 5;
	rec.u.accept.n = 2;
	rec.u.accept.q[0] = (struct coord_accept_q){1, 3};
	rec.u.accept.q[1] = (struct coord_accept_q){2, 4};
	emit("coord_rec", "accept", buf, (size_t)coord_rec_encode(&rec, buf, sizeof(buf)), NULL, 0);
	coord_state_apply(s, &rec, NULL);
	rec = (struct coord_rec){.type = COORD_REC_JOB_BATCH, .seq = 3, .job = "j1", .u.batch = 8};
	emit("coord_rec", "batch", buf, (size_t)coord_rec_encode(&rec, buf, sizeof(buf)), NULL, 0);
	rec = (struct coord_rec){.type = COORD_REC_RESULTS, .seq = 3, .job = "j1"};
	rec.u.results.n = 1;
	rec.u.results.a[0] = (struct coord_answer){.qid = COORD_QID_CLIENT | 1,
						   .worker = {0x7f000002, 7600},
						   .service_ns = 7,
						   .cls = {1, 2, 3, 4, 5},
						   .prob = {0.5f, 0.2f, 0.1f, 0.1f, 0.05f}};
	n = coord_rec_encode(&rec, buf, sizeof(buf));
	emit("coord_rec", "results", buf, (size_t)n, NULL, 0);
	coord_state_apply(s, &rec, NULL);
	rec = (struct coord_rec){.type = COORD_REC_EPOCH, .seq = 4};
	rec.u.epoch.epoch = 2;
	rec.u.epoch.coordinator = (struct wire_addr){0x7f000001, 7600};
	emit("coord_rec", "epoch", buf, (size_t)coord_rec_encode(&rec, buf, sizeof(buf)), NULL, 0);
	coord_state_apply(s, &rec, NULL);
	rec = (struct coord_rec){.type = COORD_REC_JOB_STOP, .seq = 5, .job = "j1"};
	emit("coord_rec", "stop", buf, (size_t)coord_rec_encode(&rec, buf, sizeof(buf)), NULL, 0);
	coord_state_snapshot_encode(s, &snap, &len);
	emit("coord_snapshot", "jobs", snap, len, NULL, 0);
	free(snap);
	coord_state_free(s);
	s = coord_state_new();
	coord_state_snapshot_encode(s, &snap, &len);
	emit("coord_snapshot", "empty", snap, len, NULL, 0);
	free(snap);
	coord_state_free(s);
}

static void stream_seeds(void)
{
	static uint8_t buf[REPL_FRAME_MAX];
	static struct sub_submit sm = {.tag = 1, .n = 2};
	static struct sub_ack sa = {.tag = 1, .n = 2, .cqid = {0, 1}, .status = {0, 1}};
	static struct sub_results sr = {.n = 1};
	struct repl_hello h = {.epoch = 3, .coordinator = {0x7f000001, 7600}, .seq = 40};
	struct repl_state st = {.status = 0, .epoch = 3, .seq = 40};
	uint8_t chunk[64] = {1, 2, 3};
	struct repl_snap sn = {.epoch = 3, .seq = 40, .total = 64, .len = 64, .chunk = chunk};
	struct repl_recs_buf b;

	emit_sel("stream_wire", "hello", 0, buf, repl_hello_encode(&h, buf, sizeof(buf)));
	emit_sel("stream_wire", "state", 1, buf, repl_state_encode(&st, buf, sizeof(buf)));
	emit_sel("stream_wire", "snap", 2, buf, repl_snap_encode(&sn, buf, sizeof(buf)));
	repl_recs_start(&b, buf, sizeof(buf), 3);
	repl_recs_add(&b, chunk, 20);
	repl_recs_add(&b, chunk, 30);
	emit_sel("stream_wire", "recs", 3, buf, repl_recs_finish(&b));
	sm.q[0] = (struct sub_query){.cqid = 0, .image = 5};
	sm.q[1] = (struct sub_query){.cqid = 1, .by_name = 1, .name = "img-00001.jpg"};
	emit_sel("stream_wire", "submit", 4, buf, sub_submit_encode(&sm, buf, sizeof(buf)));
	emit_sel("stream_wire", "ack", 5, buf, sub_ack_encode(&sa, buf, sizeof(buf)));
	sr.r[0] = (struct sub_result){.cqid = 1, .image = 1};
	sr.r[0].a =
		(struct coord_answer){.qid = COORD_QID_CLIENT | 1, .worker = {0x7f000002, 7600}};
	emit_sel("stream_wire", "results", 6, buf, sub_results_encode(&sr, buf, sizeof(buf)));
}

static void dataset_seeds(void)
{
	struct dataset_index ix;
	char err[256];
	uint8_t *out;
	size_t len;

	memset(&ix, 0, sizeof(ix));
	dataset_index_add(&ix, "cat.jpg", 1000, err, sizeof(err));
	dataset_index_add(&ix, "dir/dog.jpg", 2000, err, sizeof(err));
	for (uint32_t i = 0; i < ix.nshards; i++)
		ix.shards[i].version = 7;
	if (dataset_index_encode(&ix, &out, &len, err, sizeof(err))) {
		fprintf(stderr, "fuzz_seeds: dataset: %s\n", err);
		exit(1);
	}
	emit("dataset", "two", out, len, NULL, 0);
	free(out);
	dataset_index_free(&ix);
}

void file_seed(const char *target, const char *name, const char *path)
{
	char *text;
	size_t len;

	if (util_read_file(path, 1 << 20, &text, &len)) {
		fprintf(stderr, "fuzz_seeds: cannot read %s\n", path);
		exit(1);
	}
	emit(target, name, text, len, NULL, 0);
	free(text);
}

static void file_seeds(void)
{
	static float w[4 * 3], b[4];
	static uint8_t rgb[24 * 32 * 3];
	struct st_out t[2] = {{"fc.weight", ST_F32, 2, {4, 3}, w}, {"fc.bias", ST_F32, 1, {4}, b}};
	struct st_meta meta = {"arch", "resnet18"};
	unsigned char *jpg = NULL;
	unsigned long jlen = 0;
	tjhandle tj = tjInitCompress();
	char path[600], err[256];
	const char *key_hex = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A\n";
	const char *cfg = "# a config\nprobe_interval_ms = 500\nsuspicion_mult = 4\nreplicas = 3\n";

	snprintf(path, sizeof(path), "%s/.seed.tmp", dir);
	if (st_write(path, t, 2, err, sizeof(err)) == 0)
		file_seed("safetensors", "plain", path);
	if (st_write_meta(path, &meta, 1, t, 2, err, sizeof(err)) == 0)
		file_seed("safetensors", "arch", path);
	remove(path);
	for (size_t i = 0; i < sizeof(rgb); i++)
		rgb[i] = (uint8_t)(i * 7);
	if (!tj || tjCompress2(tj, rgb, 32, 0, 24, TJPF_RGB, &jpg, &jlen, TJSAMP_420, 80, 0)) {
		fprintf(stderr, "fuzz_seeds: JPEG: %s\n", tjGetErrorStr2(tj));
		exit(1);
	}
	emit("jpeg", "small", jpg, jlen, NULL, 0);
	tjFree(jpg);
	tjDestroy(tj);
	emit("config", "sample", cfg, strlen(cfg), NULL, 0);
	emit("key", "hex", key_hex, strlen(key_hex), NULL, 0);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_seeds DIR\n");
		return 2;
	}
	dir = argv[1];
	mkdir(dir, 0755);
	wire_seeds();
	rpc_seeds();
	sdfs_seeds();
	task_seeds();
	coord_seeds();
	dataset_seeds();
	stream_seeds();
	node_seeds();
	file_seeds();
	printf("fuzz_seeds: %d seeds in %s\n", written, dir);
	return 0;
}
