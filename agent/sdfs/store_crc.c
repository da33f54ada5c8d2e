/*
 * store_crc.c - CRC32C (Castagnoli) for the store's chunk checksums and
 * the chunk frames: the SSE4.2 crc32 instruction in three independent
 * lanes where the CPU has it, a table otherwise (IDUNNO_CRC_SOFTWARE
 * forces the table, for tests).
 */
#include "sdfs/store.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint32_t crc_table[256];

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[i] = c;
	}
}

static uint32_t crc_sw(uint32_t c, const uint8_t *p, size_t n)
{
	if (!crc_table[1])
		crc_init();
	while (n--)
		c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return c;
}

#if defined(__x86_64__)
/*
 * The crc32 instruction has a latency of 3 cycles and a throughput of 1,
 * so one chain of them runs at a third of the speed the CPU allows.  Long
 * buffers go as three lanes of LANE bytes with independent chains; the
 * lanes are joined with the linearity of CRCs: the register after A then
 * B is shift(register after A, |B|) xor (register after B from 0), where
 * shift advances a register over |B| zero bytes.  shift for LANE bytes is
 * linear in the register, so it is 4 tables of 256, built once.
 */
#define LANE 4096

static uint32_t lane_shift[4][256];
static pthread_once_t lane_once = PTHREAD_ONCE_INIT;

__attribute__((target("sse4.2"))) static uint32_t zeros_hw(uint32_t c, size_t n)
{
	uint64_t c64 = c;

	for (size_t i = 0; i < n; i += 8)
		c64 = __builtin_ia32_crc32di(c64, 0);
	return (uint32_t)c64;
}

static void lane_init(void)
{
	uint32_t basis[32];

	for (int i = 0; i < 32; i++)
		basis[i] = zeros_hw(1u << i, LANE);
	for (int k = 0; k < 4; k++)
		for (int b = 0; b < 256; b++) {
			uint32_t v = 0;
			for (int j = 0; j < 8; j++)
				if (b >> j & 1)
					v ^= basis[8 * k + j];
			lane_shift[k][b] = v;
		}
}

static uint32_t shift_lane(uint32_t c)
{
	return lane_shift[0][c & 0xff] ^ lane_shift[1][c >> 8 & 0xff] ^
	       lane_shift[2][c >> 16 & 0xff] ^ lane_shift[3][c >> 24];
}

__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t c, const uint8_t *p, size_t n)
{
	uint64_t c64 = c;

	if (n >= 3 * LANE)
		pthread_once(&lane_once, lane_init);
	while (n >= 3 * LANE) {
		uint64_t c0 = c64, c1 = 0, c2 = 0;
		for (size_t i = 0; i < LANE; i += 8) {
			uint64_t v0, v1, v2;
			memcpy(&v0, p + i, 8);
			memcpy(&v1, p + LANE + i, 8);
			memcpy(&v2, p + 2 * LANE + i, 8);
			c0 = __builtin_ia32_crc32di(c0, v0);
			c1 = __builtin_ia32_crc32di(c1, v1);
			c2 = __builtin_ia32_crc32di(c2, v2);
		}
		c64 = shift_lane(shift_lane((uint32_t)c0) ^ (uint32_t)c1) ^ (uint32_t)c2;
		p += 3 * LANE;
		n -= 3 * LANE;
	}
	while (n >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c64 = __builtin_ia32_crc32di(c64, v);
		p += 8;
		n -= 8;
	}
	c = (uint32_t)c64;
	while (n--)
		c = __builtin_ia32_crc32qi(c, *p++);
	return c;
}
#endif

uint32_t store_crc32c(uint32_t crc, const void *data, size_t len)
{
	uint32_t c = ~crc;

#if defined(__x86_64__)
	if (__builtin_cpu_supports("sse4.2") && !getenv("IDUNNO_CRC_SOFTWARE"))
		return ~crc_hw(c, data, len);
#endif
	return ~crc_sw(c, data, len);
}
