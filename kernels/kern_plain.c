/*
 * kern_plain.c - the executor shared by the NCHW backends (ref, blas): one
 * buffer per live tensor, layers run in order through the backend's hooks.
 */
#include "kern_impl.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

struct plain_plan {
	struct kern_plan base;
	const struct kern_plain_ops *ops;
	struct kern_graph g; /* the caller's arrays, copied below */
	struct kern_shape *shapes;
	struct kern_layer *layers;
	int *buf_of; /* tensor -> buffer, -1 for the caller's input/output */
	int nbuf;
	float **bufs;
	size_t *buf_size;
	float *scratch;
	size_t scratch_size; /* floats */
};

int kern_plain_plan_create(const struct kern_backend *be, const struct kern_plain_ops *ops,
			   const struct kern_graph *g, int batch, struct kern_plan **out, char *err,
			   size_t errlen)
{
	struct plain_plan *p = xcalloc(1, sizeof(*p));
	size_t *size = xcalloc((size_t)g->ntensors, sizeof(*size));

	(void)err;
	(void)errlen;
	p->base.be = be;
	p->ops = ops;
	p->g = *g;
	p->shapes = xmalloc((size_t)g->ntensors * sizeof(*p->shapes));
	memcpy(p->shapes, g->shapes, (size_t)g->ntensors * sizeof(*p->shapes));
	p->layers = xmalloc((size_t)g->nlayers * sizeof(*p->layers));
	memcpy(p->layers, g->layers, (size_t)g->nlayers * sizeof(*p->layers));
	p->g.shapes = p->shapes;
	p->g.layers = p->layers;

	/* The input is read from the caller's buffer, never copied; the output
	 * (a few thousand floats) is copied out at the end of a run. */
	for (int t = 0; t < g->ntensors; t++)
		size[t] =
			t == g->input ? 0 : kern_shape_elems(&g->shapes[t]) * batch * sizeof(float);
	p->buf_of = xmalloc((size_t)g->ntensors * sizeof(int));
	p->buf_size = xcalloc((size_t)g->ntensors, sizeof(size_t));
	p->nbuf = kern_assign_buffers(g, size, p->buf_of, p->buf_size);
	p->bufs = xcalloc((size_t)p->nbuf + 1, sizeof(float *));
	for (int b = 0; b < p->nbuf; b++)
		p->bufs[b] = xaligned_alloc(p->buf_size[b]);
	for (int i = 0; i < g->nlayers; i++) {
		const struct kern_layer *l = &g->layers[i];
		if (l->op == KERN_OP_CONV) {
			size_t s = ops->conv_scratch(l, &g->shapes[l->src], &g->shapes[l->dst]);
			p->scratch_size = MAX(p->scratch_size, s);
		}
	}
	if (p->scratch_size)
		p->scratch = xaligned_alloc(p->scratch_size * sizeof(float));
	free(size);
	*out = &p->base;
	return 0;
}

int kern_plain_plan_run(struct kern_plan *base, const float *in, float *out)
{
	struct plain_plan *p = (struct plain_plan *)base;
	const struct kern_graph *g = &p->g;
	int n = base->batch;

	for (int i = 0; i < g->nlayers; i++) {
		const struct kern_layer *l = &g->layers[i];
		const struct kern_shape *is = &g->shapes[l->src], *os = &g->shapes[l->dst];
		const float *src = l->src == g->input ? in : p->bufs[p->buf_of[l->src]];
		float *dst = p->bufs[p->buf_of[l->dst]];

		switch (l->op) {
		case KERN_OP_CONV:
			p->ops->conv(l, n, is, os, src, dst, p->scratch);
			break;
		case KERN_OP_MAXPOOL:
			kern_ref_maxpool(l, n, is, os, src, dst);
			break;
		case KERN_OP_AVGPOOL:
			kern_ref_avgpool(n, is, os, src, dst);
			break;
		case KERN_OP_FC:
			p->ops->fc(l, n, (int)kern_shape_elems(is), os->c, src, dst);
			break;
		default:
			return IDN_EGRAPH;
		}
	}
	memcpy(out, p->bufs[p->buf_of[g->output]],
	       kern_shape_elems(&g->shapes[g->output]) * n * sizeof(float));
	return 0;
}

size_t kern_plain_plan_workspace(const struct kern_plan *base)
{
	const struct plain_plan *p = (const struct plain_plan *)base;
	size_t total = p->scratch_size * sizeof(float);

	for (int b = 0; b < p->nbuf; b++)
		total += p->buf_size[b];
	return total;
}

void kern_plain_plan_free(struct kern_plan *base)
{
	struct plain_plan *p = (struct plain_plan *)base;

	for (int b = 0; b < p->nbuf; b++)
		free(p->bufs[b]);
	free(p->bufs);
	free(p->buf_size);
	free(p->buf_of);
	free(p->scratch);
	free(p->layers);
	free(p->shapes);
	free(p);
}
