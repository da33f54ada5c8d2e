/*
 * main.c - the engine program: generate weights, classify images, or serve
 * batches from an agent's shared-memory ring.
 */
#include "image.h"
#include "model.h"
#include "net.h"
#include "probes.h"
#include "ring.h"
#include "serve.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: engine weights --model resnet18|alexnet --seed N --out FILE\n"
		"       engine classify --model M --weights FILE [--backend onednn|blas|ref]\n"
		"                       [--raw | --fast-jpeg] [--batch N] [--threads N]\n"
		"                       [--logits OUT] [--timing]\n"
		"                       INPUT...\n"
		"       engine check --weights FILE [--model M]\n"
		"       engine preprocess [--fast] IMAGE.jpg OUT.raw\n"
		"       engine serve --ring NAME [--notify-fd FD] [--backend B] [--threads N]\n"
		"                    [--warm B1,B2,...|none] [--nice N] [--fast-jpeg]\n"
		"\n"
		"classify prints the top-5 classes of each input (a JPEG, or with --raw a\n"
		"float32 3x224x224 NCHW tensor); --logits writes 1000 float32 logits per input;\n"
		"--timing prints the queries' total service time, as the probes see it;\n"
		"--fast-jpeg (and preprocess --fast) decodes only the part of a JPEG the\n"
		"centre crop reads, and one whose short side is at least 1024 at 1/2, 1/4\n"
		"or 1/8 scale in the DCT domain: a close, not identical, tensor\n"
		"(docs/engine.md).\n"
		"check loads a weights file as the engine would, without running it: the\n"
		"architecture comes from the file's metadata (\"arch\") or --model; it prints\n"
		"'ARCH TENSORS BYTES', or the reason the file is refused (exit 1).\n"
		"serve attaches to the ring an agent created and runs the batches it is given;\n"
		"--notify-fd names an inherited eventfd it signals after each completion;\n"
		"--warm lists the batch sizes whose plans are built when a model is loaded\n"
		"(default 1,4: batch 1 and the cluster's default batch), so that a job's\n"
		"first batch of such a size starts at once; it runs as a batch (SCHED_BATCH)\n"
		"process, --nice (0..19, default 5) steps nicer than the agent that started\n"
		"it, so that the agent's loop on the same cores does not wait behind the\n"
		"forward passes; --fast-jpeg puts the ring's JPEG inputs on the fast path.\n");
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

enum {
	OPT_MODEL = 256,
	OPT_SEED,
	OPT_OUT,
	OPT_WEIGHTS,
	OPT_BACKEND,
	OPT_RAW,
	OPT_BATCH,
	OPT_THREADS,
	OPT_LOGITS,
	OPT_RING,
	OPT_TIMING,
	OPT_NOTIFY_FD,
	OPT_FAST_JPEG,
	OPT_WARM,
	OPT_NICE
};

static const struct option long_opts[] = {
	{"model", required_argument, NULL, OPT_MODEL},
	{"seed", required_argument, NULL, OPT_SEED},
	{"out", required_argument, NULL, OPT_OUT},
	{"weights", required_argument, NULL, OPT_WEIGHTS},
	{"backend", required_argument, NULL, OPT_BACKEND},
	{"raw", no_argument, NULL, OPT_RAW},
	{"batch", required_argument, NULL, OPT_BATCH},
	{"threads", required_argument, NULL, OPT_THREADS},
	{"logits", required_argument, NULL, OPT_LOGITS},
	{"ring", required_argument, NULL, OPT_RING},
	{"timing", no_argument, NULL, OPT_TIMING},
	{"notify-fd", required_argument, NULL, OPT_NOTIFY_FD},
	{"fast-jpeg", no_argument, NULL, OPT_FAST_JPEG},
	{"warm", required_argument, NULL, OPT_WARM},
	{"nice", required_argument, NULL, OPT_NICE},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

struct args {
	const char *model, *weights, *out, *logits, *ring;
	enum kern_backend_id backend;
	long seed, batch, threads, notify_fd, nice;
	int raw, fast_jpeg, seed_set, timing;
	int warm[SERVE_WARM_MAX], nwarm;
};

/* "1,4,16" (each 1..RING_MAX_JPEG_BATCH, at most SERVE_WARM_MAX) or "none". */
static int parse_warm(const char *s, struct args *a)
{
	char buf[128], *save = NULL;
	long v;

	a->nwarm = 0;
	if (!strcmp(s, "none"))
		return 0;
	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (a->nwarm == SERVE_WARM_MAX || parse_int(t, 1, RING_MAX_JPEG_BATCH, &v))
			return -EINVAL;
		a->warm[a->nwarm++] = (int)v;
	}
	return a->nwarm ? 0 : -EINVAL;
}

static int parse_args(int argc, char **argv, struct args *a)
{
	int c;

	*a = (struct args){.backend = KERN_BACKEND_ONEDNN,
			   .batch = 1,
			   .threads = 0,
			   .notify_fd = -1,
			   .warm = {1, 4},
			   .nwarm = 2,
			   .nice = 5};
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		switch (c) {
		case OPT_MODEL:
			a->model = optarg;
			break;
		case OPT_OUT:
			a->out = optarg;
			break;
		case OPT_WEIGHTS:
			a->weights = optarg;
			break;
		case OPT_LOGITS:
			a->logits = optarg;
			break;
		case OPT_RING:
			a->ring = optarg;
			break;
		case OPT_RAW:
			a->raw = 1;
			break;
		case OPT_TIMING:
			a->timing = 1;
			break;
		case OPT_FAST_JPEG:
			a->fast_jpeg = 1;
			break;
		case OPT_SEED:
			if (parse_int(optarg, 0, 0x7fffffffL, &a->seed)) {
				fprintf(stderr, "engine: --seed wants a non-negative integer\n");
				return -1;
			}
			a->seed_set = 1;
			break;
		case OPT_BATCH:
			if (parse_int(optarg, 1, 1024, &a->batch)) {
				fprintf(stderr, "engine: --batch wants 1..1024\n");
				return -1;
			}
			break;
		case OPT_THREADS:
			if (parse_int(optarg, 1, 256, &a->threads)) {
				fprintf(stderr, "engine: --threads wants 1..256\n");
				return -1;
			}
			break;
		case OPT_NOTIFY_FD:
			if (parse_int(optarg, 0, 0x7fffffffL, &a->notify_fd)) {
				fprintf(stderr, "engine: --notify-fd wants a file descriptor\n");
				return -1;
			}
			break;
		case OPT_WARM:
			if (parse_warm(optarg, a)) {
				fprintf(stderr,
					"engine: --warm wants 'none' or up to %d batch sizes "
					"1..%d, comma-separated\n",
					SERVE_WARM_MAX, RING_MAX_JPEG_BATCH);
				return -1;
			}
			break;
		case OPT_NICE:
			if (parse_int(optarg, 0, 19, &a->nice)) {
				fprintf(stderr, "engine: --nice wants 0..19\n");
				return -1;
			}
			break;
		case OPT_BACKEND:
			if (kern_backend_parse(optarg, &a->backend)) {
				fprintf(stderr,
					"engine: unknown backend '%s' (onednn, blas, ref)\n",
					optarg);
				return -1;
			}
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	return 0;
}

static int need_model(const struct args *a, enum model_id *id)
{
	if (!a->model) {
		fprintf(stderr, "engine: --model is required (resnet18, alexnet)\n");
		return -1;
	}
	if (model_parse(a->model, id)) {
		fprintf(stderr, "engine: unknown model '%s' (resnet18, alexnet)\n", a->model);
		return -1;
	}
	return 0;
}

static int cmd_weights(int argc, char **argv)
{
	struct args a;
	enum model_id id;
	char err[512];

	if (parse_args(argc, argv, &a) || need_model(&a, &id))
		return 2;
	if (!a.out || !a.seed_set) {
		fprintf(stderr, "engine weights: --seed and --out are required\n");
		return 2;
	}
	if (model_generate_weights(id, (uint64_t)a.seed, a.out, err, sizeof(err))) {
		fprintf(stderr, "engine weights: %s\n", err);
		return 1;
	}
	printf("wrote %s weights (seed %ld) to %s\n", model_name(id), a.seed, a.out);
	return 0;
}

static int cmd_classify(int argc, char **argv)
{
	struct args a;
	enum model_id id;
	struct net *net = NULL;
	float *in = NULL, *logits = NULL, *all = NULL; /* all: every input's logits, for --logits */
	char err[768];
	uint64_t t0, built, service_ns = 0, nqueries = 0;
	int ninputs, ret = 1;

	if (parse_args(argc, argv, &a) || need_model(&a, &id))
		return 2;
	if (!a.weights) {
		fprintf(stderr, "engine classify: --weights is required\n");
		return 2;
	}
	ninputs = argc - optind;
	if (ninputs < 1) {
		fprintf(stderr, "engine classify: no inputs\n");
		return 2;
	}
	kern_set_threads((int)a.threads);
	if (net_open(id, a.weights, a.backend, &net, err, sizeof(err))) {
		fprintf(stderr, "engine classify: %s\n", err);
		return 1;
	}
	if (a.logits)
		all = xmalloc((size_t)ninputs * MODEL_CLASSES * sizeof(float));
	in = xaligned_alloc((size_t)a.batch * MODEL_IN_ELEMS * sizeof(float));
	logits = xmalloc((size_t)a.batch * MODEL_CLASSES * sizeof(float));
	/* Each group of --batch inputs is one query. */
	for (int first = 0, q = 0; first < ninputs; first += (int)a.batch, q++) {
		int n = (int)MIN(a.batch, ninputs - first);
		for (int i = 0; i < n; i++)
			if (image_load(argv[optind + first + i],
				       (a.raw ? IMAGE_RAW : 0) | (a.fast_jpeg ? IMAGE_FAST : 0),
				       in + (size_t)i * MODEL_IN_ELEMS, err, sizeof(err))) {
				fprintf(stderr, "engine classify: %s\n", err);
				goto out;
			}
		t0 = util_now_ns();
		built = net_plans_built(net);
		idunno_query_start(0, (uint64_t)q, (uint32_t)n, 0, (uint32_t)id);
		ret = net_run(net, n, in, logits, err, sizeof(err));
		idunno_query_end(0, (uint64_t)q, ret,
				 net_plans_built(net) != built ? PROBE_COLD : 0);
		service_ns += util_now_ns() - t0;
		nqueries++;
		if (ret) {
			fprintf(stderr, "engine classify: %s\n", err);
			ret = 1;
			goto out;
		}
		ret = 1;
		for (int i = 0; i < n; i++) {
			struct net_top5 t;
			net_top5(logits + (size_t)i * MODEL_CLASSES, &t);
			printf("%s\n", argv[optind + first + i]);
			for (int k = 0; k < 5; k++)
				printf("  %d. %-28s %4d  %.4f\n", k + 1,
				       model_imagenet_classes[t.idx[k]], t.idx[k], t.prob[k]);
		}
		if (all)
			memcpy(all + (size_t)first * MODEL_CLASSES, logits,
			       (size_t)n * MODEL_CLASSES * sizeof(float));
	}
	/* Written only when every input succeeded, and atomically. */
	if (all) {
		int w = util_write_file_atomic(a.logits, all,
					       (size_t)ninputs * MODEL_CLASSES * sizeof(float));
		if (w) {
			fprintf(stderr, "engine classify: %s: %s\n", a.logits, strerror(-w));
			goto out;
		}
	}
	if (a.timing)
		fprintf(stderr, "timing: %llu queries, %llu ns of service (start to end probe)\n",
			(unsigned long long)nqueries, (unsigned long long)service_ns);
	ret = 0;
out:
	free(all);
	free(in);
	free(logits);
	net_free(net);
	return ret;
}

static int cmd_check(int argc, char **argv)
{
	struct args a;
	struct model_check mc;
	char err[768];

	if (parse_args(argc, argv, &a))
		return 2;
	if (!a.weights || optind != argc) {
		fprintf(stderr, "usage: engine check --weights FILE [--model M]\n");
		return 2;
	}
	if (model_check_file(a.weights, a.model, &mc, err, sizeof(err))) {
		fprintf(stderr, "engine check: %s\n", err);
		return 1;
	}
	printf("%s %d %llu\n", model_name(mc.id), mc.ntensors, (unsigned long long)mc.bytes);
	return 0;
}

static int cmd_preprocess(int argc, char **argv)
{
	float *t;
	char err[512];
	int ret, fast = argc == 4 && !strcmp(argv[1], "--fast");

	if (argc != 3 + fast) {
		fprintf(stderr, "usage: engine preprocess [--fast] IMAGE.jpg OUT.raw\n");
		return 2;
	}
	argv += fast;
	t = xmalloc(MODEL_IN_ELEMS * sizeof(float));
	if (image_load(argv[1], fast ? IMAGE_FAST : 0, t, err, sizeof(err))) {
		fprintf(stderr, "engine preprocess: %s\n", err);
		free(t);
		return 1;
	}
	ret = util_write_file_atomic(argv[2], t, MODEL_IN_ELEMS * sizeof(float));
	if (ret)
		fprintf(stderr, "engine preprocess: %s: %s\n", argv[2], strerror(-ret));
	free(t);
	return ret ? 1 : 0;
}

static int cmd_serve(int argc, char **argv)
{
	struct serve_opts o;
	struct args a;
	int niceness;

	if (parse_args(argc, argv, &a))
		return 2;
	if (!a.ring) {
		fprintf(stderr, "engine serve: --ring is required\n");
		return 2;
	}
	if (a.notify_fd >= 0 && fcntl((int)a.notify_fd, F_GETFD) < 0) {
		fprintf(stderr, "engine serve: --notify-fd %ld: %s\n", a.notify_fd,
			strerror(errno));
		return 2;
	}
	/* the node's throughput work: the agent's loop (membership, dispatch)
	 * goes first when both want a core; threads made later inherit both */
	errno = 0;
	niceness = getpriority(PRIO_PROCESS, 0);
	if (errno || sched_setscheduler(0, SCHED_BATCH, &(struct sched_param){0}) ||
	    setpriority(PRIO_PROCESS, 0, MIN(niceness + (int)a.nice, 19)))
		fprintf(stderr, "engine serve: cannot lower its priority: %s\n", strerror(errno));
	kern_set_threads((int)a.threads);
	o = (struct serve_opts){.backend = a.backend,
				.notify_fd = (int)a.notify_fd,
				.nwarm = a.nwarm,
				.fast_jpeg = a.fast_jpeg};
	memcpy(o.warm, a.warm, sizeof(o.warm));
	return serve_main(a.ring, &o);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "weights"))
		return cmd_weights(argc - 1, argv + 1);
	if (!strcmp(argv[1], "classify"))
		return cmd_classify(argc - 1, argv + 1);
	if (!strcmp(argv[1], "check"))
		return cmd_check(argc - 1, argv + 1);
	if (!strcmp(argv[1], "preprocess"))
		return cmd_preprocess(argc - 1, argv + 1);
	if (!strcmp(argv[1], "serve"))
		return cmd_serve(argc - 1, argv + 1);
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "engine: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
