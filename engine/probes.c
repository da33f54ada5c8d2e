/*
 * probes.c - the uprobe points (see probes.h).  The empty asm keeps the
 * compiler from dropping the calls or merging the two functions.
 */
#include "probes.h"

__attribute__((noinline, used, visibility("default"))) void
idunno_query_start(uint32_t job, uint64_t query, uint32_t batch, uint64_t enqueue_ns)
{
	__asm__ volatile("" : : "r"(job), "r"(query), "r"(batch), "r"(enqueue_ns) : "memory");
}

__attribute__((noinline, used, visibility("default"))) void
idunno_query_end(uint32_t job, uint64_t query, int32_t status)
{
	__asm__ volatile("" : : "r"(job), "r"(query), "r"(status) : "memory");
}
