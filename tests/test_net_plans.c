/*
 * Description: a network's plans on the onednn backend after the model
 * has released its batch-norm-folded weights: a plan made later (another
 * batch size, or one evicted and made again) folds them again, agrees with
 * the blas backend (which keeps them) and with the first plan, and finds
 * the weights it prepared before instead of preparing a second copy.
 */
#include "check.h"
#include "net.h"
#include "util.h"

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

int main(void)
{
	char dir[] = "/tmp/idunno-netplans-XXXXXX", path[64], err[512];
	struct net *n = NULL, *ref = NULL;
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

	net_free(n);
	net_free(ref);
	unlink(path);
	rmdir(dir);
	free(in);
	free(a1);
	free(a16);
	free(r16);
	free(again);
	return t_result();
}
