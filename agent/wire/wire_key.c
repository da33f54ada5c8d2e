/*
 * wire_key.c - reading and generating cluster key files (see wire_key.h).
 */
#include "wire/wire_key.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int wire_key_load(const char *path, struct wire_key *key)
{
	char *text = NULL;
	size_t len, hexlen;
	int ret = util_read_file(path, 4096, &text, &len);

	if (ret)
		return ret;
	hexlen = strspn(text, "0123456789abcdefABCDEF");
	if (hexlen != 2 * WIRE_KEY_LEN || strspn(text + hexlen, " \r\n\t") != len - hexlen ||
	    sodium_hex2bin(key->k, WIRE_KEY_LEN, text, hexlen, NULL, NULL, NULL) != 0) {
		ret = -EINVAL;
	}
	sodium_memzero(text, len);
	free(text);
	return ret;
}

int wire_key_generate(const char *path)
{
	uint8_t k[WIRE_KEY_LEN];
	char hex[2 * WIRE_KEY_LEN + 2];
	int fd, ret = 0;

	if (sodium_init() < 0)
		return -EIO;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	randombytes_buf(k, sizeof(k));
	sodium_bin2hex(hex, sizeof(hex), k, sizeof(k));
	strcat(hex, "\n");
	if (write(fd, hex, strlen(hex)) != (ssize_t)strlen(hex) || fsync(fd) < 0)
		ret = -errno ? -errno : -EIO;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	sodium_memzero(k, sizeof(k));
	sodium_memzero(hex, sizeof(hex));
	if (ret)
		unlink(path);
	return ret;
}
