/*
 * Description: every kernel of every fast backend (blas, onednn) agrees
 * with the reference backend by normalised error, on many shapes: odd
 * sizes, stride 2, padding, 1x1, 7x7, 11x11 stride 4, groups, fused
 * residual add and ReLU, max and adaptive average pooling, fully connected
 * layers on 4-D and 2-D inputs (batch 1 to 64), and a small residual
 * network; plans of two caches sharing one scratch; our own onednn steps
 * (5x5 Winograd, space to depth, batch-1 GEMV) on odd sizes.  Also checks
 * softmax, top-k and that an unsupported layer is an error, not a crash.
 */
#include "check.h"
#include "kern.h"
#include "kern_impl.h"
#include "util.h"

#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static unsigned long long seed = 42;

static float *randv(size_t n)
{
	float *v = xmalloc(n * sizeof(float));
	for (size_t i = 0; i < n; i++)
		v[i] = t_randf(&seed);
	return v;
}

/* sum (a-b)^2 / sum b^2 */
static double nmse(const float *a, const float *b, size_t n)
{
	double num = 0, den = 0;
	for (size_t i = 0; i < n; i++) {
		double d = (double)a[i] - b[i];
		num += d * d;
		den += (double)b[i] * b[i];
	}
	return den > 0 ? num / den : num;
}

/* Runs g on every backend with the same input; compares with ref. */
static void compare(const char *what, const struct kern_graph *g, int batch)
{
	size_t in_n = (size_t)batch * g->shapes[g->input].c * g->shapes[g->input].h *
		      g->shapes[g->input].w;
	size_t out_n = (size_t)batch * g->shapes[g->output].c * g->shapes[g->output].h *
		       g->shapes[g->output].w;
	float *in = randv(in_n), *want = xmalloc(out_n * sizeof(float));
	char err[256];
	struct kern_plan *p;
	int before = t_failures;

	REQUIRE(kern_plan_create(KERN_BACKEND_REF, g, batch, &p, err, sizeof(err)) == 0, "%s: %s",
		what, err);
	REQUIRE(kern_plan_run(p, in, want) == 0, "%s: ref run", what);
	kern_plan_free(p);
	for (int be = KERN_BACKEND_BLAS; be < KERN_BACKEND_MAX; be++) {
		float *got = xmalloc(out_n * sizeof(float));
		int ret = kern_plan_create(be, g, batch, &p, err, sizeof(err));
		CHECK(ret == 0, "%s on %s: %s", what, kern_backend_name(be), err);
		if (ret == 0) {
			/* Twice: a plan must give the same answer on every run. */
			for (int rep = 0; rep < 2; rep++) {
				double e;
				memset(got, 0, out_n * sizeof(float));
				CHECK(kern_plan_run(p, in, got) == 0, "%s: run", what);
				e = nmse(got, want, out_n);
				CHECK(e < 1e-10, "%s on %s: nmse %.3g", what, kern_backend_name(be),
				      e);
			}
			kern_plan_free(p);
		}
		free(got);
	}
	printf("%s  %-58s batch %d\n", t_failures == before ? "ok" : "FAIL", what, batch);
	free(in);
	free(want);
}

struct conv_case {
	int ic, ih, iw, oc, k, stride, pad, groups, relu, residual, bias;
};

/* conv alone, or (residual) a 1x1 conv making a tensor the case's conv sums into. */
static void conv_case(const struct conv_case *c, int batch)
{
	int oh = kern_out_dim(c->ih, c->k, c->stride, c->pad);
	int ow = kern_out_dim(c->iw, c->k, c->stride, c->pad);
	int groups = c->groups ? c->groups : 1;
	struct kern_shape sh[3] = {{c->ic, c->ih, c->iw}, {c->oc, oh, ow}, {c->oc, oh, ow}};
	float *w = randv((size_t)c->oc * (c->ic / groups) * c->k * c->k), *b = randv(c->oc);
	float *w2 = randv((size_t)c->oc * c->ic);
	struct kern_layer L[2];
	struct kern_graph g = {
		.ntensors = 2, .shapes = sh, .nlayers = 1, .layers = L, .input = 0, .output = 1};
	char what[128];

	memset(L, 0, sizeof(L));
	L[0] = (struct kern_layer){KERN_OP_CONV, 0,	    1,	     c->k, c->k, c->stride,
				   c->pad,	 c->groups, c->relu, 0,	   w,	 c->bias ? b : NULL,
				   "conv",	 NULL};
	if (c->residual) {
		/* tensor 1 = 1x1 stride-s projection of the input (the residual),
		 * then the conv under test sums into it. */
		sh[1] = (struct kern_shape){c->oc, oh, ow};
		L[0] = (struct kern_layer){
			KERN_OP_CONV, 0, 1, 1, 1, c->stride, 0, 1, 0, 0, w2, NULL, "proj", NULL};
		if (kern_out_dim(c->ih, 1, c->stride, 0) != oh ||
		    kern_out_dim(c->iw, 1, c->stride, 0) != ow)
			goto out; /* shapes would not line up; not a residual case */
		L[1] = (struct kern_layer){KERN_OP_CONV, 0,	    1,	    c->k,
					   c->k,	 c->stride, c->pad, c->groups,
					   c->relu,	 1,	    w,	    c->bias ? b : NULL,
					   "conv+res",	 NULL};
		g.nlayers = 2;
	}
	snprintf(what, sizeof(what), "conv %dx%dx%d -> %d k%d s%d p%d g%d%s%s%s", c->ic, c->ih,
		 c->iw, c->oc, c->k, c->stride, c->pad, groups, c->relu ? " relu" : "",
		 c->residual ? " +res" : "", c->bias ? " bias" : "");
	compare(what, &g, batch);
out:
	free(w);
	free(b);
	free(w2);
}

static void pool_case(enum kern_op op, int c, int ih, int iw, int k, int s, int p, int oh, int ow,
		      int batch)
{
	struct kern_shape sh[2] = {{c, ih, iw}, {c, oh, ow}};
	struct kern_layer l = {op, 0, 1, k, k, s, p, 0, 0, 0, NULL, NULL, "pool", NULL};
	struct kern_graph g = {2, sh, 1, &l, 0, 1};
	char what[128];

	if (op == KERN_OP_MAXPOOL) {
		sh[1].h = kern_out_dim(ih, k, s, p);
		sh[1].w = kern_out_dim(iw, k, s, p);
	}
	snprintf(what, sizeof(what), "%s %dx%dx%d -> %dx%d k%d s%d p%d", kern_op_name(op), c, ih,
		 iw, sh[1].h, sh[1].w, k, s, p);
	compare(what, &g, batch);
}

static void fc_case(int c, int h, int w, int oc, int relu, int batch)
{
	struct kern_shape sh[2] = {{c, h, w}, {oc, 1, 1}};
	float *wt = randv((size_t)oc * c * h * w), *b = randv(oc);
	struct kern_layer l = {KERN_OP_FC, 0, 1, 0, 0, 0, 0, 0, relu, 0, wt, b, "fc", NULL};
	struct kern_graph g = {2, sh, 1, &l, 0, 1};
	char what[128];

	snprintf(what, sizeof(what), "fc %dx%dx%d -> %d%s", c, h, w, oc, relu ? " relu" : "");
	compare(what, &g, batch);
	free(wt);
	free(b);
}

/* conv-bn-relu, maxpool, a basic block with identity and one with a
 * projection, adaptive avg pool, two fc layers: a miniature ResNet. */
static void mini_resnet(int batch)
{
	struct kern_shape sh[] = {
		{3, 33, 31}, {16, 17, 16}, {16, 9, 8}, {16, 9, 8}, {32, 5, 4},
		{32, 5, 4},  {32, 1, 1},   {24, 1, 1}, {10, 1, 1},
	};
	float *w0 = randv(16 * 3 * 49), *w1 = randv(16 * 16 * 9), *w2 = randv(16 * 16 * 9);
	float *w3 = randv(32 * 16 * 9), *wd = randv(32 * 16), *w4 = randv(32 * 32 * 9);
	float *f1 = randv(24 * 32), *f2 = randv(10 * 24), *b = randv(32);
	struct kern_layer L[] = {
		{KERN_OP_CONV, 0, 1, 7, 7, 2, 3, 0, 1, 0, w0, b, "conv1", NULL},
		{KERN_OP_MAXPOOL, 1, 2, 3, 3, 2, 1, 0, 0, 0, NULL, NULL, "pool", NULL},
		{KERN_OP_CONV, 2, 3, 3, 3, 1, 1, 0, 1, 0, w1, b, "b1.conv1", NULL},
		{KERN_OP_CONV, 3, 2, 3, 3, 1, 1, 0, 1, 1, w2, b, "b1.conv2", NULL},
		{KERN_OP_CONV, 2, 4, 1, 1, 2, 0, 0, 0, 0, wd, b, "b2.down", NULL},
		{KERN_OP_CONV, 2, 5, 3, 3, 2, 1, 0, 1, 0, w3, b, "b2.conv1", NULL},
		{KERN_OP_CONV, 5, 4, 3, 3, 1, 1, 0, 1, 1, w4, b, "b2.conv2", NULL},
		{KERN_OP_AVGPOOL, 4, 6, 0, 0, 0, 0, 0, 0, 0, NULL, NULL, "avg", NULL},
		{KERN_OP_FC, 6, 7, 0, 0, 0, 0, 0, 1, 0, f1, b, "fc1", NULL},
		{KERN_OP_FC, 7, 8, 0, 0, 0, 0, 0, 0, 0, f2, b, "fc2", NULL},
	};
	struct kern_graph g = {ARRAY_SIZE(sh), sh, ARRAY_SIZE(L), L, 0, 8};
	char err[200];

	/* b1.conv2 accumulates into tensor 2 after b1.conv1 has read it. */
	CHECK(kern_graph_check(&g, err, sizeof(err)) == 0, "mini resnet graph: %s", err);
	compare("mini resnet (identity + projection blocks)", &g, batch);
	free(w0);
	free(w1);
	free(w2);
	free(w3);
	free(wd);
	free(w4);
	free(f1);
	free(f2);
	free(b);
}

/* AlexNet's front, small: conv 11x11/4, max pool, the 5x5 convolution
 * (Winograd F(4x4, 5x5) on onednn, between oneDNN's own primitives), max
 * pool. */
static void alexnet_front(int batch)
{
	struct kern_shape sh[] = {{3, 71, 71}, {64, 17, 17}, {64, 8, 8}, {192, 8, 8}, {192, 3, 3}};
	float *w1 = randv(64 * 3 * 121), *w2 = randv(192 * 64 * 25), *b = randv(192);
	struct kern_layer L[] = {
		{KERN_OP_CONV, 0, 1, 11, 11, 4, 2, 0, 1, 0, w1, b, "conv1", NULL},
		{KERN_OP_MAXPOOL, 1, 2, 3, 3, 2, 0, 0, 0, 0, NULL, NULL, "pool1", NULL},
		{KERN_OP_CONV, 2, 3, 5, 5, 1, 2, 0, 1, 0, w2, b, "conv2", NULL},
		{KERN_OP_MAXPOOL, 3, 4, 3, 3, 2, 0, 0, 0, 0, NULL, NULL, "pool2", NULL},
	};
	struct kern_graph g = {ARRAY_SIZE(sh), sh, ARRAY_SIZE(L), L, 0, 4};

	compare("alexnet front (conv 11x11/4, pool, conv 5x5, pool)", &g, batch);
	free(w1);
	free(w2);
	free(b);
}

/* AlexNet's classifier, small: three FC layers, the later two on the
 * ReLU'd (so partly zero) output of the one before; at batch 1 onednn runs
 * them on its GEMV over the prepacked weights, skipping zero inputs. */
static void fc_chain(int batch)
{
	struct kern_shape sh[] = {{64, 2, 2}, {512, 1, 1}, {256, 1, 1}, {1000, 1, 1}};
	float *w1 = randv(512 * 256), *w2 = randv(256 * 512), *w3 = randv(1000 * 256);
	float *b = randv(1000);
	struct kern_layer L[] = {
		{KERN_OP_FC, 0, 1, 0, 0, 0, 0, 0, 1, 0, w1, b, "fc6", NULL},
		{KERN_OP_FC, 1, 2, 0, 0, 0, 0, 0, 1, 0, w2, b, "fc7", NULL},
		{KERN_OP_FC, 2, 3, 0, 0, 0, 0, 0, 0, 0, w3, b, "fc8", NULL},
	};
	struct kern_graph g = {ARRAY_SIZE(sh), sh, ARRAY_SIZE(L), L, 0, 3};

	compare("fc chain 256 -> 512 -> 256 -> 1000 (relu between)", &g, batch);
	free(w1);
	free(w2);
	free(w3);
	free(b);
}

/* One 3x3 convolution (Winograd on onednn) of c channels on an hw x hw map. */
struct one_conv {
	struct kern_shape sh[2];
	struct kern_layer l;
	struct kern_graph g;
	float *w, *b, *in, *want;
	size_t in_n, out_n;
};

static void one_conv_init(struct one_conv *o, int c, int hw, int batch)
{
	struct kern_plan *p;
	char err[256];

	o->sh[0] = o->sh[1] = (struct kern_shape){c, hw, hw};
	o->w = randv((size_t)c * c * 9);
	o->b = randv((size_t)c);
	o->l = (struct kern_layer){KERN_OP_CONV, 0,    1,      3,   3, 1, 1, 0, 1, 0,
				   o->w,	 o->b, "conv", NULL};
	o->g = (struct kern_graph){2, o->sh, 1, &o->l, 0, 1};
	o->in_n = o->out_n = (size_t)batch * c * hw * hw;
	o->in = randv(o->in_n);
	o->want = xmalloc(o->out_n * sizeof(float));
	REQUIRE(kern_plan_create(KERN_BACKEND_REF, &o->g, batch, &p, err, sizeof(err)) == 0, "%s",
		err);
	REQUIRE(kern_plan_run(p, o->in, o->want) == 0, "ref run");
	kern_plan_free(p);
}

static double one_conv_run(struct one_conv *o, struct kern_plan *p)
{
	float *got = xcalloc(o->out_n, sizeof(float));
	double e = kern_plan_run(p, o->in, got) == 0 ? nmse(got, o->want, o->out_n) : 1.0;
	free(got);
	return e;
}

/* Plans of two caches share one scratch: a later, larger plan grows (and
 * so moves) it, and the earlier plan still runs right on the new one. */
static void shared_scratch(void)
{
	struct kern_scratch *s = kern_scratch_new();
	struct kern_cache *ca = kern_cache_new(), *cb = kern_cache_new();
	struct kern_plan *pa, *pb;
	struct one_conv a, b;
	char err[256];
	size_t first;
	int before = t_failures;

	/* Both scratches are large enough that malloc maps them on their own
	 * and free unmaps them: a plan left on the old one would fault. */
	one_conv_init(&a, 64, 13, 4);
	one_conv_init(&b, 64, 28, 8);
	kern_cache_set_scratch(ca, s);
	kern_cache_set_scratch(cb, s);
	REQUIRE(kern_plan_create_cached(KERN_BACKEND_ONEDNN, &a.g, 4, ca, &pa, err, sizeof(err)) ==
			0,
		"%s", err);
	CHECK(one_conv_run(&a, pa) < 1e-10, "small plan on the shared scratch");
	first = kern_scratch_bytes(s);
	CHECK(first >= (1 << 20), "the small plan's scratch is %zu bytes", first);
	REQUIRE(kern_plan_create_cached(KERN_BACKEND_ONEDNN, &b.g, 8, cb, &pb, err, sizeof(err)) ==
			0,
		"%s", err);
	CHECK(kern_scratch_bytes(s) > first, "the larger plan grew the scratch (%zu -> %zu)", first,
	      kern_scratch_bytes(s));
	CHECK(one_conv_run(&b, pb) < 1e-10, "large plan on the shared scratch");
	CHECK(one_conv_run(&a, pa) < 1e-10, "small plan again, on the moved scratch");
	kern_plan_free(pa);
	kern_plan_free(pb);
	kern_cache_free(ca);
	kern_cache_free(cb);
	kern_scratch_free(s);
	free(a.w), free(a.b), free(a.in), free(a.want);
	free(b.w), free(b.b), free(b.in), free(b.want);
	printf("%s  %-58s\n", t_failures == before ? "ok" : "FAIL",
	       "one scratch shared by the plans of two caches");
}

/* AlexNet's front on a shared scratch (where its space to depth output
 * lives), which a later, larger plan grows and so moves: it still runs
 * right. */
static void front_shared_scratch(void)
{
	struct kern_shape sh[] = {{3, 71, 71}, {64, 17, 17}, {64, 8, 8}};
	float *w1 = randv(64 * 3 * 121), *b = randv(64), *in = randv(3 * 3 * 71 * 71);
	struct kern_layer L[] = {
		{KERN_OP_CONV, 0, 1, 11, 11, 4, 2, 0, 1, 0, w1, b, "conv1", NULL},
		{KERN_OP_MAXPOOL, 1, 2, 3, 3, 2, 0, 0, 0, 0, NULL, NULL, "pool1", NULL},
	};
	struct kern_graph g = {ARRAY_SIZE(sh), sh, ARRAY_SIZE(L), L, 0, 2};
	size_t out_n = 3 * 64 * 8 * 8;
	float *want = xmalloc(out_n * 4), *got = xmalloc(out_n * 4);
	struct kern_scratch *s = kern_scratch_new();
	struct kern_cache *ca = kern_cache_new(), *cb = kern_cache_new();
	struct kern_plan *p, *pa, *pb;
	struct one_conv big;
	char err[256];
	size_t first;
	int before = t_failures;

	REQUIRE(kern_plan_create(KERN_BACKEND_REF, &g, 3, &p, err, sizeof(err)) == 0, "%s", err);
	REQUIRE(kern_plan_run(p, in, want) == 0, "ref run");
	kern_plan_free(p);
	kern_cache_set_scratch(ca, s);
	kern_cache_set_scratch(cb, s);
	REQUIRE(kern_plan_create_cached(KERN_BACKEND_ONEDNN, &g, 3, ca, &pa, err, sizeof(err)) == 0,
		"%s", err);
	CHECK(kern_plan_run(pa, in, got) == 0 && nmse(got, want, out_n) < 1e-10,
	      "front on the shared scratch");
	first = kern_scratch_bytes(s);
	one_conv_init(&big, 64, 56, 16);
	REQUIRE(kern_plan_create_cached(KERN_BACKEND_ONEDNN, &big.g, 16, cb, &pb, err,
					sizeof(err)) == 0,
		"%s", err);
	CHECK(kern_scratch_bytes(s) > first, "the larger plan grew the scratch (%zu -> %zu)", first,
	      kern_scratch_bytes(s));
	memset(got, 0, out_n * 4);
	CHECK(kern_plan_run(pa, in, got) == 0 && nmse(got, want, out_n) < 1e-10,
	      "front again, on the grown (moved) scratch");
	kern_plan_free(pa);
	kern_plan_free(pb);
	kern_cache_free(ca);
	kern_cache_free(cb);
	kern_scratch_free(s);
	free(big.w), free(big.b), free(big.in), free(big.want);
	free(w1), free(b), free(in), free(want), free(got);
	printf("%s  %-58s\n", t_failures == before ? "ok" : "FAIL",
	       "space to depth in a shared scratch that moves");
}

static void bad_graphs(void)
{
	struct kern_shape sh[2] = {{4, 8, 8}, {4, 5, 5}};
	float w[4 * 4 * 9] = {0};
	struct kern_layer l = {KERN_OP_CONV, 0, 1, 3, 3, 1, 1, 0, 0, 0, w, NULL, "bad", NULL};
	struct kern_graph g = {2, sh, 1, &l, 0, 1};
	struct kern_plan *p = NULL;
	char err[200] = "";

	/* 8x8 k3 s1 p1 gives 8x8, not 5x5 */
	CHECK(kern_plan_create(KERN_BACKEND_ONEDNN, &g, 1, &p, err, sizeof(err)) == IDN_EGRAPH,
	      "wrong output shape accepted");
	CHECK(strstr(err, "bad") != NULL, "error does not name the layer: %s", err);
	sh[1] = (struct kern_shape){4, 8, 8};
	l.accumulate = 1;
	CHECK(kern_plan_create(KERN_BACKEND_REF, &g, 1, &p, err, sizeof(err)) == IDN_EGRAPH,
	      "accumulate into an unmade tensor accepted");
	l.accumulate = 0;
	CHECK(kern_plan_create(KERN_BACKEND_REF, &g, 0, &p, err, sizeof(err)) < 0,
	      "batch 0 accepted");

	/* 13x13 -> 5x5 adaptive average pool: oneDNN cannot, and says so. */
	{
		struct kern_shape s2[2] = {{3, 13, 13}, {3, 5, 5}};
		struct kern_layer a = {KERN_OP_AVGPOOL, 0,   1, 0, 0, 0, 0, 0, 0, 0, NULL, NULL,
				       "avg",		NULL};
		struct kern_graph ga = {2, s2, 1, &a, 0, 1};
		CHECK(kern_plan_create(KERN_BACKEND_ONEDNN, &ga, 1, &p, err, sizeof(err)) ==
			      IDN_EUNSUPPORTED,
		      "uneven adaptive pool on oneDNN not refused");
	}
	printf("ok  bad graphs refused\n");
}

/*
 * Weights with a weight_key may be freed after planning (the model does):
 * the onednn plan must then keep its own copy even where oneDNN would read
 * them in place (the layout it wants being the caller's: a grouped 5x5
 * convolution goes to its gemm path here).  The caller's array is
 * overwritten after planning; the plan must still give the reference.
 */
static void released_weights_case(void)
{
	struct kern_shape sh[2] = {{6, 9, 7}, {6, 9, 7}};
	size_t nw = 6 * 2 * 25, nin = 6 * 9 * 7;
	float *w = randv(nw), *b = randv(6), *in = randv(nin);
	float *ref = xmalloc(nin * sizeof(float)), *out = xmalloc(nin * sizeof(float));
	static const int key; /* any address that outlives the cache */
	struct kern_layer l = {KERN_OP_CONV, 0, 1, 5, 5, 1, 2, 3, 1, 0, w, b, "conv", &key};
	struct kern_graph g = {2, sh, 1, &l, 0, 1};
	struct kern_cache *c = kern_cache_new();
	struct kern_plan *p = NULL;
	char err[256];

	REQUIRE(kern_plan_create(KERN_BACKEND_REF, &g, 1, &p, err, sizeof(err)) == 0, "%s", err);
	REQUIRE(kern_plan_run(p, in, ref) == 0, "ref run");
	kern_plan_free(p);
	REQUIRE(kern_plan_create_cached(KERN_BACKEND_ONEDNN, &g, 1, c, &p, err, sizeof(err)) == 0,
		"%s", err);
	for (size_t i = 0; i < nw; i++)
		w[i] = 1e6f; /* "released" */
	REQUIRE(kern_plan_run(p, in, out) == 0, "onednn run");
	CHECK(nmse(out, ref, nin) < 1e-10,
	      "released weights: plan read the caller's array (nmse %g)", nmse(out, ref, nin));
	kern_plan_free(p);
	kern_cache_free(c);
	free(w);
	free(b);
	free(in);
	free(ref);
	free(out);
}

/* The Winograd implementation the onednn plan asks for by name at batch 1
 * is the one that runs: oneDNN's verbose lines, read from stdout. */
static void wino_impl_case(int c, int hw, const char *want)
{
	struct kern_shape sh[2] = {{c, hw, hw}, {c, hw, hw}};
	float *w = randv((size_t)c * c * 9), *in = randv((size_t)c * hw * hw);
	float *out = xmalloc((size_t)c * hw * hw * sizeof(float));
	struct kern_layer l = {KERN_OP_CONV, 0, 1, 3, 3, 1, 1, 1, 1, 0, w, NULL, "conv", NULL};
	struct kern_graph g = {2, sh, 1, &l, 0, 1};
	struct kern_plan *p = NULL;
	char err[256], path[] = "/tmp/idunno-verbose-XXXXXX", line[1024], shape[64];
	int fd = mkstemp(path), saved, found = 0;
	FILE *f;

	REQUIRE(fd >= 0, "mkstemp");
	REQUIRE(kern_plan_create(KERN_BACKEND_ONEDNN, &g, 1, &p, err, sizeof(err)) == 0, "%s", err);
	fflush(stdout);
	saved = dup(1);
	dup2(fd, 1);
	dnnl_set_verbose(1);
	kern_plan_run(p, in, out);
	dnnl_set_verbose(0);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	snprintf(shape, sizeof(shape), "mb1_ic%doc%d_ih%doh%d", c, c, hw, hw);
	f = fdopen(fd, "r");
	REQUIRE(f, "fdopen");
	rewind(f);
	while (fgets(line, sizeof(line), f))
		found |= strstr(line, ",exec,") && strstr(line, want) && strstr(line, shape);
	fclose(f);
	unlink(path);
	CHECK(found, "batch 1, %d channels at %dx%d: %s did not run", c, hw, hw, want);
	kern_plan_free(p);
	free(w);
	free(in);
	free(out);
}

/* kern_huge_alloc: 2 MB-aligned, all of it writable, freed. */
static void huge_alloc_case(void)
{
	size_t n = ((size_t)3 << 20) + 5;
	unsigned char *p = kern_huge_alloc(n);

	/* (Under AddressSanitizer it is the heap's, 64-byte aligned.) */
	CHECK(((uintptr_t)p & ((KERN_SANITIZING ? 64 : (size_t)2 << 20) - 1)) == 0,
	      "huge buffer %p not aligned", (void *)p);
	memset(p, 0xab, n);
	CHECK(p[0] == 0xab && p[n - 1] == 0xab, "huge buffer not writable to its end");
	kern_huge_free(p, n);
}

static void small_kernels(void)
{
	float x[8] = {1, 3, -2, 3, 0.5f, 7, -1, 2};
	int idx[3];
	double s = 0;

	kern_topk(x, 8, 3, idx);
	CHECK(idx[0] == 5 && idx[1] == 1 && idx[2] == 3, "topk %d %d %d", idx[0], idx[1], idx[2]);
	kern_softmax(x, 8);
	for (int i = 0; i < 8; i++)
		s += x[i];
	CHECK(fabs(s - 1) < 1e-6 && x[5] > x[1] && x[1] == x[3], "softmax");
	{
		float big[2] = {1000.0f, 1000.0f};
		kern_softmax(big, 2);
		CHECK(fabsf(big[0] - 0.5f) < 1e-6f, "softmax overflow");
	}
	printf("ok  softmax, topk\n");
}

int main(void)
{
	static const struct conv_case convs[] = {
		/* ic ih iw oc k s p g relu res bias */
		{3, 32, 32, 16, 7, 2, 3, 0, 1, 0, 1},  /* ResNet stem, small */
		{3, 67, 67, 8, 11, 4, 2, 0, 1, 0, 1},  /* AlexNet stem */
		{5, 13, 11, 7, 3, 1, 1, 0, 0, 0, 1},   /* odd everything */
		{16, 15, 15, 32, 3, 2, 1, 0, 1, 0, 0}, /* stride 2, no bias */
		{32, 9, 9, 16, 1, 1, 0, 0, 0, 0, 1},   /* 1x1 */
		{32, 9, 9, 64, 1, 2, 0, 0, 0, 0, 0},   /* 1x1 stride 2 (downsample) */
		{16, 12, 12, 16, 3, 1, 1, 0, 1, 1, 1}, /* residual + relu */
		{16, 12, 12, 32, 3, 2, 1, 0, 1, 1, 1}, /* residual, stride 2 */
		{8, 10, 10, 12, 3, 1, 1, 2, 1, 0, 1},  /* groups 2 */
		{6, 7, 9, 6, 5, 1, 2, 3, 0, 0, 1},     /* groups 3, 5x5 */
		{64, 14, 14, 64, 3, 1, 1, 0, 1, 0, 1}, /* a ResNet layer, small */
		{48, 13, 13, 32, 3, 1, 1, 0, 1, 0, 1}, /* an AlexNet 13x13 layer, small */
		/* Winograd at batch 1: F(4x4, 3x3) from 28x28, F(2x2, 3x3) below */
		{32, 28, 28, 32, 3, 1, 1, 0, 1, 0, 1}, /* ResNet's layer2 map, F(4x4) */
		{256, 7, 7, 256, 3, 1, 1, 0, 1, 0, 1}, /* layer4's map, F(2x2) */
		{32, 9, 9, 48, 3, 1, 1, 0, 0, 0, 0},   /* F(2x2) on odd tiles, no bias */
		/* 5x5 stride 1, channels in 16s: Winograd F(4x4, 5x5) on onednn */
		{16, 13, 11, 32, 5, 1, 2, 0, 1, 0, 1},	/* odd map, partial tiles */
		{32, 9, 7, 48, 5, 1, 1, 0, 0, 0, 0},	/* pad 1, no bias, no relu */
		{16, 6, 5, 16, 5, 1, 2, 0, 1, 0, 1},	/* fewer tiles than a unit */
		{64, 27, 27, 192, 5, 1, 2, 0, 1, 0, 1}, /* AlexNet's conv2 */
	};

	kern_set_threads(2);
	small_kernels();
	huge_alloc_case();
	released_weights_case();
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f")) { /* oneDNN's Winograd needs AVX-512 */
		wino_impl_case(32, 28, "jit_wino_4x3");
		wino_impl_case(256, 7, "jit_fp32_wino_2x3");
		wino_impl_case(64, 14, "jit_fp32_wino_2x3");
	} else {
		printf("note: no AVX-512, the batch-1 Winograd choice is not checked\n");
	}
	for (size_t i = 0; i < ARRAY_SIZE(convs); i++) {
		conv_case(&convs[i], 1);
		conv_case(&convs[i], 3);
	}
	pool_case(KERN_OP_MAXPOOL, 8, 15, 17, 3, 2, 1, 0, 0, 2);
	pool_case(KERN_OP_MAXPOOL, 5, 27, 27, 3, 2, 0, 0, 0, 1);
	pool_case(KERN_OP_MAXPOOL, 64, 112, 112, 3, 2, 1, 0, 0, 1);
	pool_case(KERN_OP_AVGPOOL, 16, 7, 7, 0, 0, 0, 1, 1, 3);
	pool_case(KERN_OP_AVGPOOL, 16, 6, 6, 0, 0, 0, 6, 6, 2);
	pool_case(KERN_OP_AVGPOOL, 16, 12, 12, 0, 0, 0, 6, 6, 1);
	fc_case(16, 3, 3, 10, 1, 1);
	fc_case(16, 3, 3, 10, 0, 4);
	fc_case(512, 1, 1, 1000, 0, 2);
	fc_case(32, 6, 6, 96, 1, 16); /* prepacked weights at their own batch */
	fc_case(32, 6, 6, 96, 1, 64);
	shared_scratch();
	front_shared_scratch();
	mini_resnet(1);
	mini_resnet(2);
	alexnet_front(1);
	alexnet_front(3);
	alexnet_front(16);
	fc_chain(1);
	fc_chain(3);
	bad_graphs();
	return t_result();
}
