"""bench/experiments.py WORK OUT: the tables and plots of bench/experiments
from its raw files (1a, 1b, fail, the results r1 and r2, assign.N) in WORK;
writes the plot data and gnuplot scripts into OUT."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jobrates as jr  # noqa: E402

W, OUT = sys.argv[1], sys.argv[2]
r1 = jr.load(f"{W}/r1")
r2 = jr.load(f"{W}/r2")


def busy(path, a, b):
    """A results file's worker time (s) recorded in [a, b): sum of service_ms."""
    s = 0.0
    for line in open(path):
        if line.strip():
            r = json.loads(line)
            if a <= r["done_ms"] / 1000 < b:
                s += r["service_ms"] / 1000
    return s


def ms(xs, unit=""):
    m, sd = jr.mean_std(xs)
    if m is None:
        return "n/a"
    return f"{m:.3g} ± {sd:.2g}{unit} (n={len([x for x in xs if x is not None])})"


rows = []  # (measure, ours, reports)
# (1a)
sh1, sh2, rat, keep, wt1, wt2 = [], [], [], [], [], []
for line in open(f"{W}/1a"):
    t, tl, j2, j1, ap = line.split()
    tl = float(tl)
    a = json.load(open(ap))
    n = max(len(a), 1)
    share = {}
    for w in a:
        for x in w["jobs"]:
            share[x["job"]] = share.get(x["job"], 0) + x["share"] / n
    sh1.append(share.get(j1, 0))
    sh2.append(share.get(j2, 0))
    t2 = jr.load(f"{W}/1a.{j2}")
    q1, q2 = jr.rate(r1, tl + 5, tl + 15), jr.rate(t2, tl + 5, tl + 15)
    before = jr.rate(r1, tl - 10, tl)
    rat.append(q2 / q1 if q1 else None)
    keep.append((q1 + q2) / before if before else None)
    b1, b2 = busy(f"{W}/r1", tl + 5, tl + 15), busy(f"{W}/1a.{j2}", tl + 5, tl + 15)
    wt1.append(b1 / (b1 + b2) if b1 + b2 else None)
    wt2.append(b2 / (b1 + b2) if b1 + b2 else None)
rows.append(("(1a) worker time share r18 / alex, assign (decayed 10 s, at +12 s)",
             f"{ms(sh1)} / {ms(sh2)}", ""))
rows.append(("(1a) worker time share r18 / alex, from the results' service times",
             f"{ms(wt1)} / {ms(wt2)}", ""))
rows.append(("(1a) query rate alex / r18 after the launch (fair: 1)", ms(rat),
             "within 20 % required; 5.6 % best"))
rows.append(("(1a) both jobs' rate after / r18's alone before", ms(keep), ""))
# (1b)
starts = {}
for line in open(f"{W}/1b"):
    f = line.split()
    starts.setdefault(int(f[0]), []).append([float(x) / 1000 for x in f[1:]])
for b in sorted(starts):
    x = starts[b]
    rows.append((f"(1b) batch {b:>2}: launch -> first dispatch (s)", ms([v[0] for v in x]),
                 "0.14 to 40 s" if b == min(starts) else ""))
    rows.append((f"(1b) batch {b:>2}: launch -> first query executing (s)",
                 ms([v[2] for v in x]), ""))
    rows.append((f"(1b) batch {b:>2}: launch -> first result (s)", ms([v[3] for v in x]), ""))
# (2), (3)
fail = {"worker": [], "coordinator": []}
dips = {"worker": [], "coordinator": []}
strict = {"worker": [], "coordinator": []}
steady = []
first, requeued = [], []
kills = []
for line in open(f"{W}/fail"):
    kind, t, t0, fd, v = line.split()
    t0, fd = float(t0), float(fd)
    fail[kind].append(jr.resume_time([r1, r2], t0, 0.9))
    dips[kind].append(jr.dip([r1, r2], t0))
    strict[kind].append(jr.resume_time([r1, r2], t0, 0.9, sustained=True))
    steady.append(jr.steady_ok([r1, r2], t0 - 9, t0 - 1))
    kills.append((kind, t0))
    (first if kind == "coordinator" else requeued).append(fd - t0 if fd else None)
rows.append(("(2) worker kill -9 -> normal operation (s)", ms(fail["worker"]), "0.30 to 15.7 s"))
rows.append(("(2) worker kill -9 -> normal operation, sustained 2 s (s)", ms(strict["worker"]), ""))
rows.append(("(2) worker kill -9 -> its queries queued again (s)", ms(requeued), ""))
rows.append(("(2) lowest 1 s rate in the 5 s after it / the 10 s before", ms(dips["worker"]), ""))
rows.append(("(3) coordinator kill -9 -> normal operation (s)", ms(fail["coordinator"]),
             "2.2 to 18.3 s"))
rows.append(("(3) coordinator kill -9 -> normal operation, sustained 2 s (s)",
             ms(strict["coordinator"]), ""))
rows.append(("(3) coordinator kill -9 -> first dispatch by the new one (s)", ms(first), ""))
rows.append(("(3) lowest 1 s rate in the 5 s after it / the 10 s before", ms(dips["coordinator"]),
             ""))
rows.append(("1 s windows normal without a failure (the 8 s before each kill)", ms(steady), ""))
w = max(len(r[0]) for r in rows)
print(f"{'measure':<{w}}  {'this run: mean ± std (n)':<44} reports")
for r in rows:
    print(f"{r[0]:<{w}}  {r[1]:<44} {r[2]}")
for name, d in (("normal operation", fail), ("sustained", strict)):
    print(f"trials, {name}:", {k: [None if x is None else round(x, 2) for x in v] for k, v in d.items()})
missing = sum(1 for d in (fail, strict) for v in d.values() for x in v if x is None)
if missing:
    print(f"{missing} failure trial(s) never reached normal operation within 60 s")

# plots: the jobs' 1 s rates over the run with the kills marked; 1b against the batch
t_start = min(r1[0], r2[0] if r2 else r1[0])
t_end = max(r1[-1], r2[-1] if r2 else r1[-1])
trial = sorted(x for name in os.listdir(W) if name.startswith(("1a.", "s."))
               for x in jr.load(f"{W}/{name}"))  # the (1a) and (1b) alex jobs
with open(f"{OUT}/rates.dat", "w") as f:
    t = t_start
    while t + 1 <= t_end:
        f.write(f"{t - t_start:.0f} {jr.count(r1, t, t + 1)} {jr.count(r2, t, t + 1)} "
                f"{jr.count(trial, t, t + 1)}\n")
        t += 1
marks = "".join(
    f"set arrow from {t0 - t_start:.1f}, graph 0 to {t0 - t_start:.1f}, graph 1 nohead "
    f"lc rgb '{'red' if k == 'coordinator' else 'orange'}' dt 2\n" for k, t0 in kills)
with open(f"{OUT}/rates.gp", "w") as f:
    f.write(f"""set terminal pngcairo size 1200,420 noenhanced
set output '{OUT}/rates.png'
set title 'make experiments: query rates (1 s, from done_ms); orange: worker kill -9, red: coordinator kill -9'
set xlabel 's since the first result'
set ylabel 'queries/s'
set key below horizontal
{marks}plot '{OUT}/rates.dat' using 1:2 with lines title 'ResNet18 (r18)', \\
     '' using 1:3 with lines title 'AlexNet (alex), (2) and (3)', \\
     '' using 1:4 with lines title 'AlexNet, the (1a) and (1b) trial jobs'
""")
with open(f"{OUT}/start.dat", "w") as f:
    for b in sorted(starts):
        cols = []
        for k in (0, 2, 3):
            m, sd = jr.mean_std([v[k] for v in starts[b]])
            cols += [m, sd]
        f.write(f"{b} " + " ".join(f"{x:.4f}" for x in cols) + "\n")
with open(f"{OUT}/start.gp", "w") as f:
    f.write(f"""set terminal pngcairo size 800,480 noenhanced
set output '{OUT}/start.png'
set title '(1b) the second job (AlexNet) launched while ResNet18 runs: mean ± std'
set xlabel 'batch size'
set ylabel 's from job launch'
set logscale xy
set xrange [0.7:100]
set key top left
plot '{OUT}/start.dat' using 1:2:3 with yerrorlines title 'first dispatch', \\
     '' using 1:4:5 with yerrorlines title 'first query executing', \\
     '' using 1:6:7 with yerrorlines title 'first result'
""")
sys.exit(1 if missing else 0)
