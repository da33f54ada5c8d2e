/*
 * fuzz.h - what the libFuzzer targets in tests/fuzz/ share: the entry
 * point's prototype, and a file holding the input for decoders that read
 * a path (an anonymous memory file, named by /proc/self/fd).
 */
#ifndef IDUNNO_FUZZ_H
#define IDUNNO_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Writes data to a new memory file; its path goes into path. The fd, or -1. */
static inline int fuzz_file(const uint8_t *data, size_t size, char *path, size_t cap)
{
	int fd = memfd_create("fuzz", 0);

	if (fd < 0)
		return -1;
	for (size_t off = 0; off < size;) {
		ssize_t n = write(fd, data + off, size - off);
		if (n <= 0) {
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	snprintf(path, cap, "/proc/self/fd/%d", fd);
	return fd;
}

/* A property a decoder must keep; a violation is a crash libFuzzer saves. */
#define FUZZ_ASSERT(c)                                                                             \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "fuzz: %s:%d: %s\n", __FILE__, __LINE__, #c);              \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#endif
