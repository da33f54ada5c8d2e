/*
 * seeds.h - what the seed generator's files share (seeds.c has main).
 */
#ifndef IDUNNO_FUZZ_SEEDS_H
#define IDUNNO_FUZZ_SEEDS_H

#include <stddef.h>
#include <stdint.h>

/* Writes a seed, DIR/target/name: n bytes of a, then m of b. Exits on error. */
void emit(const char *target, const char *name, const void *a, size_t n, const void *b, size_t m);
/* A seed of a selector byte, then n bytes of p (n < 0: the encoder failed). */
void emit_sel(const char *target, const char *name, uint8_t sel, const void *p, int n);
/* A seed holding the file at path. */
void file_seed(const char *target, const char *name, const char *path);

/* The seeds of seeds_node.c: the coordinator's checkpoint, result parts,
 * HTTP heads, the engine ring, store replica files. */
void node_seeds(void);

#endif
