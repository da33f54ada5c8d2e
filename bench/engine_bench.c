/*
 * engine_bench.c - forward-pass throughput and latency of the engine's
 * networks, and OpenBLAS sgemm on the same threads as the yardstick.
 *
 *   engine_bench --weights-dir DIR [--threads N] [--seconds S]
 *                [--backend B] [--models resnet18,alexnet] [--batches 1,16,64]
 *                [--jpeg FILE]...
 *
 * Prints one line per (model, batch): images/s, p50 and p99 latency per
 * batch, GFLOP/s; then sgemm GFLOP/s (a 1024^3-ish product, best of a few)
 * and the process's peak RSS with every model loaded; then the memory read
 * bandwidth on the same threads (what batch-1 FC layers are bound by).
 * Weights are DIR/<model>.safetensors.  Each --jpeg FILE adds a line with the time to
 * decode and preprocess it, on the exact and on the fast path (mean
 * ms/image over about 1 s, and the fastest single image); when ResNet18 at
 * batch 16 is measured too, a line with the fast path's time as a share of
 * ResNet18's forward time per image, against issue 17's 15 % target.
 */
#include "image.h"
#include "kern.h"
#include "model.h"
#include "net.h"
#include "util.h"

#include <cblas.h>
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static double sgemm_gflops(int m, int n, int k)
{
	float *a = xaligned_alloc((size_t)m * k * 4), *b = xaligned_alloc((size_t)k * n * 4);
	float *c = xaligned_alloc((size_t)m * n * 4);
	double best = 0;

	for (size_t i = 0; i < (size_t)m * k; i++)
		a[i] = (float)(i % 7) * 0.1f;
	for (size_t i = 0; i < (size_t)k * n; i++)
		b[i] = (float)(i % 5) * 0.1f;
	for (int rep = 0; rep < 8; rep++) {
		uint64_t t0 = util_now_ns();
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n,
			    0.0f, c, n);
		double g = 2.0 * m * n * k / (double)(util_now_ns() - t0);
		best = g > best ? g : best;
	}
	free(a);
	free(b);
	free(c);
	return best;
}

struct bw_part {
	const float *p;
	size_t n;
	float sum;
};

/* Sums n floats (a multiple of 32) with 256-bit loads: a pure read stream. */
__attribute__((target("avx2"))) static void *bw_read(void *arg)
{
	struct bw_part *b = arg;
	__m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
	float out[8];

	for (size_t i = 0; i < b->n; i += 32) {
		s0 = _mm256_add_ps(s0, _mm256_load_ps(b->p + i));
		s1 = _mm256_add_ps(s1, _mm256_load_ps(b->p + i + 8));
		s2 = _mm256_add_ps(s2, _mm256_load_ps(b->p + i + 16));
		s3 = _mm256_add_ps(s3, _mm256_load_ps(b->p + i + 24));
	}
	_mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
	b->sum = out[0] + out[7];
	return NULL;
}

/* Best read bandwidth (GB/s) over 8 passes of threads over 256 MB, each
 * thread reading its own contiguous part, as the FC layers' GEMV does. */
static double read_gbps(int threads)
{
	size_t n = (size_t)64 << 20;
	float *buf = xaligned_alloc(n * sizeof(float));
	struct bw_part parts[64];
	pthread_t tid[64];
	double best = 0;

	threads = threads < 1 ? 1 : threads > 64 ? 64 : threads;
	for (size_t i = 0; i < n; i++)
		buf[i] = (float)(i & 7);
	for (int rep = 0; rep < 8; rep++) {
		uint64_t t0 = util_now_ns();
		for (int t = 0; t < threads; t++) {
			parts[t] = (struct bw_part){buf + n / threads / 32 * 32 * t,
						    n / threads / 32 * 32, 0};
			if (t && pthread_create(&tid[t], NULL, bw_read, &parts[t]))
				exit(1);
		}
		bw_read(&parts[0]);
		for (int t = 1; t < threads; t++)
			pthread_join(tid[t], NULL);
		double g = (double)(n / threads / 32 * 32 * threads) * 4 /
			   (double)(util_now_ns() - t0);
		best = g > best ? g : best;
	}
	free(buf);
	return best;
}

/* Mean ms to decode and preprocess one image on one path, over ~1 s; the
 * fastest image's ms in *best. */
static double jpeg_ms(const unsigned char *buf, size_t len, int fast, float *t, double *best)
{
	uint64_t t0 = util_now_ns(), el = 0, min = UINT64_MAX;
	char err[256];
	int n = 0;

	do {
		uint64_t t1 = util_now_ns();
		if (image_from_jpeg_mode(buf, len, fast, t, err, sizeof(err))) {
			fprintf(stderr, "engine_bench: %s\n", err);
			exit(1);
		}
		t1 = util_now_ns() - t1;
		min = t1 < min ? t1 : min;
		n++;
		el = util_now_ns() - t0;
	} while (el < 1000000000ull || n < 5);
	*best = min / 1e6;
	return el / 1e6 / n;
}

/* The fast path's mean ms per --jpeg file, for the share line. */
static double jpeg_fast_ms[16];

static double jpeg_cost(const char *path)
{
	float *t = xmalloc(MODEL_IN_ELEMS * sizeof(float));
	char *buf;
	size_t len;
	int ret = util_read_file(path, 256u << 20, &buf, &len);

	if (ret) {
		fprintf(stderr, "engine_bench: %s: %s\n", path, strerror(-ret));
		exit(1);
	}
	double be, bf, e = jpeg_ms((unsigned char *)buf, len, 0, t, &be);
	double f = jpeg_ms((unsigned char *)buf, len, 1, t, &bf);
	printf("jpeg %s: exact %.3f ms/image, fast %.3f ms/image (fastest image: %.3f, %.3f)\n",
	       path, e, f, be, bf);
	free(buf);
	free(t);
	return f;
}

/* Resident set size now, from /proc/self/statm. */
static double rss_mb(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return resident * (double)sysconf(_SC_PAGESIZE) / (1 << 20);
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *models = "resnet18,alexnet", *batches = "1,16,64";
	const char *jpegs[16];
	int njpegs = 0;
	enum kern_backend_id backend = KERN_BACKEND_ONEDNN;
	double seconds = 3;
	int threads = 2;
	struct net *nets[MODEL_MAX] = {0};
	char err[768];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--weights-dir") && i + 1 < argc)
			dir = argv[++i];
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			threads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "--models") && i + 1 < argc)
			models = argv[++i];
		else if (!strcmp(argv[i], "--batches") && i + 1 < argc)
			batches = argv[++i];
		else if (!strcmp(argv[i], "--jpeg") && i + 1 < argc && njpegs < 16)
			jpegs[njpegs++] = argv[++i];
		else if (!strcmp(argv[i], "--backend") && i + 1 < argc) {
			if (kern_backend_parse(argv[++i], &backend)) {
				fprintf(stderr, "engine_bench: unknown backend\n");
				return 2;
			}
		} else {
			fprintf(stderr,
				"usage: engine_bench --weights-dir DIR [--threads N] "
				"[--seconds S] [--backend B] [--models M,..] [--batches B,..] "
				"[--jpeg FILE]...\n");
			return 2;
		}
	}
	if (!dir) {
		fprintf(stderr, "engine_bench: --weights-dir is required\n");
		return 2;
	}
	kern_set_threads(threads);
	for (int i = 0; i < njpegs; i++)
		jpeg_fast_ms[i] = jpeg_cost(jpegs[i]);
	printf("%-9s %5s %10s %10s %10s %9s\n", "model", "batch", "images/s", "p50_ms", "p99_ms",
	       "GFLOP/s");
	for (int id = 0; id < MODEL_MAX; id++) {
		char path[1024], list[256];
		if (!strstr(models, model_name(id)))
			continue;
		snprintf(path, sizeof(path), "%s/%s.safetensors", dir, model_name(id));
		if (net_open(id, path, backend, &nets[id], err, sizeof(err))) {
			fprintf(stderr, "engine_bench: %s\n", err);
			return 1;
		}
		snprintf(list, sizeof(list), "%s", batches);
		for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
			int b = atoi(tok), n = 0, cap = 1 << 16;
			float *in = xaligned_alloc((size_t)b * MODEL_IN_ELEMS * 4);
			float *out = xmalloc((size_t)b * MODEL_CLASSES * 4);
			uint64_t *lat = xmalloc((size_t)cap * sizeof(*lat)), t0, total = 0;
			for (size_t i = 0; i < (size_t)b * MODEL_IN_ELEMS; i++)
				in[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
			if (net_run(nets[id], b, in, out, err,
				    sizeof(err))) { /* warm up, build plan */
				fprintf(stderr, "engine_bench: %s\n", err);
				return 1;
			}
			net_run(nets[id], b, in, out, err, sizeof(err));
			while (n < cap && (total < seconds * 1e9 || n < 5)) {
				t0 = util_now_ns();
				net_run(nets[id], b, in, out, err, sizeof(err));
				lat[n] = util_now_ns() - t0;
				total += lat[n++];
			}
			qsort(lat, (size_t)n, sizeof(*lat), util_cmp_u64);
			printf("%-9s %5d %10.1f %10.2f %10.2f %9.1f\n", model_name(id), b,
			       (double)n * b / (total / 1e9), lat[n / 2] / 1e6,
			       lat[(size_t)(n * 0.99)] / 1e6,
			       kern_graph_flops(net_graph(nets[id])) * b * n / (double)total);
			for (int i = 0; id == MODEL_RESNET18 && b == 16 && i < njpegs; i++)
				printf("jpeg %s: fast path %.3f ms = %.1f %% of resnet18's forward "
				       "time per image at batch 16 (%.3f ms; issue 17's target for "
				       "ImageNet-sized images: <= 15 %%)\n",
				       jpegs[i], jpeg_fast_ms[i],
				       100 * jpeg_fast_ms[i] * n * b / (total / 1e6),
				       total / 1e6 / ((double)n * b));
			free(in);
			free(out);
			free(lat);
		}
		printf("%-9s plans and prepared weights: %.0f MB\n", model_name(id),
		       net_workspace(nets[id]) / 1048576.0);
	}
	{
		struct rusage ru;
		getrusage(RUSAGE_SELF, &ru);
		printf("shared scratch (the largest plan's activations and scratchpads): %.0f MB\n",
		       net_shared_scratch_bytes() / 1048576.0);
		printf("RSS with the models loaded and planned: %.0f MB (peak %.0f MB)\n", rss_mb(),
		       ru.ru_maxrss / 1024.0);
		printf("sgemm GFLOP/s (2048^3, OpenBLAS, same threads): %.1f\n",
		       sgemm_gflops(2048, 2048, 2048));
		printf("memory read GB/s (256 MB, %d threads): %.1f\n", threads,
		       read_gbps(threads));
	}
	for (int id = 0; id < MODEL_MAX; id++)
		net_free(nets[id]);
	return 0;
}
