/*
 * kern_onednn.c - the oneDNN backend (the default).
 *
 * A plan is built in two passes.  The first creates one primitive per
 * layer, letting oneDNN choose the memory format of weights and outputs
 * ("any"); each layer then takes its input in whatever blocked layout the
 * layer before produced, so activations are reordered only where a
 * primitive insists (in practice: nowhere but the edges).  Weights are
 * reordered once, at plan time.  Residual adds ride on the convolution as
 * a sum post-op into the residual tensor, ReLU as an eltwise post-op;
 * 3x3 stride-1 convolutions on large maps use oneDNN's Winograd, 5x5
 * stride-1 ones our own (kern_wino5.c, a step of ours between oneDNN's).  The
 * second pass sizes every tensor and shares buffers between tensors whose
 * lives do not overlap; one scratchpad serves all primitives (and, through
 * a kern_scratch, the plans of every network in the process).
 */
#include "kern_onednn.h"

#include <stdlib.h>
#include <string.h>

/* One CPU engine for the process: memories made for one plan (cached
 * weights) are used by the primitives of another. */
static dnnl_engine_t shared_engine(void)
{
	static dnnl_engine_t eng;
	if (!eng && dnnl_engine_create(&eng, dnnl_cpu, 0) != dnnl_success)
		eng = NULL;
	return eng;
}

static void drop_memory(void *m)
{
	dnnl_memory_destroy(m);
}

/* A cached memory whose buffer is ours (kern_huge_alloc). */
static void drop_huge_memory(void *m)
{
	void *h = NULL;
	const dnnl_memory_desc_t *md = NULL;

	if (dnnl_memory_get_data_handle(m, &h) == dnnl_success &&
	    dnnl_memory_get_memory_desc(m, &md) == dnnl_success)
		kern_huge_free(h, dnnl_memory_desc_get_size(md));
	dnnl_memory_destroy(m);
}

void odnn_own(struct onednn_plan *p, dnnl_memory_t m)
{
	if (p->nowned == p->cap_owned) {
		p->cap_owned = p->cap_owned ? 2 * p->cap_owned : 64;
		p->owned = realloc(p->owned, (size_t)p->cap_owned * sizeof(*p->owned));
		ASSERT(p->owned);
	}
	p->owned[p->nowned++] = m;
}

struct step *odnn_add_step(struct onednn_plan *p, dnnl_primitive_t prim)
{
	struct step *s;

	if (p->nsteps == p->cap_steps) {
		p->cap_steps = p->cap_steps ? 2 * p->cap_steps : 64;
		p->steps = realloc(p->steps, (size_t)p->cap_steps * sizeof(*p->steps));
		ASSERT(p->steps);
	}
	s = &p->steps[p->nsteps++];
	memset(s, 0, sizeof(*s));
	s->prim = prim;
	return s;
}

/* Attributes: user scratchpad, then sum (residual) and ReLU post-ops. */
dnnl_primitive_attr_t odnn_make_attr(int sum, int relu)
{
	dnnl_primitive_attr_t attr = NULL;
	dnnl_post_ops_t po = NULL;

	if (dnnl_primitive_attr_create(&attr) != dnnl_success)
		return NULL;
	dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
	if (sum || relu) {
		if (dnnl_post_ops_create(&po) != dnnl_success)
			goto fail;
		if (sum && dnnl_post_ops_append_sum(po, 1.0f) != dnnl_success)
			goto fail;
		if (relu && dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f) !=
				    dnnl_success)
			goto fail;
		if (dnnl_primitive_attr_set_post_ops(attr, po) != dnnl_success)
			goto fail;
		dnnl_post_ops_destroy(po);
	}
	return attr;
fail:
	if (po)
		dnnl_post_ops_destroy(po);
	dnnl_primitive_attr_destroy(attr);
	return NULL;
}

/* Copies user data into a new memory of format want (reordering as needed). */
static int import_const(struct onednn_plan *p, const dnnl_memory_desc_t *user_md, const void *data,
			const void *key, const dnnl_memory_desc_t *want, dnnl_memory_t *out,
			const char *where, char *err, size_t errlen)
{
	dnnl_memory_t src = NULL, dst = NULL;
	dnnl_primitive_desc_t rpd = NULL;
	dnnl_primitive_t r = NULL;
	size_t bytes = dnnl_memory_desc_get_size(want);
	void *huge = NULL;
	int ret = 0;

	if (key == data && dnnl_memory_desc_equal(user_md, want)) {
		/* Already in the wanted layout (and kept): read in place, no copy. */
		CHK(dnnl_memory_create(&dst, want, p->eng, (void *)data));
		odnn_own(p, dst);
		*out = dst;
		return 0;
	}
	dst = kern_cache_get(p->cache, key, want, sizeof(*want));
	if (dst) {
		*out = dst;
		return 0;
	}
	/* Large prepared weights that the cache keeps go in huge pages (the
	 * cache's drop frees the buffer with the memory). */
	huge = p->cache && bytes >= KERN_HUGE_MIN ? kern_huge_try_alloc(bytes) : NULL;
	if (huge && dnnl_memory_create(&dst, want, p->eng, huge) != dnnl_success)
		kern_huge_free(huge, bytes);
	if (!dst) {
		huge = NULL;
		CHK(dnnl_memory_create(&dst, want, p->eng, DNNL_MEMORY_ALLOCATE));
	}
	CHK(dnnl_memory_create(&src, user_md, p->eng, (void *)data));
	CHK(dnnl_reorder_primitive_desc_create(&rpd, user_md, p->eng, want, p->eng, NULL));
	CHK(dnnl_primitive_create(&r, rpd));
	{
		dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}};
		CHK(dnnl_primitive_execute(r, p->strm, 2, a));
		CHK(dnnl_stream_wait(p->strm));
	}
	if (p->cache)
		kern_cache_put(p->cache, key, want, sizeof(*want), dst, bytes,
			       huge ? drop_huge_memory : drop_memory);
	else
		odnn_own(p, dst);
	*out = dst;
	dst = NULL;
err:
	if (r)
		dnnl_primitive_destroy(r);
	if (rpd)
		dnnl_primitive_desc_destroy(rpd);
	if (src)
		dnnl_memory_destroy(src);
	if (dst)
		(huge ? drop_huge_memory : drop_memory)(dst);
	return ret;
}

/* Adds a step reordering memory `from` into `to`, or a new temporary of format want. */
int odnn_add_reorder(struct onednn_plan *p, dnnl_memory_t from, const dnnl_memory_desc_t *from_md,
		     const dnnl_memory_desc_t *want, dnnl_memory_t to, dnnl_memory_t *out,
		     const char *where, char *err, size_t errlen)
{
	dnnl_primitive_desc_t rpd = NULL;
	dnnl_primitive_t r = NULL;
	struct step *s;
	int ret = 0;

	if (!to) {
		CHK(dnnl_memory_create(&to, want, p->eng, DNNL_MEMORY_ALLOCATE));
		odnn_own(p, to);
		p->temp_bytes += dnnl_memory_desc_get_size(want);
	}
	CHK(dnnl_reorder_primitive_desc_create(&rpd, from_md, p->eng, want, p->eng, NULL));
	CHK(dnnl_primitive_create(&r, rpd));
	s = odnn_add_step(p, r);
	add_arg(s, DNNL_ARG_FROM, from);
	add_arg(s, DNNL_ARG_TO, to);
	if (out)
		*out = to;
err:
	if (rpd)
		dnnl_primitive_desc_destroy(rpd);
	return ret;
}

/*
 * Creates the primitive for pd, adds its step with src (reordered when the
 * primitive wants another layout), and hooks the shared scratchpad.
 */
int odnn_add_primitive(struct onednn_plan *p, dnnl_primitive_desc_t pd, int src_t,
		       struct step **out, const char *where, char *err, size_t errlen)
{
	const dnnl_memory_desc_t *want = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
	const dnnl_memory_desc_t *spad =
		dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
	dnnl_memory_t src = p->mem[src_t], sp = NULL;
	dnnl_primitive_t prim = NULL;
	struct step *s;
	int ret = 0;

	if (!dnnl_memory_desc_equal(want, &p->md[src_t])) {
		ret = odnn_add_reorder(p, src, &p->md[src_t], want, NULL, &src, where, err, errlen);
		if (ret)
			return ret;
	}
	CHK(dnnl_primitive_create(&prim, pd));
	s = odnn_add_step(p, prim);
	add_arg(s, DNNL_ARG_SRC, src);
	if (spad && dnnl_memory_desc_get_size(spad)) {
		p->scratch_size = MAX(p->scratch_size, dnnl_memory_desc_get_size(spad));
		CHK(dnnl_memory_create(&sp, spad, p->eng, DNNL_MEMORY_NONE));
		odnn_own(p, sp);
		add_arg(s, DNNL_ARG_SCRATCHPAD, sp);
	}
	*out = s;
err:
	return ret;
}

/* Creates the memory of tensor t from the dst of pd (buffer set later). */
int odnn_bind_dst(struct onednn_plan *p, dnnl_primitive_desc_t pd, int t, struct step *s,
		  const char *where, char *err, size_t errlen)
{
	int ret = 0;

	p->md[t] = *dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
	CHK(dnnl_memory_create(&p->mem[t], &p->md[t], p->eng, DNNL_MEMORY_NONE));
	add_arg(s, DNNL_ARG_DST, p->mem[t]);
err:
	return ret;
}

/* Weights (and bias) of pd from the caller's plain arrays. */
int odnn_add_weights(struct onednn_plan *p, dnnl_primitive_desc_t pd, struct step *s,
		     const dnnl_memory_desc_t *user_w, const struct kern_layer *l, int oc,
		     const char *where, char *err, size_t errlen)
{
	dnnl_memory_t w, b;
	int ret;

	ret = import_const(p, user_w, l->weight, kern_weight_key(l),
			   dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), &w, where,
			   err, errlen);
	if (ret)
		return ret;
	add_arg(s, DNNL_ARG_WEIGHTS, w);
	if (l->bias) {
		dnnl_memory_desc_t bmd;
		dnnl_dims_t d = {oc};
		CHK(dnnl_memory_desc_init_by_tag(&bmd, 1, d, dnnl_f32, dnnl_x));
		ret = import_const(p, &bmd, l->bias, l->bias,
				   dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 1), &b,
				   where, err, errlen);
		if (ret)
			return ret;
		add_arg(s, DNNL_ARG_BIAS, b);
	}
err:
	return ret;
}
static void onednn_plan_free(struct kern_plan *base);

/* Batch 1: F(4x4) from 28x28 (kern_onednn_layers.c says why). */
const char *odnn_wino_impl(int batch, int oh, int ow)
{
	if (batch != 1)
		return "";
	return oh >= 28 && ow >= 28 ? "wino_4x3" : "wino_2x3";
}

int odnn_pd_create(dnnl_primitive_desc_t *pd, const void *desc, dnnl_primitive_attr_t attr,
		   dnnl_engine_t eng, const char *impl)
{
	dnnl_primitive_desc_iterator_t it;
	int found = 0;

	if (!impl || !*impl)
		return dnnl_primitive_desc_create(pd, desc, attr, eng, NULL) == dnnl_success ? 0
											     : -1;
	if (dnnl_primitive_desc_iterator_create(&it, desc, attr, eng, NULL) != dnnl_success)
		return -1;
	do {
		dnnl_primitive_desc_t c = dnnl_primitive_desc_iterator_fetch(it);
		const char *name = NULL;
		if (!c)
			break;
		if (dnnl_primitive_desc_query(c, dnnl_query_impl_info_str, 0, &name) ==
			    dnnl_success &&
		    name && strstr(name, impl)) {
			*pd = c;
			found = 1;
			break;
		}
		dnnl_primitive_desc_destroy(c);
	} while (dnnl_primitive_desc_iterator_next(it) == dnnl_success);
	dnnl_primitive_desc_iterator_destroy(it);
	return found ? 0 : odnn_pd_create(pd, desc, attr, eng, NULL);
}

void odnn_scratch_view(struct onednn_plan *p, dnnl_memory_t m, size_t off, size_t bytes)
{
	p->views = realloc(p->views, (size_t)(p->nviews + 1) * sizeof(*p->views));
	p->view_off = realloc(p->view_off, (size_t)(p->nviews + 1) * sizeof(*p->view_off));
	ASSERT(p->views && p->view_off);
	p->views[p->nviews] = m;
	p->view_off[p->nviews++] = off;
	p->scratch_size = MAX(p->scratch_size, off + bytes);
}

/* Points every primitive's scratchpad, our temporaries and (when they
 * live there) the activation buffers at buf. */
static dnnl_status_t bind_scratch(struct onednn_plan *p, void *buf)
{
	for (int t = 0; p->buf_off && t < p->ntensors; t++)
		if (p->buf_of[t] >= 0 &&
		    dnnl_memory_set_data_handle(
			    p->mem[t], (char *)buf + p->buf_off[p->buf_of[t]]) != dnnl_success)
			return dnnl_runtime_error;
	for (int i = 0; i < p->nviews; i++)
		if (dnnl_memory_set_data_handle(p->views[i], (char *)buf + p->view_off[i]) !=
		    dnnl_success)
			return dnnl_runtime_error;
	for (int s = 0; s < p->nsteps; s++)
		for (int a = 0; a < p->steps[s].nargs; a++)
			if (p->steps[s].args[a].arg == DNNL_ARG_SCRATCHPAD &&
			    dnnl_memory_set_data_handle(p->steps[s].args[a].memory, buf) !=
				    dnnl_success)
				return dnnl_runtime_error;
	p->scratch_bound = buf;
	return dnnl_success;
}

static int onednn_plan_create(const struct kern_graph *g, int batch, struct kern_cache *cache,
			      struct kern_plan **out, char *err, size_t errlen)
{
	struct onednn_plan *p = xcalloc(1, sizeof(*p));
	const struct kern_shape *ins = &g->shapes[g->input], *outs = &g->shapes[g->output];
	const char *where = "plan";
	dnnl_memory_desc_t out_md;
	size_t *size = NULL;
	int ret = 0;

	p->base.batch = batch;
	p->ntensors = g->ntensors;
	p->md = xcalloc((size_t)g->ntensors, sizeof(*p->md));
	p->mem = xcalloc((size_t)g->ntensors, sizeof(*p->mem));
	p->cache = cache;
	p->eng = shared_engine();
	if (!p->eng) {
		util_seterr(err, errlen, "oneDNN: no CPU engine");
		ret = IDN_EBACKEND;
		goto err;
	}
	CHK(dnnl_stream_create(&p->strm, p->eng, dnnl_stream_default_flags));
	{
		dnnl_dims_t d = {batch, ins->c, ins->h, ins->w};
		CHK(dnnl_memory_desc_init_by_tag(&p->md[g->input], 4, d, dnnl_f32, dnnl_nchw));
		CHK(dnnl_memory_create(&p->in_user, &p->md[g->input], p->eng, DNNL_MEMORY_NONE));
		p->mem[g->input] = p->in_user;
	}
	for (int i = 0; i < g->nlayers && !ret; i++) {
		const struct kern_layer *l = &g->layers[i];
		switch (l->op) {
		case KERN_OP_CONV:
			ret = odnn_plan_conv(p, g, l, err, errlen);
			break;
		case KERN_OP_MAXPOOL:
		case KERN_OP_AVGPOOL:
			ret = odnn_plan_pool(p, g, l, err, errlen);
			break;
		case KERN_OP_FC:
			ret = odnn_plan_fc(p, g, l, err, errlen);
			break;
		default:
			ret = IDN_EGRAPH;
		}
	}
	if (ret)
		goto err;

	/* The output, in plain layout, into the caller's buffer. */
	if (outs->h == 1 && outs->w == 1 && p->md[g->output].ndims == 2) {
		dnnl_dims_t d = {batch, outs->c};
		CHK(dnnl_memory_desc_init_by_tag(&out_md, 2, d, dnnl_f32, dnnl_nc));
	} else {
		dnnl_dims_t d = {batch, outs->c, outs->h, outs->w};
		CHK(dnnl_memory_desc_init_by_tag(&out_md, 4, d, dnnl_f32, dnnl_nchw));
	}
	CHK(dnnl_memory_create(&p->out_user, &out_md, p->eng, DNNL_MEMORY_NONE));
	ret = odnn_add_reorder(p, p->mem[g->output], &p->md[g->output], &out_md, p->out_user, NULL,
			       "output", err, errlen);
	if (ret)
		goto err;

	/*
	 * Pass two: buffers by liveness, and the scratch.  With a scratch
	 * shared by the plans of every network (which run one at a time), the
	 * activation buffers live there too, after the scratchpads: the
	 * engine then holds the activations of its largest plan only, not of
	 * every plan (ResNet18 at batch 16: 67 MB).
	 */
	size = xcalloc((size_t)g->ntensors, sizeof(*size));
	p->buf_of = xmalloc((size_t)g->ntensors * sizeof(*p->buf_of));
	p->buf_size = xcalloc((size_t)g->ntensors, sizeof(*p->buf_size));
	for (int t = 0; t < g->ntensors; t++)
		size[t] = t == g->input || !p->mem[t] ? 0 : dnnl_memory_desc_get_size(&p->md[t]);
	p->nbuf = kern_assign_buffers(g, size, p->buf_of, p->buf_size);
	p->bufs = xcalloc((size_t)p->nbuf + 1, sizeof(*p->bufs));
	if (cache && cache->scratch && !KERN_SANITIZING) {
		size_t off = ALIGN_UP(p->scratch_size, 64);
		p->buf_off = xcalloc((size_t)p->nbuf + 1, sizeof(*p->buf_off));
		for (int b = 0; b < p->nbuf; b++) {
			p->buf_off[b] = off;
			off += ALIGN_UP(p->buf_size[b], 64);
		}
		p->scratch_size = off; /* bind_scratch points the tensors there */
	} else {
		for (int b = 0; b < p->nbuf; b++)
			p->bufs[b] = xaligned_alloc(p->buf_size[b]);
		for (int t = 0; t < g->ntensors; t++)
			if (p->buf_of[t] >= 0)
				CHK(dnnl_memory_set_data_handle(p->mem[t], p->bufs[p->buf_of[t]]));
	}
	if (p->scratch_size && cache && cache->scratch) {
		kern_scratch_reserve(cache->scratch, p->scratch_size);
		CHK(bind_scratch(p, cache->scratch->buf));
	} else if (p->scratch_size) {
		p->scratch = xaligned_alloc(p->scratch_size);
		CHK(bind_scratch(p, p->scratch));
	}
	free(size);
	*out = &p->base;
	return 0;
err:
	free(size);
	onednn_plan_free(&p->base);
	return ret ? ret : IDN_EBACKEND;
}

static int onednn_plan_run(struct kern_plan *base, const float *in, float *out)
{
	struct onednn_plan *p = (struct onednn_plan *)base;

	if (dnnl_memory_set_data_handle(p->in_user, (void *)in) != dnnl_success ||
	    dnnl_memory_set_data_handle(p->out_user, out) != dnnl_success)
		return IDN_EBACKEND;
	/* A shared scratch may have moved since (grown for a larger plan). */
	if (p->scratch_size && p->cache && p->cache->scratch &&
	    p->cache->scratch->buf != p->scratch_bound &&
	    bind_scratch(p, p->cache->scratch->buf) != dnnl_success)
		return IDN_EBACKEND;
	for (int s = 0; s < p->nsteps; s++) {
		const struct step *st = &p->steps[s];
		/* Our own kernel reads what the primitives before it wrote. */
		if (st->run && dnnl_stream_wait(p->strm) != dnnl_success)
			return IDN_EBACKEND;
		if (st->run ? st->run(st) != 0
			    : dnnl_primitive_execute(st->prim, p->strm, st->nargs, st->args) !=
				      dnnl_success)
			return IDN_EBACKEND;
	}
	return dnnl_stream_wait(p->strm) == dnnl_success ? 0 : IDN_EBACKEND;
}

static size_t onednn_plan_workspace(const struct kern_plan *base)
{
	const struct onednn_plan *p = (const struct onednn_plan *)base;
	size_t total = (p->scratch ? p->scratch_size : 0) + p->temp_bytes; /* shared: not ours */

	for (int b = 0; !p->buf_off && b < p->nbuf; b++)
		total += p->buf_size[b];
	return total;
}

static void onednn_plan_free(struct kern_plan *base)
{
	struct onednn_plan *p = (struct onednn_plan *)base;

	for (int s = 0; s < p->nsteps; s++) {
		if (p->steps[s].prim)
			dnnl_primitive_destroy(p->steps[s].prim);
		if (p->steps[s].ctx_free)
			p->steps[s].ctx_free(p->steps[s].ctx);
	}
	for (int i = 0; i < p->nowned; i++)
		dnnl_memory_destroy(p->owned[i]);
	for (int t = 0; t < p->ntensors; t++)
		if (p->mem[t] && p->mem[t] != p->in_user)
			dnnl_memory_destroy(p->mem[t]);
	if (p->in_user)
		dnnl_memory_destroy(p->in_user);
	if (p->out_user)
		dnnl_memory_destroy(p->out_user);
	for (int b = 0; !p->buf_off && b < p->nbuf; b++)
		free(p->bufs[b]);
	free(p->bufs);
	free(p->buf_size);
	free(p->buf_of);
	free(p->buf_off);
	free(p->scratch);
	free(p->steps);
	free(p->owned);
	free(p->views);
	free(p->view_off);
	free(p->md);
	free(p->mem);
	if (p->strm)
		dnnl_stream_destroy(p->strm);
	free(p);
}

const struct kern_backend kern_backend_onednn = {
	.name = "onednn",
	.plan_create = onednn_plan_create,
	.plan_run = onednn_plan_run,
	.plan_workspace = onednn_plan_workspace,
	.plan_free = onednn_plan_free,
};
