"""bench/failover_report.py DIR - bench/bench-failover's table, from what it
keeps in DIR (build/bench-failover): `trials` (one line per kill: kind,
the kill's time, the time of the event it waited for, 0 if none) and `r1`,
`r2` (both jobs' `results --json`).  Exits 1 if a query was lost or
answered twice, or a trial logged no event.

Rates over 1 s windows [t - 1, t], every 50 ms from the kill to 6 s after:
the work done in the window (each query by the share of its run inside
it, jobrates.work), and, below it, the count of completions in it.
  - "fair again": the first t after which every window of the next 1 s
    has both rates within 10 % of each other (the issue's measure);
  - "fair and back": the end of the last window within the 6 s that is
    not fair, or whose sum is below 80 % of the 10 s before the kill.
The same measures at times with no kill from 1 s before to 6 s after are
the control: what the windows' own noise gives on the machine.
"""
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jobrates as jr  # noqa: E402

STEP, HORIZON = 0.05, 6.0


def fair(r):
    return min(r) > 0 and (max(r) - min(r)) / max(r) <= 0.10


def fair_again(t0, rates):
    n = round(HORIZON / STEP)
    ok = [fair(rates(t0 + k * STEP)) for k in range(n + round(1 / STEP) + 1)]
    span = round(1 / STEP)
    for k in range(n + 1):
        if all(ok[k:k + span + 1]):
            return k * STEP
    return HORIZON


def back(t0, rates):
    before = sum(sum(rates(t0 - k)) for k in range(10)) / 10
    last_bad, k = None, 0
    while k * STEP < HORIZON:
        r = rates(t0 + k * STEP)
        if not (fair(r) and sum(r) >= 0.8 * before):
            last_bad = k * STEP
        k += 1
    return 0.0 if last_bad is None else last_bad + STEP


def stat(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "n/a"
    p99 = sorted(xs)[min(len(xs) - 1, int(0.99 * len(xs)))]
    sd = statistics.pstdev(xs) if len(xs) > 1 else 0
    return f"{statistics.mean(xs):6.2f} {sd:6.2f} {p99:6.2f} {len(xs):3d}"


def main(d):
    files = [os.path.join(d, f) for f in ("r1", "r2")]
    spans = [jr.load_spans(f) for f in files]
    done = [s.ends for s in spans]  # the results' done times, sorted (jr.load's)

    def worked(t):
        return [jr.work(s, t - 1, t) for s in spans]

    def counted(t):
        return [jr.count(x, t - 1, t) for x in done]

    measures = [("fair again", fair_again), ("fair and back", back)]
    trials = [ln.split() for ln in open(os.path.join(d, "trials")) if ln.strip()]
    print(f"{'event (kill -9)':<46} {'mean':>6} {'std':>6} {'p99':>6} {'n':>3}  target   seeds")
    for kind, event, target, seeds in (
            ("coordinator", "first dispatch by the new one", "< 1.5 s", "2.2-18.3 s"),
            ("worker", "its queries queued again", "", "")):
        ts = [(float(t0), float(ev)) for k, t0, ev in trials if k == kind]
        print(f"{kind + ' -> ' + event:<46} {stat([ev - t0 if ev else None for t0, ev in ts])}"
              f"  {target:<8} {seeds}")
        for name, f in measures:
            tgt, sd = ("< 1 s", "0.3-15.7 s") if kind == "worker" and name == "fair again" else ("", "")
            print(f"{kind + ' -> rates ' + name + ' (work)':<46} "
                  f"{stat([f(t0, worked) for t0, _ in ts])}  {tgt:<8} {sd}")
            print(f"{'   (completions counted)':<46} {stat([f(t0, counted) for t0, _ in ts])}")
    kills = [float(t[1]) for t in trials]
    lo = min(x[0] for x in done if x) + 11
    hi = max(x[-1] for x in done if x) - HORIZON - 1
    ctl = [t for t in range(int(lo), int(hi))
           if all(not (t - 1 <= k <= t + HORIZON + 1) for k in kills)]
    for name, f in measures:
        print(f"{'no kill (control): ' + name + ' (work)':<46} {stat([f(t, worked) for t in ctl])}")
        print(f"{'   (completions counted)':<46} {stat([f(t, counted) for t in ctl])}")
    bad = 0
    for name in files:
        q = [json.loads(ln)["query"] for ln in open(name) if ln.strip()]
        dup = len(q) - len(set(q))
        top = max(q) if q else 0
        holes = sum(1 for x in set(range(max(0, top - 2048))) - set(q))
        print(f"results {os.path.basename(name)}: {len(q)} queries, {dup} duplicated, "
              f"{holes} missing below the last 2048")
        bad += dup + holes
    missed = sum(1 for t in trials if float(t[2]) == 0)
    print(f"lost or duplicated: {bad}; trials with no event logged: {missed}")
    return 1 if bad or missed else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: failover_report.py DIR (bench/bench-failover's kept files)")
    sys.exit(main(sys.argv[1]))
