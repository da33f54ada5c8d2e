/*
 * model.c - ResNet18 and AlexNet as tables (torchvision's architectures,
 * layer for layer), the weights loader with batch-norm folding, and the
 * deterministic weight generator.
 */
#include "model.h"
#include "err.h"
#include "safetensors.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BN_EPS 1e-5 /* torchvision's BatchNorm2d default */

/* One row of a network table. */
struct layer_spec {
	enum kern_op op;
	const char *param; /* state_dict prefix of the weights, or NULL */
	const char *bn;	   /* batch-norm folded into this conv, or NULL */
	int src, dst;	   /* tensor numbers; 0 is the image */
	int out;	   /* conv/fc: output channels; avgpool: output side */
	int k, stride, pad;
	int relu;
	int acc;  /* conv: add into dst (the residual) */
	int bias; /* conv/fc has its own bias tensor */
};

struct model_def {
	const char *name; /* as in model_names.c */
	const struct layer_spec *layers;
	int nlayers, ntensors, output;
};

#define CONV(p, b, s, d, oc, k, st, pd, r, a)                                                      \
	{                                                                                          \
		KERN_OP_CONV, p, b, s, d, oc, k, st, pd, r, a, 0                                   \
	}
#define CONVB(p, s, d, oc, k, st, pd)                                                              \
	{                                                                                          \
		KERN_OP_CONV, p, NULL, s, d, oc, k, st, pd, 1, 0, 1                                \
	}
#define MAXPOOL(s, d, k, st, pd)                                                                   \
	{                                                                                          \
		KERN_OP_MAXPOOL, NULL, NULL, s, d, 0, k, st, pd, 0, 0, 0                           \
	}
#define AVGPOOL(s, d, side)                                                                        \
	{                                                                                          \
		KERN_OP_AVGPOOL, NULL, NULL, s, d, side, 0, 0, 0, 0, 0, 0                          \
	}
#define FC(p, s, d, oc, r)                                                                         \
	{                                                                                          \
		KERN_OP_FC, p, NULL, s, d, oc, 0, 0, 0, r, 0, 1                                    \
	}

/* BasicBlock, identity shortcut: conv2 adds into the block's input. */
#define BLOCK(L, in, t1, oc)                                                                       \
	CONV(L ".conv1", L ".bn1", in, t1, oc, 3, 1, 1, 1, 0),                                     \
		CONV(L ".conv2", L ".bn2", t1, in, oc, 3, 1, 1, 1, 1)
/* BasicBlock with stride 2 and a 1x1 projection shortcut into ds. */
#define BLOCK_DOWN(L, in, ds, t1, oc)                                                              \
	CONV(L ".downsample.0", L ".downsample.1", in, ds, oc, 1, 2, 0, 0, 0),                     \
		CONV(L ".conv1", L ".bn1", in, t1, oc, 3, 2, 1, 1, 0),                             \
		CONV(L ".conv2", L ".bn2", t1, ds, oc, 3, 1, 1, 1, 1)

static const struct layer_spec resnet18_layers[] = {
	CONV("conv1", "bn1", 0, 1, 64, 7, 2, 3, 1, 0),
	MAXPOOL(1, 2, 3, 2, 1),
	BLOCK("layer1.0", 2, 3, 64),
	BLOCK("layer1.1", 2, 4, 64),
	BLOCK_DOWN("layer2.0", 2, 5, 6, 128),
	BLOCK("layer2.1", 5, 7, 128),
	BLOCK_DOWN("layer3.0", 5, 8, 9, 256),
	BLOCK("layer3.1", 8, 10, 256),
	BLOCK_DOWN("layer4.0", 8, 11, 12, 512),
	BLOCK("layer4.1", 11, 13, 512),
	AVGPOOL(11, 14, 1),
	FC("fc", 14, 15, 1000, 0),
};

/* torchvision's AlexNet: features, avgpool (6x6), classifier (dropout is a
 * no-op at inference). */
static const struct layer_spec alexnet_layers[] = {
	CONVB("features.0", 0, 1, 64, 11, 4, 2),
	MAXPOOL(1, 2, 3, 2, 0),
	CONVB("features.3", 2, 3, 192, 5, 1, 2),
	MAXPOOL(3, 4, 3, 2, 0),
	CONVB("features.6", 4, 5, 384, 3, 1, 1),
	CONVB("features.8", 5, 6, 256, 3, 1, 1),
	CONVB("features.10", 6, 7, 256, 3, 1, 1),
	MAXPOOL(7, 8, 3, 2, 0),
	AVGPOOL(8, 9, 6),
	FC("classifier.1", 9, 10, 4096, 1),
	FC("classifier.4", 10, 11, 4096, 1),
	FC("classifier.6", 11, 12, 1000, 0),
};

static const struct model_def defs[MODEL_MAX] = {
	[MODEL_RESNET18] = {"resnet18", resnet18_layers, ARRAY_SIZE(resnet18_layers), 16, 15},
	[MODEL_ALEXNET] = {"alexnet", alexnet_layers, ARRAY_SIZE(alexnet_layers), 13, 12},
};

/* Tensor shapes, walking the table from the 3x224x224 image. */
static void def_shapes(const struct model_def *d, struct kern_shape *sh)
{
	sh[0] = (struct kern_shape){MODEL_IN_C, MODEL_IN_H, MODEL_IN_W};
	for (int i = 0; i < d->nlayers; i++) {
		const struct layer_spec *l = &d->layers[i];
		const struct kern_shape *in = &sh[l->src];
		switch (l->op) {
		case KERN_OP_CONV:
		case KERN_OP_MAXPOOL:
			sh[l->dst] =
				(struct kern_shape){l->op == KERN_OP_CONV ? l->out : in->c,
						    kern_out_dim(in->h, l->k, l->stride, l->pad),
						    kern_out_dim(in->w, l->k, l->stride, l->pad)};
			break;
		case KERN_OP_AVGPOOL:
			sh[l->dst] = (struct kern_shape){in->c, l->out, l->out};
			break;
		case KERN_OP_FC:
		default:
			sh[l->dst] = (struct kern_shape){l->out, 1, 1};
			break;
		}
	}
}

/* The weight tensors a table expects, in state_dict order. */
enum param_kind { P_WEIGHT, P_BIAS, P_BN_WEIGHT, P_BN_BIAS, P_BN_MEAN, P_BN_VAR, P_BN_COUNT };

struct param {
	char name[96];
	enum param_kind kind;
	int layer;
	int ndims;
	int64_t dims[4];
	int fan_in;
};

static int def_params(const struct model_def *d, const struct kern_shape *sh, struct param *ps)
{
	static const char *const bn_suffix[] = {"weight", "bias", "running_mean", "running_var",
						"num_batches_tracked"};
	int n = 0;

	for (int i = 0; i < d->nlayers; i++) {
		const struct layer_spec *l = &d->layers[i];
		const struct kern_shape *in = &sh[l->src];
		int fan_in =
			l->op == KERN_OP_CONV ? in->c * l->k * l->k : (int)(in->c * in->h * in->w);
		if (!l->param)
			continue;
		ps[n] = (struct param){.kind = P_WEIGHT, .layer = i, .fan_in = fan_in};
		snprintf(ps[n].name, sizeof(ps[n].name), "%s.weight", l->param);
		if (l->op == KERN_OP_CONV) {
			ps[n].ndims = 4;
			ps[n].dims[0] = l->out;
			ps[n].dims[1] = in->c;
			ps[n].dims[2] = ps[n].dims[3] = l->k;
		} else {
			ps[n].ndims = 2;
			ps[n].dims[0] = l->out;
			ps[n].dims[1] = fan_in;
		}
		n++;
		if (l->bias) {
			ps[n] = (struct param){.kind = P_BIAS,
					       .layer = i,
					       .ndims = 1,
					       .dims = {l->out},
					       .fan_in = fan_in};
			snprintf(ps[n].name, sizeof(ps[n].name), "%s.bias", l->param);
			n++;
		}
		for (int k = 0; l->bn && k < 5; k++) {
			ps[n] = (struct param){.kind = (enum param_kind)(P_BN_WEIGHT + k),
					       .layer = i,
					       .ndims = k < 4,
					       .dims = {l->out}};
			snprintf(ps[n].name, sizeof(ps[n].name), "%s.%s", l->bn, bn_suffix[k]);
			n++;
		}
	}
	return n;
}

#define MAX_PARAMS 256

struct model {
	enum model_id id;
	struct st_file file;
	struct kern_shape shapes[32];
	struct kern_layer layers[64];
	struct kern_graph graph;
	float *owned[128]; /* realigned weights, folded biases */
	int nowned;
	/* Convolutions with batch-norm folded in: the file's tensors they are
	 * folded from, and the folded weights (NULL while released). */
	struct fold {
		int layer, out;
		const struct st_tensor *w, *bn[4];
		float *weight;
		uint64_t sum; /* of the first fold's weights: a later one must match */
	} folds[32];
	int nfolds;
};

enum model_id model_id_of(const struct model *m)
{
	return m->id;
}

const struct kern_graph *model_graph(const struct model *m)
{
	return &m->graph;
}

void model_release_file_pages(struct model *m)
{
	st_drop_pages(&m->file);
}

static const float *f32_of(struct model *m, const struct st_tensor *t)
{
	float *copy;

	if (((uintptr_t)t->data & 3) == 0)
		return t->data;
	copy = xaligned_alloc(t->nbytes);
	memcpy(copy, t->data, t->nbytes);
	m->owned[m->nowned++] = copy;
	return copy;
}

/*
 * Every value of an F32 tensor must be finite (a NaN or an infinity would
 * poison every result); a batch-norm variance must not be negative.  0, or
 * -EDOM with err naming the tensor and the first bad element.
 */
static int check_values(const struct model_def *d, const struct param *p, const struct st_tensor *t,
			char *err, size_t errlen)
{
	const unsigned char *b = t->data;
	size_t n = t->nbytes / sizeof(float);

	if (t->dtype != ST_F32)
		return 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t u;
		float v;
		memcpy(&u, b + i * sizeof(float), sizeof(u)); /* the mapping may be unaligned */
		memcpy(&v, &u, sizeof(v));
		if ((u & 0x7f800000u) == 0x7f800000u) {
			util_seterr(err, errlen,
				    "%s weights: tensor %s has a non-finite value (%s "
				    "at element %zu)",
				    d->name, p->name, isnan(v) ? "nan" : "inf", i);
			return -EDOM;
		}
		if (p->kind == P_BN_VAR && v < 0) {
			util_seterr(err, errlen,
				    "%s weights: tensor %s has a negative variance (%g "
				    "at element %zu)",
				    d->name, p->name, (double)v, i);
			return -EDOM;
		}
	}
	return 0;
}

/* Element o of F32 tensor t (the mapping may be unaligned). */
static float f32_at(const struct st_tensor *t, int o)
{
	float v;

	memcpy(&v, (const unsigned char *)t->data + (size_t)o * sizeof(v), sizeof(v));
	return v;
}

/* Batch-norm's scale of output channel o: g / sqrt(var + eps). */
static double bn_scale(const struct st_tensor *const bn[4], int o)
{
	return f32_at(bn[0], o) / sqrt((double)f32_at(bn[3], o) + BN_EPS);
}

/* w' = w * g / sqrt(var + eps), read from the file: a new array, or NULL
 * when a value is not finite. */
static float *fold_weights(const struct fold *f)
{
	size_t per = f->w->nbytes / sizeof(float) / (size_t)f->out;
	float *nw = xaligned_alloc(f->w->nbytes);
	const float *src = f->w->data;
	int finite = 1;

	for (int o = 0; o < f->out; o++) {
		double s = bn_scale(f->bn, o);
		for (size_t i = 0; i < per; i++) {
			float wi;
			memcpy(&wi, &src[o * per + i], sizeof(wi));
			nw[o * per + i] = (float)(wi * s);
			finite &= isfinite(nw[o * per + i]) != 0;
		}
	}
	if (!finite) {
		free(nw);
		return NULL;
	}
	return nw;
}

/* A checksum of n bytes (8-byte words, then the tail). */
static uint64_t weights_sum(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325u, w;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, b + i, 8);
		h = (h ^ w) * 0x100000001b3u;
	}
	for (; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3u;
	return h;
}

/* Folds batch-norm bn into convolution kl: b' = beta - mean * g / sqrt(var
 * + eps), kept with the model; the weights as fold_weights, released after
 * planning by a backend that copies them (model_release_weights). */
static int fold_bn(struct model *m, struct kern_layer *kl, int layer, const struct layer_spec *l,
		   const struct st_tensor *w, const struct st_tensor *bn[4])
{
	struct fold *f = &m->folds[m->nfolds];
	float *nb = xaligned_alloc((size_t)l->out * sizeof(float));
	int finite = 1;

	ASSERT(m->nfolds < (int)ARRAY_SIZE(m->folds));
	*f = (struct fold){
		.layer = layer, .out = l->out, .w = w, .bn = {bn[0], bn[1], bn[2], bn[3]}};
	m->nfolds++;
	for (int o = 0; o < l->out; o++) {
		nb[o] = (float)(f32_at(bn[1], o) - f32_at(bn[2], o) * bn_scale(bn, o));
		finite &= isfinite(nb[o]) != 0;
	}
	m->owned[m->nowned++] = nb;
	kl->bias = nb;
	kl->weight = f->weight = fold_weights(f);
	kl->weight_key = w->data; /* the same however often it is folded again */
	if (f->weight)
		f->sum = weights_sum(f->weight, w->nbytes);
	return finite && f->weight ? 0 : -EDOM;
}

void model_release_weights(struct model *m)
{
	for (int i = 0; i < m->nfolds; i++) {
		free(m->folds[i].weight);
		m->folds[i].weight = NULL;
		m->layers[m->folds[i].layer].weight = NULL;
	}
}

int model_acquire_weights(struct model *m, char *err, size_t errlen)
{
	for (int i = 0; i < m->nfolds; i++) {
		struct fold *f = &m->folds[i];
		if (f->weight)
			continue;
		f->weight = fold_weights(f);
		/* The file is read again: it must still hold what was loaded
		 * (files are replaced by rename, but one written in place would
		 * mix its new weights with copies prepared from the old). */
		if (!f->weight || weights_sum(f->weight, f->w->nbytes) != f->sum) {
			util_seterr(err, errlen,
				    "%s weights: %s is not what was loaded (the file changed "
				    "since; load it again)",
				    model_name(m->id), m->layers[f->layer].name);
			model_release_weights(m); /* none kept half-made */
			return -ESTALE;
		}
		m->layers[f->layer].weight = f->weight;
	}
	return 0;
}

static int check_params(const struct model_def *d, const struct st_file *f, const struct param *ps,
			int np, const struct st_tensor **found, char *err, size_t errlen)
{
	for (int i = 0; i < np; i++) {
		const struct st_tensor *t = st_find(f, ps[i].name);
		enum st_dtype want = ps[i].kind == P_BN_COUNT ? ST_I64 : ST_F32;
		found[i] = t;
		if (!t) {
			if (ps[i].kind == P_BN_COUNT)
				continue; /* optional: not needed at inference */
			util_seterr(err, errlen, "%s weights: tensor %s is missing", d->name,
				    ps[i].name);
			return IDN_EBADMODEL;
		}
		if (t->dtype != want) {
			util_seterr(err, errlen, "%s weights: tensor %s has dtype %s, want %s",
				    d->name, ps[i].name, t->dtype_name,
				    want == ST_F32 ? "F32" : "I64");
			return IDN_EBADMODEL;
		}
		if (t->ndims != ps[i].ndims ||
		    memcmp(t->dims, ps[i].dims, (size_t)t->ndims * sizeof(int64_t))) {
			char got[64] = "", exp[64] = "";
			for (int k = 0; k < t->ndims && k < 4; k++)
				snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%lld",
					 k ? "x" : "", (long long)t->dims[k]);
			for (int k = 0; k < ps[i].ndims; k++)
				snprintf(exp + strlen(exp), sizeof(exp) - strlen(exp), "%s%lld",
					 k ? "x" : "", (long long)ps[i].dims[k]);
			util_seterr(err, errlen, "%s weights: tensor %s has shape [%s], want [%s]",
				    d->name, ps[i].name, got, exp);
			return IDN_EBADMODEL;
		}
	}
	for (int i = 0; i < f->ntensors; i++) {
		int known = 0;
		for (int k = 0; k < np && !known; k++)
			known = strcmp(f->tensors[i].name, ps[k].name) == 0;
		if (!known) {
			util_seterr(err, errlen,
				    "%s weights: unexpected tensor %s (weights of another model?)",
				    d->name, f->tensors[i].name);
			return IDN_EBADMODEL;
		}
	}
	return 0;
}

/* The architecture a file's metadata names must be the one it is loaded as. */
static int check_arch(const struct model_def *d, const struct st_file *f, char *err, size_t errlen)
{
	const char *arch = st_metadata(f, "arch");

	if (arch && strcmp(arch, d->name)) {
		util_seterr(err, errlen,
			    "%s weights: the file's metadata names architecture '%s' "
			    "(weights of another model?)",
			    d->name, arch);
		return -EINVAL;
	}
	return 0;
}

int model_load(enum model_id id, const char *path, struct model **out, char *err, size_t errlen)
{
	const struct model_def *d;
	struct param *ps = NULL;
	const struct st_tensor **found = NULL;
	struct model *m;
	int np, ret;

	if ((unsigned)id >= MODEL_MAX) {
		util_seterr(err, errlen, "unknown model %d", (int)id);
		return IDN_ENOMODEL;
	}
	d = &defs[id];
	m = xcalloc(1, sizeof(*m));
	m->id = id;
	ret = st_open(path, &m->file, err, errlen);
	if (ret)
		goto err;
	def_shapes(d, m->shapes);
	ps = xcalloc(MAX_PARAMS, sizeof(*ps));
	np = def_params(d, m->shapes, ps);
	found = xcalloc((size_t)np, sizeof(*found));
	{
		char sub[768];
		ret = check_params(d, &m->file, ps, np, found, sub, sizeof(sub));
		if (!ret)
			ret = check_arch(d, &m->file, sub, sizeof(sub));
		if (ret) {
			util_seterr(err, errlen, "%s: %s", path, sub);
			goto err;
		}
		for (int i = 0; i < np; i++) {
			ret = found[i] ? check_values(d, &ps[i], found[i], sub, sizeof(sub)) : 0;
			if (ret) {
				util_seterr(err, errlen, "%s: %s", path, sub);
				goto err;
			}
		}
	}

	for (int i = 0, p = 0; i < d->nlayers; i++) {
		const struct layer_spec *l = &d->layers[i];
		struct kern_layer *kl = &m->layers[i];
		*kl = (struct kern_layer){.op = l->op,
					  .src = l->src,
					  .dst = l->dst,
					  .k_h = l->k,
					  .k_w = l->k,
					  .stride = l->stride,
					  .pad = l->pad,
					  .groups = 1,
					  .relu = l->relu,
					  .accumulate = l->acc,
					  .name = l->param ? l->param : kern_op_name(l->op)};
		if (!l->param)
			continue;
		/* ps[] lists this layer's weight, then bias, then bn tensors. */
		ASSERT(ps[p].layer == i && ps[p].kind == P_WEIGHT);
		if (l->bn) {
			const struct st_tensor *bn[4] = {found[p + 1], found[p + 2], found[p + 3],
							 found[p + 4]};
			ret = fold_bn(m, kl, i, l, found[p], bn);
			if (ret) {
				util_seterr(err, errlen,
					    "%s: %s weights: folding %s into %s gives a non-finite "
					    "value",
					    path, d->name, l->bn, ps[p].name);
				goto err;
			}
			p += 6;
		} else {
			kl->weight = f32_of(m, found[p]);
			kl->bias = l->bias ? f32_of(m, found[p + 1]) : NULL;
			p += l->bias ? 2 : 1;
		}
	}
	m->graph = (struct kern_graph){d->ntensors, m->shapes, d->nlayers, m->layers, 0, d->output};
	ret = kern_graph_check(&m->graph, err, errlen);
	if (ret)
		goto err;
	free(ps);
	free(found);
	*out = m;
	return 0;
err:
	free(ps);
	free(found);
	model_free(m);
	return ret;
}

int model_file_arch(const char *path, const char *model, enum model_id *id, struct model_check *out,
		    char *err, size_t errlen)
{
	struct st_file f;
	const char *arch;
	int ret = st_open(path, &f, err, errlen);

	if (ret)
		return ret;
	arch = st_metadata(&f, "arch");
	if (!arch && !model) {
		util_seterr(err, errlen,
			    "%s: the file's metadata names no architecture (\"arch\"); give "
			    "--model",
			    path);
		ret = -EINVAL;
	} else if (model && model_parse(model, id)) {
		util_seterr(err, errlen, "unknown model '%s' (resnet18, alexnet)", model);
		ret = -EINVAL;
	} else if (!model && model_parse(arch, id)) {
		util_seterr(err, errlen,
			    "%s: the file's metadata names architecture '%s', not one "
			    "this engine knows (resnet18, alexnet)",
			    path, arch);
		ret = -EINVAL;
	}
	if (out)
		*out = (struct model_check){.ntensors = f.ntensors, .bytes = f.map_len};
	st_close(&f);
	return ret;
}

int model_check_file(const char *path, const char *model, struct model_check *out, char *err,
		     size_t errlen)
{
	struct model *m;
	enum model_id id = MODEL_MAX;
	int ret = model_file_arch(path, model, &id, out, err, errlen);

	if (ret)
		return ret;
	/* with --model and an "arch" both, model_load refuses a disagreement */
	ret = model_load(id, path, &m, err, errlen);
	if (ret)
		return ret;
	out->id = id;
	model_free(m);
	return 0;
}

void model_free(struct model *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->nowned; i++)
		free(m->owned[i]);
	for (int i = 0; i < m->nfolds; i++)
		free(m->folds[i].weight);
	st_close(&m->file);
	free(m);
}

/* splitmix64, and Box-Muller normals from it. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double rng_uniform(uint64_t *s)
{
	return ((rng_next(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static double rng_normal(uint64_t *s)
{
	double u1 = rng_uniform(s), u2 = rng_uniform(s);
	return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

int model_generate_weights(enum model_id id, uint64_t seed, const char *path, char *err,
			   size_t errlen)
{
	struct kern_shape sh[32];
	struct param *ps;
	struct st_out *outs;
	void **bufs;
	uint64_t s = seed ^ 0x1d0c0ffeeull;
	int np, ret;

	if ((unsigned)id >= MODEL_MAX) {
		util_seterr(err, errlen, "unknown model %d", (int)id);
		return IDN_ENOMODEL;
	}
	def_shapes(&defs[id], sh);
	ps = xcalloc(MAX_PARAMS, sizeof(*ps));
	np = def_params(&defs[id], sh, ps);
	outs = xcalloc((size_t)np, sizeof(*outs));
	bufs = xcalloc((size_t)np, sizeof(*bufs));
	for (int i = 0; i < np; i++) {
		const struct param *p = &ps[i];
		size_t numel = 1;
		for (int k = 0; k < p->ndims; k++)
			numel *= (size_t)p->dims[k];
		outs[i] = (struct st_out){p->name,
					  p->kind == P_BN_COUNT ? ST_I64 : ST_F32,
					  p->ndims,
					  {p->dims[0], p->dims[1], p->dims[2], p->dims[3]},
					  NULL};
		if (p->kind == P_BN_COUNT) {
			int64_t *c = xmalloc(sizeof(*c));
			*c = 1000 + (int64_t)(rng_next(&s) % 1000);
			bufs[i] = c;
		} else {
			float *v = xmalloc(numel * sizeof(float));
			/* He init keeps activations at a sane scale through ReLUs. */
			double sd = sqrt(2.0 / p->fan_in);
			for (size_t k = 0; k < numel; k++) {
				switch (p->kind) {
				case P_WEIGHT:
					v[k] = (float)(rng_normal(&s) * sd);
					break;
				case P_BIAS:
					v[k] = (float)((rng_uniform(&s) - 0.5) * 0.2);
					break;
				case P_BN_WEIGHT:
					v[k] = (float)(0.5 + rng_uniform(&s));
					break;
				case P_BN_BIAS:
					v[k] = (float)((rng_uniform(&s) - 0.5) * 0.4);
					break;
				case P_BN_MEAN:
					v[k] = (float)((rng_uniform(&s) - 0.5) * 0.4);
					break;
				case P_BN_VAR:
					v[k] = (float)(0.5 + 1.5 * rng_uniform(&s));
					break;
				default:
					v[k] = 0;
					break;
				}
			}
			bufs[i] = v;
		}
		outs[i].data = bufs[i];
	}
	{
		struct st_meta meta = {"arch", defs[id].name};
		ret = st_write_meta(path, &meta, 1, outs, np, err, errlen);
	}
	for (int i = 0; i < np; i++)
		free(bufs[i]);
	free(bufs);
	free(outs);
	free(ps);
	return ret;
}
