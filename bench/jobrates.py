"""bench/jobrates.py - query rates from the results' own timestamps.

Shared by bench/bench-coord and bench/experiments.  Every result that
`agent results JOB --json` prints carries done_ms: the wall clock (ms) of
the coordinator that recorded it.  A job's rate over [a, b) is the count
of its results with done_ms in it, divided by b - a.

"Normal operation" (docs/experiments.md): at time t both jobs' rates over
the 1 s windows [t, t + 1) and [t + 1, t + 2) are within 10 % of each
other (max - min <= 0.10 x max), and their sum is at least 85 % of the
sum over the 10 s before the failure, scaled by the capacity left
(workers left / workers before).  The time to resume normal operation
after a failure at t0 is the first t >= t0 (in 10 ms steps) at which it
holds.
"""
import bisect
import json


def load(path):
    """The sorted done times (s) of a job's results file (JSON Lines)."""
    ts = []
    for line in open(path):
        line = line.strip()
        if line:
            d = json.loads(line).get("done_ms", 0)
            if d:
                ts.append(d / 1000.0)
    ts.sort()
    return ts


def count(ts, a, b):
    return bisect.bisect_left(ts, b) - bisect.bisect_left(ts, a)


def rate(ts, a, b):
    return count(ts, a, b) / (b - a)


def fair(rs, tol=0.10):
    return min(rs) > 0 and (max(rs) - min(rs)) <= tol * max(rs)


def normal_at(jobs, t, floor):
    for k in (0, 1):
        rs = [rate(ts, t + k, t + k + 1) for ts in jobs]
        if not fair(rs) or sum(rs) < floor:
            return False
    return True


def resume_time(jobs, t0, capacity_left=0.9, limit=60.0):
    """Seconds from t0 to normal operation (None if not within limit)."""
    before = sum(count(ts, t0 - 10, t0) for ts in jobs) / 10.0
    floor = 0.85 * before * capacity_left
    t = t0
    while t < t0 + limit:
        if normal_at(jobs, t, floor):
            return t - t0
        t += 0.01
    return None


def windows(jobs, a, b, w):
    """Per window of w s in [a, b): the jobs' rates."""
    out = []
    t = a
    while t + w <= b + 1e-9:
        out.append([rate(ts, t, t + w) for ts in jobs])
        t += w
    return out


def mean_std(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None, None
    m = sum(xs) / len(xs)
    sd = (sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) ** 0.5 if len(xs) > 1 else 0.0
    return m, sd
