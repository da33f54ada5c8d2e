/*
 * ring_int.h - what the ring's files share: the layout of the shared
 * memory (header, model and file tables, queues), each side's private
 * state, and the small helpers both sides use (sequence locks, futex).
 *
 *   ring.c         the producer (agent) side: create, reserve, submit, reap, recover
 *   ring_table.c   the model and file tables, both sides
 *   ring_engine.c  the consumer (engine) side: attach, next, complete
 */
#ifndef IDUNNO_RING_INT_H
#define IDUNNO_RING_INT_H

#include "ring.h"

#include <linux/futex.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define IMAGE_BYTES    (3u * 224u * 224u * sizeof(float))
#define SPIN_NS	       50000 /* spin this long before sleeping */
#define SEQ_TRIES      100000
#define RING_ERR_MAX   240
#define STATUS_UNKNOWN (-EINPROGRESS)

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics in shared memory must be lock-free");
_Static_assert(sizeof(struct ring_img) == 16, "struct ring_img is 16 bytes");
_Static_assert(sizeof(struct ring_result) == 44, "struct ring_result is 44 bytes");

struct cacheline_u32 {
	_Alignas(64) _Atomic uint32_t v;
	char pad[60];
};

struct ring_model {
	_Atomic uint32_t seq; /* sequence lock over gen, name, weights (owner writes) */
	_Atomic uint32_t gen; /* bumped by every ring_set_model */
	char name[RING_NAME_MAX];
	char weights[RING_PATH_MAX];
	_Atomic uint32_t vseq; /* sequence lock over view and err (engine writes) */
	uint32_t pad;
	_Atomic uint64_t view; /* the engine's: generation << 32 | (uint32_t)status */
	char err[RING_ERR_MAX];
};

struct ring_file {
	_Atomic uint32_t seq; /* sequence lock over gen and path */
	_Atomic uint32_t gen; /* bumped by every ring_set_file */
	char path[RING_PATH_MAX];
};

struct ring_hdr {
	uint32_t magic, version;
	uint32_t nslots;
	uint32_t pad0;
	uint64_t data_size;
	uint64_t sq_off, cq_off, data_off;
	_Atomic uint32_t engine_pid;
	_Atomic uint32_t engine_gen;
	_Atomic uint32_t stop;
	_Atomic uint32_t models_epoch; /* bumped by every ring_set_model: wakes the engine */
	_Atomic uint64_t busy_since;   /* the engine's current entry began (0: idle) */
	_Atomic uint64_t completed;    /* completions posted, all engine generations */
	struct cacheline_u32 sq_tail;  /* written by the owner */
	struct cacheline_u32 sq_head;  /* written by the engine */
	struct cacheline_u32 cq_tail;  /* written by the engine */
	struct cacheline_u32 cq_head;  /* written by the owner */
	struct cacheline_u32 engine_sleeping;
	struct cacheline_u32 owner_sleeping;
	struct ring_model models[RING_MAX_MODELS];
	struct ring_file files[RING_MAX_FILES];
};

struct inflight {
	struct ring_sqe sqe;
	uint64_t data_end; /* absolute end of its data region */
	int active;	   /* submitted and not yet released */
	int done;	   /* its completion was reaped */
	int in_cq;	   /* scratch for ring_recover */
};

/* One side's view of the mapping (both sides have one). */
struct ring_view {
	int fd;
	struct ring_hdr *h;
	size_t map_len;
	struct ring_sqe *sq;
	struct ring_cqe *cq;
	uint8_t *data;
};

struct ring {
	char name[128];
	struct ring_view v;
	/* The owner's own copies of the layout: the engine may write anything
	 * into the shared header, so the owner never reads these back. */
	uint32_t nslots;
	uint64_t data_size;
	uint64_t next_seq;
	uint64_t oldest_seq; /* lowest seq whose allocation is not yet released */
	struct inflight *fl; /* nslots entries, by seq % nslots */
	uint32_t ninflight;
	uint64_t alloc_head, alloc_tail; /* FIFO data allocator: absolute, only grow */
	int reserved;			 /* a reservation awaits ring_submit */
	uint64_t reserved_end;		 /* alloc_head after it */
	uint64_t head_before;		 /* alloc_head before it */
	uint64_t duplicates;
};

struct ring_engine {
	struct ring_view v;
	uint32_t gen;
	uint32_t seen_epoch; /* models_epoch as ring_next last reported it */
	int notify_fd;	     /* eventfd to signal after completions, or -1 */
	uint64_t notify_errors;
};

/* The queues and the data area, from the offsets in the header. */
static inline void ring_view_bind(struct ring_view *v)
{
	v->sq = (struct ring_sqe *)((uint8_t *)v->h + v->h->sq_off);
	v->cq = (struct ring_cqe *)((uint8_t *)v->h + v->h->cq_off);
	v->data = (uint8_t *)v->h + v->h->data_off;
}

static inline long ring_futex(_Atomic uint32_t *addr, int op, uint32_t val,
			      const struct timespec *ts)
{
	return syscall(SYS_futex, addr, op, val, ts, NULL, 0);
}

static inline void ring_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* ---- sequence locks ---- */

static inline void ring_seq_write_begin(_Atomic uint32_t *seq)
{
	uint32_t s = atomic_load_explicit(seq, memory_order_relaxed);
	atomic_store_explicit(seq, (s | 1u) == s ? s + 2 : s + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
}

static inline void ring_seq_write_end(_Atomic uint32_t *seq)
{
	uint32_t s = atomic_load_explicit(seq, memory_order_relaxed);
	atomic_store_explicit(seq, s + 1, memory_order_release);
}

/* A reader's start: the even counter, or 1 (odd) while a write is under way. */
static inline uint32_t ring_seq_read_begin(_Atomic uint32_t *seq)
{
	return atomic_load_explicit(seq, memory_order_acquire);
}

static inline int ring_seq_read_retry(_Atomic uint32_t *seq, uint32_t start)
{
	atomic_thread_fence(memory_order_acquire);
	return (start & 1) || atomic_load_explicit(seq, memory_order_relaxed) != start;
}

static inline void ring_copy_str(char *dst, const char *src, size_t len)
{
	memcpy(dst, src, len);
	dst[len - 1] = '\0';
}

/* "/idunno-NAME" for a ring name. 0 or -EINVAL. */
int ring_shm_path(const char *name, char *buf, size_t len);
/* The offsets of the queues and the data area; returns the mapping's size. */
size_t ring_layout(uint32_t nslots, size_t data_size, uint64_t *sq, uint64_t *cq, uint64_t *d);
/* Every slot's engine view back to "not loaded" (no engine is writing). */
void ring_views_reset(struct ring_hdr *h);
/* Waits until *idx moves from seen or, when kick is set, *kick from
 * kick_seen.  0, or -ETIMEDOUT. */
int ring_wait_index(_Atomic uint32_t *idx, uint32_t seen, _Atomic uint32_t *kick,
		    uint32_t kick_seen, _Atomic uint32_t *sleeping, int timeout_ms);
/* Signals the owner's eventfd, when it gave one. */
void ring_notify(struct ring_engine *e);

#endif
