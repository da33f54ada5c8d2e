/*
 * model.h - the networks IDunno serves, as declarative tables, and their
 * weights.
 *
 * Each network is one table of layers (torchvision's architecture, layer
 * for layer) from which the tensor shapes, the expected weight tensors and
 * the kernel graph all follow.  Weights are safetensors files whose tensor
 * names are torchvision's state_dict keys; loading checks every tensor
 * against the table and folds batch-norm into the preceding convolution.
 */
#ifndef IDUNNO_MODEL_H
#define IDUNNO_MODEL_H

#include "kern.h"

#include <stddef.h>
#include <stdint.h>

enum model_id { MODEL_RESNET18, MODEL_ALEXNET, MODEL_MAX };

#define MODEL_IN_C     3
#define MODEL_IN_H     224
#define MODEL_IN_W     224
#define MODEL_IN_ELEMS (MODEL_IN_C * MODEL_IN_H * MODEL_IN_W)
#define MODEL_CLASSES  1000

extern const char *const model_imagenet_classes[MODEL_CLASSES];

const char *model_name(enum model_id id);
/* "resnet18" or "alexnet". Returns 0 or IDN_ENOMODEL. */
int model_parse(const char *name, enum model_id *out);

struct model;

/*
 * Loads and checks a weights file for model id.  A missing, extra,
 * mis-typed or mis-shaped tensor, a truncated or oversized file, metadata
 * naming another architecture: each is an error naming the tensor:
 * IDN_EBADMODEL (a tensor that does not match the model), IDN_ENOMODEL,
 * -EINVAL for a malformed file, or -errno from the file system.  A NaN or
 * infinity in any tensor, a negative batch-norm variance, or a folded
 * weight that overflows is -EDOM, naming the tensor.  Returns 0 or one of
 * those with err filled; the model is the caller's (model_free).
 */
int model_load(enum model_id id, const char *path, struct model **out, char *err, size_t errlen);
void model_free(struct model *m);

struct model_check {
	enum model_id id;
	int ntensors;
	uint64_t bytes; /* the file's size */
};

/*
 * The engine's checks of a weights file, without running it: the
 * architecture from the file's metadata ("arch") or, when model is not
 * NULL, model (the two must agree when both are there); then everything
 * model_load checks (every expected tensor, dtype and shape, no extra
 * tensor, no NaN or infinity).  Returns 0 with *out filled, or a negative
 * errno with err naming what is wrong.
 */
int model_check_file(const char *path, const char *model, struct model_check *out, char *err,
		     size_t errlen);
/*
 * Only the first step of model_check_file: which architecture the file is
 * for (its metadata's "arch", or model).  0 with *id (and *out, when not
 * NULL), or a negative errno with err filled.
 */
int model_file_arch(const char *path, const char *model, enum model_id *id, struct model_check *out,
		    char *err, size_t errlen);

enum model_id model_id_of(const struct model *m);
/* The kernel graph; its weights live as long as the model, but for those
 * model_release_weights releases. */
const struct kern_graph *model_graph(const struct model *m);
/*
 * A backend that keeps its own copy of the weights (oneDNN) needs the
 * model's only while it makes plans: model_release_weights frees the
 * convolutions' weights that batch-norm was folded into (their layers'
 * weight becomes NULL; weight_key stays), and model_acquire_weights folds
 * them again from the file, before another plan is made.  0, or -ESTALE
 * with err filled (and nothing kept) when the file no longer holds what was
 * loaded.
 */
void model_release_weights(struct model *m);
int model_acquire_weights(struct model *m, char *err, size_t errlen);
/*
 * Releases the file's pages from memory (after a backend that copies its
 * weights, oneDNN, has built its plans).  Weights are read back from the
 * file if a later plan needs them.
 */
void model_release_file_pages(struct model *m);

/*
 * Writes deterministic weights for model id, seeded: He-style normal
 * weights, non-trivial batch-norm statistics.  Returns 0, IDN_ENOMODEL or
 * -errno.
 */
int model_generate_weights(enum model_id id, uint64_t seed, const char *path, char *err,
			   size_t errlen);

#endif
