"""Per-layer profile of the engine's onednn backend: runs bin/engine_bench
with ONEDNN_VERBOSE=1 (oneDNN times every primitive it executes, and the
plan's steps of our own kernels print the same kind of line) and prints,
for each primitive of the plan in execution order, its implementation, its
shape and its mean time per batch over the timed runs, with its share of
the total.  The verbose printing itself adds a few microseconds per
primitive, so the sum is a little above engine_bench's own time.

usage: /usr/bin/python3 bench/layer_profile.py [--model alexnet] [--batch 1]
                                               [--seconds 2] [--threads 2]
Weights are build/bench-weights/MODEL.safetensors (bench/bench-engine
writes them).  Run it under the benchmark lock.
"""
import argparse
import collections
import os
import subprocess

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("IDUNNO_BIN", os.path.join(root, "bin"))
ap = argparse.ArgumentParser()
ap.add_argument("--model", default="alexnet")
ap.add_argument("--batch", type=int, default=1)
ap.add_argument("--seconds", type=float, default=2)
ap.add_argument("--threads", type=int, default=2)
args = ap.parse_args()

env = dict(os.environ, ONEDNN_VERBOSE="1")
out = subprocess.run([os.path.join(BIN, "engine_bench"), "--weights-dir",
                      os.path.join(root, "build", "bench-weights"), "--models", args.model,
                      "--batches", str(args.batch), "--seconds", str(args.seconds), "--threads",
                      str(args.threads)], env=env, check=True, capture_output=True,
                     text=True).stdout
# One line per executed primitive: ...,exec,cpu,KIND,IMPL,PROP,MDS,ATTRS,ALG,SHAPE,MS
# The first executions are the weight reorders and two warm-up runs; a plan
# is the sequence between two runs, so key by (position in the run).
steps = []
for line in out.splitlines():
    f = line.split(",")
    if len(f) >= 11 and f[0] == "onednn_verbose" and f[1] == "exec":
        steps.append((f[3], f[4], f[9], float(f[10])))
# The plan's steps repeat: find the period from the last step (the output reorder).
last = steps[-1][:3]
ends = [i for i, s in enumerate(steps) if s[:3] == last]
period = ends[-1] - ends[-2]
runs = steps[ends[2] + 1:]  # skip plan-time reorders and the two warm-ups
nruns = len(runs) // period
acc = collections.OrderedDict()
for i in range(nruns * period):
    k = (i % period,) + runs[i][:3]
    acc[k] = acc.get(k, 0.0) + runs[i][3]
total = sum(acc.values()) / nruns
print(f"{args.model} batch {args.batch}, {args.threads} threads: {nruns} runs, "
      f"{total:.2f} ms per batch (sum of primitives)")
print(f"{'#':>2} {'primitive':<14} {'implementation':<22} {'ms':>8} {'share':>6}  shape")
for (i, kind, impl, shape), ms in acc.items():
    ms /= nruns
    print(f"{i:>2} {kind:<14} {impl:<22} {ms:>8.3f} {100 * ms / total:>5.1f}%  {shape}")
