/*
 * Description: the job commands' request codec (agent/tasks/coord_rpc.c):
 * every command round-trips with its fields; every prefix, a trailing
 * byte, a command outside 80..86, a string too long or holding a space or
 * a control byte are refused; 100000 random and mutated inputs never crash
 * the decoder (run under ASan/UBSan in CI).
 */
#include "check.h"
#include "tasks/coord_rpc.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

static struct coord_rpc_req req(uint8_t cmd)
{
	struct coord_rpc_req r = {.cmd = cmd,
				  .flags = COORD_RPC_JSON | COORD_RPC_LOOP,
				  .batch = 16,
				  .weight_milli = 2500,
				  .from = 1001};

	strcpy(r.job, "2a-x9k3");
	strcpy(r.model, "resnet18");
	strcpy(r.dataset, "imgs_1");
	return r;
}

int main(void)
{
	uint8_t buf[COORD_RPC_REQ_MAX + 16], m[COORD_RPC_REQ_MAX + 16];
	struct coord_rpc_req r, out;
	unsigned long long seed = 7;
	int n;

	for (int cmd = COORD_RPC_LAUNCH; cmd < COORD_RPC_END; cmd++) {
		r = req((uint8_t)cmd);
		n = coord_rpc_req_encode(&r, buf, sizeof(buf));
		REQUIRE(n > 0 && n <= COORD_RPC_REQ_MAX, "encode: %d", n);
		CHECK(coord_rpc_req_decode(buf, (size_t)n, &out) == 0, "decode %d", cmd);
		CHECK(!memcmp(&r, &out, sizeof(r)), "round trip of %d", cmd);
		for (int k = 0; k < n; k++)
			CHECK(coord_rpc_req_decode(buf, (size_t)k, &out) == -EINVAL, "prefix %d",
			      k);
		buf[n] = 0;
		CHECK(coord_rpc_req_decode(buf, (size_t)n + 1, &out) == -EINVAL, "trailing byte");
	}
	r = req(COORD_RPC_JOBS);
	r.job[0] = r.model[0] = r.dataset[0] = '\0';
	n = coord_rpc_req_encode(&r, buf, sizeof(buf));
	CHECK(n > 0 && coord_rpc_req_decode(buf, (size_t)n, &out) == 0 && !out.job[0],
	      "empty strings");
	for (int cmd = 0; cmd < 256; cmd++) {
		if (cmd >= COORD_RPC_LAUNCH && cmd < COORD_RPC_END)
			continue;
		r = req((uint8_t)cmd);
		n = coord_rpc_req_encode(&r, buf, sizeof(buf));
		CHECK(coord_rpc_req_decode(buf, (size_t)n, &out) == -EINVAL, "command %d", cmd);
	}
	r = req(COORD_RPC_LAUNCH);
	memset(r.model, 'a', sizeof(r.model) - 1);
	r.model[sizeof(r.model) - 1] = '\0';
	CHECK(coord_rpc_req_encode(&r, buf, sizeof(buf)) > 0, "a name of the largest length");
	r = req(COORD_RPC_LAUNCH);
	n = coord_rpc_req_encode(&r, buf, sizeof(buf));
	buf[n - 2] = ' ';
	CHECK(coord_rpc_req_decode(buf, (size_t)n, &out) == -EINVAL, "a space in a name");
	buf[n - 2] = 0x7f;
	CHECK(coord_rpc_req_decode(buf, (size_t)n, &out) == -EINVAL, "a control byte");
	buf[n - 2] = 's';
	buf[n - 7] = 200; /* the dataset's length byte: past the end */
	CHECK(coord_rpc_req_decode(buf, (size_t)n, &out) == -EINVAL, "a length past the end");
	CHECK(coord_rpc_req_encode(&r, buf, 10) == -EMSGSIZE, "a short buffer");

	r = req(COORD_RPC_RESULTS);
	n = coord_rpc_req_encode(&r, buf, sizeof(buf));
	for (int i = 0; i < 100000; i++) {
		size_t len = (size_t)n;
		memcpy(m, buf, len);
		if (i % 2) {
			len = (size_t)((t_randf(&seed) + 1) * sizeof(m) / 2);
			for (size_t k = 0; k < len; k++)
				m[k] = (uint8_t)((t_randf(&seed) + 1) * 128);
		} else {
			int flips = 1 + i % 4;
			for (int k = 0; k < flips; k++)
				m[(size_t)((t_randf(&seed) + 1) * (float)len / 2) % len] ^=
					(uint8_t)(1u << (i % 8));
		}
		if (coord_rpc_req_decode(m, len, &out) == 0)
			CHECK(out.cmd >= COORD_RPC_LAUNCH && out.cmd < COORD_RPC_END &&
				      strlen(out.job) <= COORD_JOB_ID_MAX,
			      "decoded garbage out of range");
	}
	return t_result();
}
