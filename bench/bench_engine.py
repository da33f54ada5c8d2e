"""The engine benchmark of `make bench`: in one run on this machine, ours
beside PyTorch and ONNX Runtime (same weights, same threads), sgemm as the
GFLOP/s yardstick, JPEG decoding and preprocessing per image (exact and
fast path), the ring round trip and the engine's RSS; prints one
table with the ratio against the faster peer and whether each target is met.
ONNX Runtime comes from bench/ort-setup (onnxruntime-node under build/ort)
and runs the models bench/onnx_export.py exports from the same weights; when
it cannot be installed or run, the table says so and keeps the PyTorch
columns.

The three run in turns, --rounds times (ours, PyTorch, ORT, ours, ...), so
that a slow spell of a shared host falls on each of them alike rather than
on one; each point reports the round with its median images/s (every
round's images/s are printed below the table).

usage: /usr/bin/python3 bench/bench_engine.py [--seconds S] [--threads N] [--rounds R]
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
ap.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", 3)))
args = ap.parse_args()

wdir = os.path.join(root, "build", "bench-weights")
os.makedirs(wdir, exist_ok=True)
for m in ("resnet18", "alexnet"):
    p = os.path.join(wdir, f"{m}.safetensors")
    if not os.path.exists(p):
        subprocess.run([os.path.join(BIN, "engine"), "weights", "--model", m, "--seed", "1",
                        "--out", p], check=True, stdout=subprocess.DEVNULL)
sys.path.insert(0, os.path.join(root, "bench"))


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
ort_dir = os.path.join(root, "build", "ort")


def ours_run():
    return sh([os.path.join(BIN, "engine_bench"), "--weights-dir", wdir, "--threads",
               str(args.threads), "--seconds", str(args.seconds), "--batches", batches])


def torch_run():
    return sh(["/usr/bin/python3", os.path.join(root, "bench", "torch_bench.py"), wdir,
               str(args.threads), str(args.seconds), "resnet18,alexnet", batches])


def ort_run():
    return sh(["node", os.path.join(root, "bench", "ort_bench.js"), ort_dir, wdir,
               str(args.threads), str(args.seconds), "resnet18,alexnet", batches])


def ort_ready():
    """Whether ONNX Runtime and the models it runs are there (set up when
    not), after saying why not."""
    setup = subprocess.run(["bash", os.path.join(root, "bench", "ort-setup"), ort_dir],
                           capture_output=True, text=True).stdout.strip()
    if "not installed" in setup:
        print(f"ONNX Runtime peer unavailable: {setup}")
        return False
    try:
        import onnx_export
        for m in ("resnet18", "alexnet"):
            w, o = os.path.join(wdir, f"{m}.safetensors"), os.path.join(wdir, f"{m}.onnx")
            if not onnx_export.fresh(w, o):
                onnx_export.export(m, w, o)
        return True
    except Exception as e:  # noqa: BLE001 - any failure leaves the PyTorch columns
        print(f"ONNX Runtime peer unavailable: {e}")
        return False


def median_rows(texts):
    """Per point, the row of the round with the median images/s, and every
    round's images/s."""
    per = {}
    for t in texts:
        for k, r in rows(t).items():
            per.setdefault(k, []).append(r)
    return ({k: sorted(v, key=lambda r: r[0])[(len(v) - 1) // 2] for k, v in per.items()},
            {k: [r[0] for r in v] for k, v in per.items()})


runners = [("ours", ours_run), ("PyTorch", torch_run)] + ([("ORT", ort_run)] if ort_ready()
                                                          else [])
texts = {name: [] for name, _ in runners}
for rnd in range(max(1, args.rounds)):
    for name, run in runners:
        try:
            texts[name].append(run())
        except (subprocess.CalledProcessError, FileNotFoundError) as e:
            err = (getattr(e, "stderr", "") or str(e)).strip()
            if name == "ours":
                raise
            print(f"{name} peer unavailable in round {rnd + 1}: {err}")
ours_txt = texts["ours"][-1]


def bench_jpegs():
    """An ImageNet-sized (500x375) and a camera-sized (2048x1536) JPEG, from
    a photograph of darknet's data/ when there is one (else synthetic)."""
    from PIL import Image
    import numpy as np
    out = []
    src = "/usr/share/darknet/data/dog.jpg"
    for w, h in ((500, 375), (2048, 1536)):
        p = os.path.join(wdir, f"photo-{w}x{h}.jpg")
        if not os.path.exists(p):
            if os.path.exists(src):
                im = Image.open(src).convert("RGB").resize((w, h), Image.BICUBIC)
            else:
                yy, xx = np.mgrid[0:h, 0:w]
                im = Image.fromarray(np.stack([xx * 255 // w, yy * 255 // h, (xx ^ yy) & 255],
                                              -1).astype(np.uint8))
            im.save(p, quality=90)
        out += ["--jpeg", p]
    return out


rss_txt = sh([os.path.join(BIN, "engine_bench"), "--weights-dir", wdir, "--threads",
              str(args.threads), "--seconds", "0.3", "--batches", "1,16", *bench_jpegs()])
ring_txt = sh([os.path.join(BIN, "ring_bench"), "--engine", os.path.join(BIN, "engine"),
               "--iters", "100000"])

(ours, ours_all), (theirs, torch_all) = median_rows(texts["ours"]), median_rows(texts["PyTorch"])
orts, ort_all = median_rows(texts.get("ORT", []))
sgemm = float(re.search(r"sgemm GFLOP/s.*: ([\d.]+)", ours_txt).group(1))
membw = re.search(r"memory read GB/s.*: ([\d.]+)", ours_txt)
rss = float(re.search(r"RSS with the models loaded and planned: (\d+) MB", rss_txt).group(1))
rt = re.search(r"p50 (\d+) ns, mean (\d+) ns, p99 (\d+) ns", ring_txt)
pipe = re.search(r"pipelined.*: (\d+) ns per batch", ring_txt).group(1)

tv = subprocess.run(["/usr/bin/python3", "-c", "import torch; print(torch.__version__)"],
                    capture_output=True, text=True).stdout.strip() or "?"
print(f"Engine vs PyTorch {tv} and ONNX Runtime "
      f"{'1.30 (onnxruntime-node, CPU)' if orts else '(not available)'}, {args.threads} threads, "
      f"{args.seconds:g} s per point, same weights files; each point the median of "
      f"{max(1, args.rounds)} rounds taken in turns\n")
print(f"{'model':<9} {'batch':>5} {'ours img/s':>10} {'torch img/s':>11} {'ORT img/s':>9} "
      f"{'ratio':>5} {'ours p50/p99 ms':>16} {'torch p50/p99 ms':>17} {'ORT p50/p99 ms':>16} "
      f"{'GFLOP/s':>7}")
nan = float("nan")
verdicts = []


def lat(r):
    return f"{r[1]:>7.2f}/{r[2]:<8.2f}" if r else f"{'-':>7}/{'-':<8}"


for (m, b), (ips, p50, p99, gf) in ours.items():
    t, o = theirs.get((m, b)), orts.get((m, b))
    peers = [r[0] for r in (t, o) if r]
    ratio = ips / max(peers) if peers else nan
    print(f"{m:<9} {b:>5} {ips:>10.1f} {t[0] if t else nan:>11.1f} {o[0] if o else nan:>9.1f} "
          f"{ratio:>5.2f} {p50:>7.2f}/{p99:<8.2f} {lat(t)} {lat(o)}  {gf:>7.1f}")
    if peers:
        who = "the faster of PyTorch and ORT" if len(peers) == 2 else ("PyTorch" if t else "ORT")
        verdicts.append((f"{m} batch {b} >= 1.5x {who}", ratio >= 1.5, f"{ratio:.2f}x"))
r18 = ours.get(("resnet18", 16))
print("\nimages/s of every round (ours / PyTorch / ORT):")
for k in ours_all:
    print(f"  {k[0]:<9} {k[1]:>3}: " + " / ".join(
        ", ".join(f"{v:.1f}" for v in d.get(k, [])) or "-" for d in (ours_all, torch_all,
                                                                      ort_all)))
print(f"\nOpenBLAS sgemm (2048^3, same threads): {sgemm:.1f} GFLOP/s")
if membw:
    print(f"memory read bandwidth (same threads): {membw.group(1)} GB/s")
print(f"ring round trip, empty work: p50 {rt.group(1)} ns, mean {rt.group(2)} ns, p99 {rt.group(3)} ns; "
      f"pipelined {pipe} ns per batch")
print(f"engine RSS, both models loaded, plans for batch 1 and 16: {rss:.0f} MB")
jpeg_ms = {}
for m in re.finditer(r"jpeg .*photo-(\d+x\d+)\.jpg: exact ([\d.]+) ms/image, fast ([\d.]+)", rss_txt):
    jpeg_ms[m.group(1)] = (float(m.group(2)), float(m.group(3)))
    fwd = (f", fast = {100 * float(m.group(3)) * r18[0] / 1e3:.0f}% of ResNet18's forward "
           "time per image at batch 16") if r18 else ""
    print(f"JPEG {m.group(1)} decode + preprocess: exact {m.group(2)} ms, fast {m.group(3)} ms "
          f"per image{fwd}")
print()
if r18:
    verdicts.append(("resnet18 batch 16 >= 70% of sgemm GFLOP/s", r18[3] >= 0.7 * sgemm,
                     f"{100 * r18[3] / sgemm:.0f}%"))
if r18 and "500x375" in jpeg_ms:
    share = jpeg_ms["500x375"][1] * r18[0] / 1e3
    verdicts.append(("JPEG (500x375, fast path) <= 15% of ResNet18's forward per image at "
                     "batch 16", share <= 0.15, f"{100 * share:.0f}%"))
verdicts.append(("ring round trip < 2 us", int(rt.group(1)) < 2000, f"{int(rt.group(1))} ns"))
verdicts.append(("RSS < 600 MB", rss < 600, f"{rss:.0f} MB"))
for what, ok, val in verdicts:
    print(f"  {'MET ' if ok else 'MISS'}  {what}: {val}")
