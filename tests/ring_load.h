/*
 * ring_load.h - for the latency tests: runs n ResNet18 queries (batch 1)
 * through a real `engine serve` over a ring named after this process,
 * and returns the completions (the engine's own timestamps).
 */
#ifndef IDUNNO_RING_LOAD_H
#define IDUNNO_RING_LOAD_H

#include "check.h"
#include "model.h"
#include "proc.h"
#include "ring.h"
#include "util.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#define LOAD_JOB 42

/* Fills c[0..n) in completion order; returns the engine's pid (exited). */
static pid_t ring_load(const char *bin, const char *dir, int n, struct ring_cqe *c)
{
	char engine[1024], weights[600], name[64], err[512];
	struct ring *r;
	pid_t pid;
	int done = 0;

	snprintf(engine, sizeof(engine), "%s/engine", bin);
	snprintf(weights, sizeof(weights), "%s/r18.safetensors", dir);
	REQUIRE(model_generate_weights(MODEL_RESNET18, 9, weights, err, sizeof(err)) == 0, "%s",
		err);
	snprintf(name, sizeof(name), "node-lat-%d", (int)getpid());
	REQUIRE(ring_create(name, 16, 32u << 20, &r) == 0, "ring");
	REQUIRE(ring_set_model(r, 0, "resnet18", weights) == 0, "model");
	{
		/* no warm plans: the first query builds its plan (a cold run) */
		char *args[] = {engine, "serve", "--ring", name, "--warm", "none", NULL};
		REQUIRE(proc_spawn(args, &pid) == 0, "spawn");
		REQUIRE(ring_wait_engine(r, 0, 20000) == 0, "engine attach");
	}
	for (int q = 0, sent = 0; done < n;) {
		while (sent < n) {
			struct ring_sqe e = {.query = (uint64_t)q, .job = LOAD_JOB, .batch = 1};
			if (ring_reserve(r, &e))
				break;
			memset((char *)ring_data(r) + e.in_off, 0, MODEL_IN_ELEMS * sizeof(float));
			REQUIRE(ring_submit(r, &e) == 0, "submit");
			sent++;
			q++;
		}
		int k = ring_reap(r, c + done, n - done);
		if (!k)
			REQUIRE(ring_wait(r, 30000) == 0, "no completion in 30 s");
		done += k;
	}
	ring_destroy(r);
	if (proc_wait(pid, 10000) < 0) {
		kill(pid, SIGKILL);
		proc_wait(pid, 5000);
	}
	for (int i = 0; i < n; i++)
		CHECK(c[i].status == 0, "query %llu status %d", (unsigned long long)c[i].query,
		      c[i].status);
	return pid;
}

#endif
