/*
 * probes.c - the uprobe points (see probes.h).
 *
 * Each is a naked function whose first instruction is a 5-byte NOP, then
 * a return.  A uprobe attached at the function's entry sits on that NOP,
 * with the arguments still in their registers, and kernels that can (Linux
 * 6.18 on x86-64) turn a uprobe on a 5-byte NOP into a call through a
 * trampoline instead of a breakpoint trap and single step: on this
 * project's VM that is the difference between about 20 us and well under
 * 1 us per hit (docs/bpf.md).  Elsewhere the NOP is simply executed.
 */
#include "probes.h"

#if defined(__x86_64__)
#define PROBE_BODY __asm__ volatile(".byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n\tret")
#define PROBE_ATTR __attribute__((naked, noinline, used, visibility("default")))
#else
#define PROBE_BODY __asm__ volatile("" : : : "memory")
#define PROBE_ATTR __attribute__((noinline, used, visibility("default")))
#endif

PROBE_ATTR void idunno_query_start(uint32_t job, uint64_t query, uint32_t batch,
				   uint64_t enqueue_ns, uint32_t model)
{
	PROBE_BODY;
}

PROBE_ATTR void idunno_query_end(uint32_t job, uint64_t query, int32_t status, uint32_t flags)
{
	PROBE_BODY;
}
