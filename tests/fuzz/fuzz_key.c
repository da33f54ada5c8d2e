/*
 * fuzz_key.c - the cluster key file every agent and CLI run reads
 * (wire_key_load): it loads exactly when the file is 64 hex digits and
 * white space after them, and the key is those digits' bytes.
 */
#include "fuzz.h"
#include "wire/wire_key.h"

#include <ctype.h>
#include <string.h>

static int nibble(uint8_t c)
{
	return isdigit(c) ? c - '0' : tolower(c) - 'a' + 10;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_key key;
	char path[64];
	size_t hex = 0, rest;
	int fd = fuzz_file(data, size, path, sizeof(path)), ret;

	if (fd < 0)
		return 0;
	ret = wire_key_load(path, &key);
	close(fd);
	while (hex < size && isxdigit(data[hex]))
		hex++;
	for (rest = hex; rest < size && data[rest] && strchr(" \r\n\t", data[rest]); rest++)
		;
	FUZZ_ASSERT((ret == 0) == (hex == 2 * WIRE_KEY_LEN && rest == size && size <= 4096));
	for (int i = 0; ret == 0 && i < WIRE_KEY_LEN; i++)
		FUZZ_ASSERT(key.k[i] == (nibble(data[2 * i]) << 4 | nibble(data[2 * i + 1])));
	return 0;
}
