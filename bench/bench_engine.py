"""The engine benchmark of `make bench`: in one run on this machine, ours
beside PyTorch (same weights, same threads), sgemm as the GFLOP/s
yardstick, the ring round trip and the engine's RSS; prints one table with
ratios and whether each target is met.

usage: /usr/bin/python3 bench/bench_engine.py [--seconds S] [--threads N]
"""
import argparse
import os
import re
import subprocess
import sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("IDUNNO_BIN", os.path.join(root, "bin"))
ap = argparse.ArgumentParser()
ap.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS", 3)))
ap.add_argument("--threads", type=int, default=2)
args = ap.parse_args()

wdir = os.path.join(root, "build", "bench-weights")
os.makedirs(wdir, exist_ok=True)
for m in ("resnet18", "alexnet"):
    p = os.path.join(wdir, f"{m}.safetensors")
    if not os.path.exists(p):
        subprocess.run([os.path.join(BIN, "engine"), "weights", "--model", m, "--seed", "1",
                        "--out", p], check=True, stdout=subprocess.DEVNULL)


def sh(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def rows(text):
    out = {}
    for line in text.splitlines():
        f = line.split()
        if len(f) >= 5 and f[0] in ("resnet18", "alexnet") and f[1].isdigit():
            out[(f[0], int(f[1]))] = [float(x) for x in f[2:]]
    return out


batches = "1,16,64"
ours_txt = sh([os.path.join(BIN, "engine_bench"), "--weights-dir", wdir, "--threads",
               str(args.threads), "--seconds", str(args.seconds), "--batches", batches])
try:
    torch_txt = sh(["/usr/bin/python3", os.path.join(root, "bench", "torch_bench.py"), wdir,
                    str(args.threads), str(args.seconds), "resnet18,alexnet", batches])
except (subprocess.CalledProcessError, FileNotFoundError) as e:
    torch_txt = ""
    print(f"PyTorch peer unavailable ({e}); ratios not computed")
rss_txt = sh([os.path.join(BIN, "engine_bench"), "--weights-dir", wdir, "--threads",
              str(args.threads), "--seconds", "0.3", "--batches", "1,16"])
ring_txt = sh([os.path.join(BIN, "ring_bench"), "--engine", os.path.join(BIN, "engine"),
               "--iters", "100000"])

ours, theirs = rows(ours_txt), rows(torch_txt)
sgemm = float(re.search(r"sgemm GFLOP/s.*: ([\d.]+)", ours_txt).group(1))
rss = float(re.search(r"RSS with the models loaded and planned: (\d+) MB", rss_txt).group(1))
rt = re.search(r"p50 (\d+) ns, mean (\d+) ns, p99 (\d+) ns", ring_txt)
pipe = re.search(r"pipelined.*: (\d+) ns per batch", ring_txt).group(1)

tv = subprocess.run(["/usr/bin/python3", "-c", "import torch; print(torch.__version__)"],
                    capture_output=True, text=True).stdout.strip() or "?"
print(f"Engine vs PyTorch {tv}, {args.threads} threads, {args.seconds:g} s per point, "
      "same weights files\n")
print(f"{'model':<9} {'batch':>5} {'ours img/s':>11} {'torch img/s':>12} {'ratio':>6} "
      f"{'ours p50/p99 ms':>16} {'torch p50/p99 ms':>17} {'GFLOP/s':>8}")
verdicts = []
for (m, b), (ips, p50, p99, gf) in ours.items():
    t = theirs.get((m, b))
    ratio = ips / t[0] if t else float("nan")
    print(f"{m:<9} {b:>5} {ips:>11.1f} {t[0] if t else float('nan'):>12.1f} {ratio:>6.2f} "
          f"{p50:>7.2f}/{p99:<8.2f} {(t[1] if t else 0):>8.2f}/{(t[2] if t else 0):<8.2f} {gf:>8.1f}")
    if b in (1, 16) and t:
        target = 2.0 if b == 1 else 1.3
        verdicts.append((f"{m} batch {b} >= {target}x PyTorch", ratio >= target, f"{ratio:.2f}x"))
r18 = ours.get(("resnet18", 16))
print(f"\nOpenBLAS sgemm (2048^3, same threads): {sgemm:.1f} GFLOP/s")
print(f"ring round trip, empty work: p50 {rt.group(1)} ns, mean {rt.group(2)} ns, p99 {rt.group(3)} ns; "
      f"pipelined {pipe} ns per batch")
print(f"engine RSS, both models loaded, plans for batch 1 and 16: {rss:.0f} MB\n")
if r18:
    verdicts.append(("resnet18 batch 16 >= 70% of sgemm GFLOP/s", r18[3] >= 0.7 * sgemm,
                     f"{100 * r18[3] / sgemm:.0f}%"))
verdicts.append(("ring round trip < 2 us", int(rt.group(1)) < 2000, f"{int(rt.group(1))} ns"))
verdicts.append(("RSS < 600 MB", rss < 600, f"{rss:.0f} MB"))
for what, ok, val in verdicts:
    print(f"  {'MET ' if ok else 'MISS'}  {what}: {val}")
