/*
 * Description: a part of a job's result log in SDFS (agent/tasks/
 * result_part.c): a dataset result, a client's result and a failed one
 * round-trip through a JSON line exactly (probabilities included), with
 * the class names written; part names sort as rseq and read back; every
 * prefix of a line, a key missing, repeated or unknown, a class name that
 * is not the class's, a positive status, a client key on a dataset query,
 * a worker without its port are refused; done_ms is optional (older lines
 * read as 0); 100000 mutated lines never crash the parser (ASan/UBSan).
 */
#include "check.h"
#include "model.h"
#include "result_same.h"
#include "tasks/result_part.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

static struct coord_result sample(int kind)
{
	struct coord_result r = {.rseq = 42, .image = 7};

	r.a.qid = 7;
	r.a.worker = (struct wire_addr){.ip = 0x7f000002, .port = 7001};
	r.a.service_ns = 12345678;
	r.a.done_ms = 1796000000123ull;
	for (int k = 0; k < COORD_TOP; k++) {
		r.a.cls[k] = (uint16_t)(k * 199 + 3);
		r.a.prob[k] = 0.4f / (float)(k + 1) + 1e-7f * (float)k;
	}
	if (kind == 1) { /* a client's query */
		r.a.qid = COORD_QID_CLIENT | 5;
		r.client = 99;
		r.cqid = 123456789012ull;
	} else if (kind == 2) { /* failed for good */
		r.a.status = -EIO;
		memset(r.a.cls, 0, sizeof(r.a.cls));
		memset(r.a.prob, 0, sizeof(r.a.prob));
	}
	return r;
}

static int parse(const char *s, struct coord_result *r)
{
	char name[DATASET_NAME_MAX + 1];

	return result_part_parse(s, strlen(s), r, name, sizeof(name));
}

/* line with the first occurrence of from replaced by to */
static int parse_edit(const char *line, const char *from, const char *to)
{
	char buf[RESULT_PART_LINE_MAX * 2];
	struct coord_result r;
	const char *at = strstr(line, from);

	REQUIRE(at, "'%s' not in the line", from);
	snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - line), line, to, at + strlen(from));
	return parse(buf, &r);
}

int main(void)
{
	char line[RESULT_PART_LINE_MAX], name[DATASET_NAME_MAX + 1], part[RESULT_PART_NAME_MAX];
	struct coord_result r, out;
	unsigned long long seed = 11;
	uint64_t first;
	int n;

	for (int kind = 0; kind < 3; kind++) {
		r = sample(kind);
		n = result_part_line(&r, "img_0007 \"q\".jpg", line, sizeof(line));
		REQUIRE(n > 0 && line[n - 1] == '\n', "encode kind %d: %d", kind, n);
		CHECK(result_part_parse(line, (size_t)n - 1, &out, name, sizeof(name)) == 0,
		      "decode kind %d: %s", kind, line);
		CHECK(result_same(&r, &out), "kind %d round-trips: %s", kind, line);
		CHECK(!strcmp(name, "img_0007 \"q\".jpg"), "input name: %s", name);
		CHECK((strstr(line, "\"client\":99") != NULL) == (kind == 1), "client key: %s",
		      line);
		CHECK((strstr(line, model_imagenet_classes[3]) != NULL) == (kind != 2),
		      "class name: %s", line);
		/* every proper prefix is refused */
		for (int k = 0; k < n - 1; k++)
			CHECK(result_part_parse(line, (size_t)k, &out, name, sizeof(name)) ==
				      -EINVAL,
			      "prefix %d of kind %d accepted", k, kind);
	}
	CHECK(result_part_line(&r, "x", line, 20) == -EMSGSIZE, "a short buffer");

	r = sample(0);
	n = result_part_line(&r, "a.jpg", line, sizeof(line));
	line[n - 1] = '\0';
	CHECK(parse(line, &out) == 0, "the base line parses");
	CHECK(parse_edit(line, "\"rseq\":42,", "") == -EINVAL, "rseq missing");
	CHECK(parse_edit(line, "\"rseq\":42,", "\"rseq\":42,\"rseq\":42,") == -EINVAL,
	      "rseq repeated");
	CHECK(parse_edit(line, "\"rseq\":42,", "\"rseq\":42,\"x\":1,") == -EINVAL, "unknown key");
	CHECK(parse_edit(line, "\"rseq\":42", "\"rseq\":0") == -EINVAL, "rseq 0");
	CHECK(parse_edit(line, "\"status\":0", "\"status\":5") == -EINVAL, "positive status");
	CHECK(parse_edit(line, "\"status\":0", "\"status\":-5") == -EINVAL,
	      "a failure with a top-5");
	CHECK(parse_edit(line, "\"query\":7,", "\"query\":7,\"client\":1,\"cqid\":2,") == -EINVAL,
	      "client keys on a dataset query");
	CHECK(parse_edit(line, model_imagenet_classes[3], "goldfish x") == -EINVAL,
	      "a wrong class name");
	CHECK(parse_edit(line, "\"class\":3", "\"class\":1000") == -EINVAL, "class 1000");
	CHECK(parse_edit(line, "127.0.0.2:7001", "nowhere") == -EINVAL, "a bad worker");
	/* found by tests/fuzz/fuzz_result_part.c: it parsed with port 0, and the
	 * line written back from it ("127.0.0.2:0") did not */
	CHECK(parse_edit(line, "127.0.0.2:7001", "127.0.0.2") == -EINVAL, "a worker without port");
	CHECK(parse_edit(line, "}]}", "}]} x") == -EINVAL, "trailing bytes");
	CHECK(parse_edit(line, "{\"rseq\"", " { \"rseq\"") == 0, "spaces are fine");
	CHECK(strstr(line, "\"done_ms\":1796000000123,") != NULL, "done_ms written: %s", line);
	CHECK(parse_edit(line, "\"done_ms\":1796000000123,", "\"done_ms\":1,\"done_ms\":1,") ==
		      -EINVAL,
	      "done_ms repeated");
	CHECK(parse_edit(line, "\"done_ms\":1796000000123", "\"done_ms\":-1") == -EINVAL,
	      "a negative done_ms");
	{ /* a line written before done_ms existed reads, with done_ms 0 */
		char old[RESULT_PART_LINE_MAX];
		const char *at = strstr(line, "\"done_ms\":1796000000123,");
		snprintf(old, sizeof(old), "%.*s%s", (int)(at - line), line,
			 at + strlen("\"done_ms\":1796000000123,"));
		CHECK(parse(old, &out) == 0 && out.a.done_ms == 0 &&
			      out.a.service_ns == r.a.service_ns,
		      "a line without done_ms: %s", old);
	}

	/* names */
	CHECK(result_part_name("job-1", 1, part, sizeof(part)) == 0 &&
		      !strcmp(part, "results/job-1/000000000001"),
	      "name: %s", part);
	CHECK(result_part_name_rseq(part, &first) == 0 && first == 1, "name's rseq");
	CHECK(result_part_name("job-1", 0, part, sizeof(part)) == -EINVAL, "rseq 0");
	CHECK(result_part_name("Job", 1, part, sizeof(part)) == -EINVAL, "a bad job id");
	CHECK(result_part_name("j", 1000000000000ull, part, sizeof(part)) == -EINVAL, "13 digits");
	CHECK(result_part_name_rseq("results/j/12", &first) == -EINVAL, "a short name");
	CHECK(result_part_name_rseq("results/j/00000000000x", &first) == -EINVAL, "not digits");
	{
		char a[RESULT_PART_NAME_MAX], b[RESULT_PART_NAME_MAX];
		result_part_name("j", 999, a, sizeof(a));
		result_part_name("j", 1000, b, sizeof(b));
		CHECK(strcmp(a, b) < 0, "names sort as rseq: %s %s", a, b);
	}

	/* mutations never crash the parser */
	r = sample(1);
	n = result_part_line(&r, "img.jpg", line, sizeof(line));
	for (int i = 0; i < 100000; i++) {
		char m[RESULT_PART_LINE_MAX];
		int len = n - 1;
		memcpy(m, line, (size_t)len);
		for (int k = 0; k < 1 + i % 4; k++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			m[(seed >> 33) % (unsigned)len] = (char)(seed >> 20);
		}
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		result_part_parse(m, (size_t)((seed >> 33) % (unsigned)(len + 1)), &out, name,
				  sizeof(name));
	}
	return t_result();
}
