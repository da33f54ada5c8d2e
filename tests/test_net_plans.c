/*
 * Description: a network's plans on the onednn backend after the model
 * has released its batch-norm-folded weights: a plan made later (another
 * batch size, or one evicted and made again) folds them again, agrees with
 * the blas backend (which keeps them) and with the first plan, and finds
 * the weights it prepared before instead of preparing a second copy; two
 * networks sharing the scratch, run in turns, each agree with theirs; a
 * weights file changed in place after loading is refused when a later
 * plan reads it again.
 */
#include "check.h"
#include "net.h"
#include "util.h"

#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAXB 16

/* max |a - b| over n values, against max |b|. */
static double max_diff(const float *a, const float *b, size_t n, double *scale)
{
	double d = 0, s = 0;
	for (size_t i = 0; i < n; i++) {
		d = fmax(d, fabs((double)a[i] - b[i]));
		s = fmax(s, fabs((double)b[i]));
	}
	*scale = s;
	return d;
}

static void agree(const char *what, const float *ours, const float *ref, int images)
{
	double scale, d = max_diff(ours, ref, (size_t)images * MODEL_CLASSES, &scale);

	printf("%s: max|diff| %.3g (max|logit| %.3g)\n", what, d, scale);
	CHECK(d <= 1e-3 * scale, "%s: max|diff| %g > 1e-3 x %g", what, d, scale);
}

/* Layers whose weights the model folded and may release, and how many of
 * them have their weights now. */
static int folded_layers(const struct net *n, int *present)
{
	const struct kern_graph *g = net_graph(n);
	int folded = 0;

	*present = 0;
	for (int i = 0; i < g->nlayers; i++)
		if (g->layers[i].weight_key) {
			folded++;
			*present += g->layers[i].weight != NULL;
		}
	return folded;
}

/* Multiplies the first value of tensor name in safetensors file path by 2,
 * in place. */
static void change_in_place(const char *path, const char *name)
{
	char head[1 << 16], quoted[64];
	uint64_t n = 0;
	unsigned long long a = 0, b = 0;
	const char *t, *o;
	float v;
	int fd = open(path, O_RDWR);

	REQUIRE(fd >= 0 && pread(fd, &n, 8, 0) == 8 && n < sizeof(head), "header of %s", path);
	REQUIRE(pread(fd, head, n, 8) == (ssize_t)n, "header of %s", path);
	head[n] = 0;
	snprintf(quoted, sizeof(quoted), "\"%s\"", name);
	REQUIRE((t = strstr(head, quoted)) && (o = strstr(t, "\"data_offsets\"")) &&
			sscanf(o, "\"data_offsets\":[%llu,%llu]", &a, &b) == 2 && b > a,
		"%s in %s", name, path);
	REQUIRE(pread(fd, &v, 4, (off_t)(8 + n + a)) == 4, "read %s", name);
	v = v * 2 + 1;
	REQUIRE(pwrite(fd, &v, 4, (off_t)(8 + n + a)) == 4, "write %s", name);
	close(fd);
}

int main(void)
{
	char dir[] = "/tmp/idunno-netplans-XXXXXX", path[64], path2[64], err[512];
	struct net *n = NULL, *ref = NULL, *n2 = NULL, *ref2 = NULL;
	float *in = xmalloc((size_t)MAXB * MODEL_IN_ELEMS * sizeof(float));
	float *a1 = xmalloc(MODEL_CLASSES * sizeof(float));
	float *a16 = xmalloc((size_t)MAXB * MODEL_CLASSES * sizeof(float));
	float *r16 = xmalloc((size_t)MAXB * MODEL_CLASSES * sizeof(float));
	float *again = xmalloc((size_t)MAXB * MODEL_CLASSES * sizeof(float));
	unsigned long long seed = 7;
	size_t before;
	int present, folded;

	kern_set_threads(2);
	REQUIRE(mkdtemp(dir), "mkdtemp");
	snprintf(path, sizeof(path), "%s/resnet18.safetensors", dir);
	REQUIRE(!model_generate_weights(MODEL_RESNET18, 5, path, err, sizeof(err)), "%s", err);
	for (size_t i = 0; i < (size_t)MAXB * MODEL_IN_ELEMS; i++)
		in[i] = t_randf(&seed);
	REQUIRE(!net_open(MODEL_RESNET18, path, KERN_BACKEND_BLAS, &ref, err, sizeof(err)), "%s",
		err);
	REQUIRE(!net_run(ref, MAXB, in, r16, err, sizeof(err)), "%s", err);
	folded = folded_layers(ref, &present);
	CHECK(folded == 20 && present == folded, "blas keeps all %d folded weights (%d present)",
	      folded, present);

	REQUIRE(!net_open(MODEL_RESNET18, path, KERN_BACKEND_ONEDNN, &n, err, sizeof(err)), "%s",
		err);
	REQUIRE(!net_run(n, 1, in, a1, err, sizeof(err)), "%s", err);
	folded = folded_layers(n, &present);
	CHECK(folded == 20 && present == 0, "onednn released the folded weights (%d of %d kept)",
	      present, folded);
	agree("batch 1, the first plan", a1, r16, 1);

	/* A second plan, made after the release: the weights folded again. */
	REQUIRE(!net_run(n, MAXB, in, a16, err, sizeof(err)), "%s", err);
	agree("batch 16, a plan made after the release", a16, r16, MAXB);
	folded_layers(n, &present);
	CHECK(present == 0, "released again after the second plan (%d kept)", present);

	/* Evict both (eight plans are kept), then make them again: the same
	 * prepared weights are found, none prepared twice. */
	for (int b = 2; b <= 9; b++)
		REQUIRE(!net_run(n, b, in, again, err, sizeof(err)), "batch %d: %s", b, err);
	before = net_prepared_bytes(n);
	REQUIRE(!net_run(n, 1, in, again, err, sizeof(err)), "%s", err);
	CHECK(!memcmp(again, a1, MODEL_CLASSES * sizeof(float)),
	      "batch 1 made again gives the same logits");
	REQUIRE(!net_run(n, MAXB, in, again, err, sizeof(err)), "%s", err);
	agree("batch 16 made again", again, r16, MAXB);
	printf("prepared weights: %.1f MB before batch 1 and 16 were made again, %.1f MB after\n",
	       before / 1048576.0, net_prepared_bytes(n) / 1048576.0);
	CHECK(net_prepared_bytes(n) == before, "no weights prepared twice (%zu -> %zu bytes)",
	      before, net_prepared_bytes(n));

	/* A second network beside the first, sharing the scratch, in turns. */
	snprintf(path2, sizeof(path2), "%s/resnet18-b.safetensors", dir);
	REQUIRE(!model_generate_weights(MODEL_RESNET18, 6, path2, err, sizeof(err)), "%s", err);
	REQUIRE(!net_open(MODEL_RESNET18, path2, KERN_BACKEND_BLAS, &ref2, err, sizeof(err)), "%s",
		err);
	REQUIRE(!net_open(MODEL_RESNET18, path2, KERN_BACKEND_ONEDNN, &n2, err, sizeof(err)), "%s",
		err);
	{
		float *r2 = xmalloc((size_t)MAXB * MODEL_CLASSES * sizeof(float));
		REQUIRE(!net_run(ref2, MAXB, in, r2, err, sizeof(err)), "%s", err);
		for (int round = 0; round < 2; round++) {
			REQUIRE(!net_run(n2, 1, in, again, err, sizeof(err)), "%s", err);
			agree("second network, batch 1", again, r2, 1);
			REQUIRE(!net_run(n, MAXB, in, again, err, sizeof(err)), "%s", err);
			agree("first network, batch 16, in turns", again, r16, MAXB);
			REQUIRE(!net_run(n2, MAXB, in, again, err, sizeof(err)), "%s", err);
			agree("second network, batch 16", again, r2, MAXB);
			REQUIRE(!net_run(n, 1, in, again, err, sizeof(err)), "%s", err);
			CHECK(!memcmp(again, a1, MODEL_CLASSES * sizeof(float)),
			      "first network, batch 1, in turns: the same logits");
		}
		free(r2);
	}

	/* The file changed in place since it was loaded: a later plan, which
	 * folds from it again, is refused, and nothing half-folded is kept. */
	change_in_place(path, "layer2.0.conv1.weight");
	err[0] = 0;
	CHECK(net_run(n, 11, in, again, err, sizeof(err)) != 0 &&
		      strstr(err, "not what was loaded"),
	      "a plan made from a file changed in place: %s", err[0] ? err : "no error");
	printf("after a change in place: %s\n", err);
	folded_layers(n, &present);
	CHECK(present == 0, "after the refusal, no folded weights kept (%d)", present);
	REQUIRE(!net_run(n, 1, in, again, err, sizeof(err)), "%s", err);
	CHECK(!memcmp(again, a1, MODEL_CLASSES * sizeof(float)),
	      "the plans made before still run as they were");

	net_free(n);
	net_free(ref);
	net_free(n2);
	net_free(ref2);
	unlink(path);
	unlink(path2);
	rmdir(dir);
	free(in);
	free(a1);
	free(a16);
	free(r16);
	free(again);
	return t_result();
}
