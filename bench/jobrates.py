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
holds.  The sustained variant asks it of every 1 s window starting in
[t, t + 1] (so of the whole of [t, t + 2)).
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


def load_spans(path, batch=1):
    """A job's results as processing spans (start, end) in s, sorted by
    end: a result's batch ran for batch x service_ms (service_ms is the
    batch's service time over its size) and ended at done_ms."""
    sp = []
    for line in open(path):
        line = line.strip()
        if line:
            d = json.loads(line)
            end = d.get("done_ms", 0) / 1000.0
            if end:
                sp.append((end - batch * d.get("service_ms", 0) / 1000.0, end))
    sp.sort(key=lambda x: x[1])
    return Spans(sp)


class Spans:
    """Processing spans sorted by end, for work() over many windows."""

    def __init__(self, sp):
        self.sp = sp
        self.ends = [e for _, e in sp]
        self.longest = max((e - s for s, e in sp), default=0.0)


def work(spans, a, b):
    """Queries processed in [a, b): each counts by the share of its span
    inside the window (1 when it ran wholly inside it), so a window's
    figure does not jump by a whole query when a completion falls just
    inside or outside it, as a count of completions does."""
    w = 0.0
    i = bisect.bisect_right(spans.ends, a)
    j = bisect.bisect_left(spans.ends, b + spans.longest)
    for s, e in spans.sp[i:j + 1]:
        if s >= b:
            continue
        if e <= s:
            w += 1.0 if a <= e < b else 0.0
            continue
        w += (min(e, b) - max(s, a)) / (e - s) if min(e, b) > max(s, a) else 0.0
    return w


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


def window_ok(jobs, t, floor):
    rs = [rate(ts, t, t + 1) for ts in jobs]
    return fair(rs) and sum(rs) >= floor


def resume_time(jobs, t0, capacity_left=0.9, limit=60.0, sustained=False, span=5.0):
    """Seconds from t0 to normal operation (None if not within limit).
    The search starts at the failure's first effect: the first 1 s window
    starting in [t0, t0 + span) that is not normal (results finishing work
    from before t0 can keep the first windows normal while the dip comes
    later); 0 if every one of them is normal (it never left normal
    operation).  sustained: every 1 s window starting in [t, t + 1] must be
    normal (so the whole of [t, t + 2) is), not only the two from t."""
    before = sum(count(ts, t0 - 10, t0) for ts in jobs) / 10.0
    floor = 0.85 * before * capacity_left
    t = next((t0 + k * 0.01 for k in range(int(span * 100))
              if not window_ok(jobs, t0 + k * 0.01, floor)), None)
    if t is None:
        return 0.0
    while t < t0 + limit:
        if sustained:
            bad = next((k for k in range(101) if not window_ok(jobs, t + k * 0.01, floor)), None)
            if bad is None:
                return t - t0
            t += (bad + 1) * 0.01
            continue
        if normal_at(jobs, t, floor):
            return t - t0
        t += 0.01
    return None


def steady_ok(jobs, a, b, capacity=1.0):
    """The fraction of the 1 s windows starting in [a, b) (10 ms steps) that
    are normal by the same test, the floor from the 10 s before a: how often
    a failure-free run fails it by chance."""
    before = sum(count(ts, a - 10, a) for ts in jobs) / 10.0
    floor = 0.85 * before * capacity
    n = good = 0
    t = a
    while t < b:
        n += 1
        good += window_ok(jobs, t, floor)
        t += 0.01
    return good / n if n else None


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


def dip(jobs, t0, span=5.0):
    """The lowest rate of all jobs together over a 1 s window starting in
    [t0, t0 + span), against their rate over the 10 s before t0."""
    before = sum(count(ts, t0 - 10, t0) for ts in jobs) / 10.0
    low, t = None, t0
    while t < t0 + span:
        r = sum(count(ts, t, t + 1) for ts in jobs)
        low = r if low is None else min(low, r)
        t += 0.05
    return low / before if before else None
