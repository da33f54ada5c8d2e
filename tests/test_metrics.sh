#!/usr/bin/env bash
# Description: the agent's Prometheus /metrics (`agent run --metrics
# HOST:PORT`) and `qjob` (C2) on 5 real agents with engines: a job over a
# 24-image dataset runs to its end; every agent's /metrics passes
# `promtool check metrics`, has idunno_build_info, the start time,
# membership counters (joins, suspicions, failures, leaves, incarnation),
# SDFS levels (replicas held, free bytes), and no `job` label (idunno_job:
# Prometheus sets job itself); the coordinator's idunno_jobs by state and
# idunno_job_queries_completed_total equals qinfo's count, the service-time
# histogram's _count equals the queries answered with status 0 (and qjob's
# count), its +Inf bucket its _count; `qjob JOB --json` has the documented
# shape, its count equals the answered queries, its quantiles are ordered
# and its source is named, the same through a non-coordinator; an unknown
# job is refused; on the HTTP side an unknown path gets 404, POST 405,
# garbage and a TLS hello 400, connections that send nothing are closed at
# their deadline (more of them than the server's slots), 500 random and
# mutated request heads each get a valid status line, and the agent
# serves on and answers its CLI after all of it; a metrics address in use
# or malformed stops `agent run` with the reason.  Skips (77) without
# promtool (Debian package prometheus; `make deps`).
# Timeout: 400
set -u
command -v promtool >/dev/null ||
  { echo "skip: promtool not installed (Debian package prometheus: make deps)"; exit 77; }
source "$IDUNNO_ROOT/tests/cluster.sh"
source "$IDUNNO_ROOT/tests/cluster_jobs.sh"

cj_images 24 24 "$W/img24"
cl_busy_config
CL_METRICS_PORT=$((CL_PORT + 1))
MP=$CL_METRICS_PORT
cl_start 5
cl_wait_converged 5 20 && ok "5 agents with engines and --metrics joined" || bad "no convergence"
"$CL_BIN/engine" weights --model resnet18 --seed 1 --out "$W/r18.st" >/dev/null
cl_agent 1 model put r18 "$W/r18.st" >/dev/null && cl_agent 1 dataset put d24 "$W/img24" >/dev/null &&
  ok "model r18 and dataset d24 put" || bad "model or dataset put"
for _ in $(seq 50); do cl_agent 1 self | grep -q '^role coordinator' && break; sleep 0.1; done

scrape() { curl -s -m 10 "http://127.0.0.$1:$MP/metrics"; }
# value FILE SERIES-PREFIX: the value of the first sample line starting with it
value() { awk -v p="$2" 'index($0, p) == 1 { print $NF; exit }' "$1"; }

j=$(cl_agent 1 job launch r18 --dataset d24 --batch 4)
[[ $j =~ ^[a-z0-9-]+$ ]] && ok "job $j launched" || bad "launch: $j"
deadline=$((SECONDS + 150))
while ((SECONDS < deadline)); do
  [[ $(cl_agent 1 job ls --json | $PY -c 'import json,sys; print(next(x["state"] for x in json.load(sys.stdin) if x["job"] == sys.argv[1]))' "$j" 2>/dev/null) == done ]] && break
  sleep 0.5
done
((SECONDS < deadline)) && ok "job $j done" || bad "job not done: $(cl_agent 1 job ls)"

# --- /metrics: the format, on every agent ---
for i in 1 2 3 4 5; do
  scrape "$i" >"$W/m$i" || bad "scrape of node $i failed"
  promtool check metrics <"$W/m$i" >"$W/pt$i" 2>&1 && ok "node $i: promtool check metrics accepts /metrics ($(grep -vc '^#' "$W/m$i") samples)" ||
    bad "node $i: promtool: $(head -5 "$W/pt$i")"
done
grep -q '^# TYPE idunno_tcp_accepted_total counter$' "$W/m2" && grep -q '^idunno_members{status="alive"} 5$' "$W/m2" &&
  grep -q '^# TYPE idunno_worker_queries_total counter$' "$W/m2" && grep -q '^idunno_sdfs_puts_total ' "$W/m2" &&
  ok "the agent's counters: tcp, membership (5 alive), worker, SDFS" || bad "agent counters missing: $(head -20 "$W/m2")"
! grep -q '^idunno_job_' "$W/m2" && ok "a non-coordinator writes no per-job series" || bad "node 2 has job series"
grep -q '^idunno_build_info{program="agent",version="[^"]*",commit="[0-9a-f]*"} 1$' "$W/m2" &&
  grep -q '^# TYPE idunno_start_time_seconds gauge$' "$W/m2" &&
  ok "$(grep '^idunno_build_info' "$W/m2"), idunno_start_time_seconds" || bad "no build info or start time"
# membership: node 1 saw 4 others join; SDFS: every node holds replicas of the model or dataset
[[ $(value "$W/m1" idunno_member_joins_total) -ge 4 && -n $(value "$W/m1" idunno_member_failures_total) &&
   -n $(value "$W/m1" idunno_member_suspicions_total) && -n $(value "$W/m1" idunno_member_leaves_total) &&
   $(value "$W/m1" idunno_self_incarnation) -gt 0 ]] && grep -q '^# TYPE idunno_self_incarnation gauge$' "$W/m1" &&
  ok "membership counters: $(value "$W/m1" idunno_member_joins_total) joins seen by node 1, incarnation a gauge" ||
  bad "membership counters: $(grep 'member_\|incarnation' "$W/m1")"
held=0; for i in 1 2 3 4 5; do held=$((held + $(value "$W/m$i" idunno_sdfs_replicas_held))); done
((held >= 4)) && grep -q '^# TYPE idunno_sdfs_replicas_held gauge$' "$W/m1" && [[ $(value "$W/m1" idunno_sdfs_free_bytes) -gt 0 ]] &&
  ok "SDFS levels: $held replicas held over 5 nodes, free bytes a gauge" || bad "SDFS levels: $(grep 'replicas_held\|free_bytes' "$W/m1")"
! grep -hv '^#' "$W"/m[1-5] | grep -q '[{,]job="' && ok "no series labelled job (Prometheus's own label): idunno_job" ||
  bad "a job label: $(grep -h '[{,]job="' "$W"/m[1-5] | head -2)"

# --- the coordinator's per-job series against qinfo, job ls and qjob ---
lb="{idunno_job=\"$j\",model=\"r18\"}"
completed=$(value "$W/m1" "idunno_job_queries_completed_total$lb")
failed=$(value "$W/m1" "idunno_job_queries_failed_total$lb")
hcount=$(value "$W/m1" "idunno_job_query_service_seconds_count$lb")
hinf=$(value "$W/m1" "idunno_job_query_service_seconds_bucket{idunno_job=\"$j\",model=\"r18\",le=\"+Inf\"}")
hsum=$(value "$W/m1" "idunno_job_query_service_seconds_sum$lb")
queue=$(value "$W/m1" "idunno_job_queue_depth$lb")
[[ $(value "$W/m1" 'idunno_jobs{state="done"}') == 1 && $(value "$W/m1" 'idunno_jobs{state="running"}') == 0 ]] &&
  ok "idunno_jobs: 1 done, 0 running" || bad "idunno_jobs: $(grep '^idunno_jobs' "$W/m1")"
queries=$(cl_agent 1 qinfo "$j" --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["queries"])')
lsfailed=$(cl_agent 1 job ls --json | $PY -c 'import json,sys; print(next(x["failed"] for x in json.load(sys.stdin) if x["job"] == sys.argv[1]))' "$j")
[[ -n $completed && $completed == "$queries" && $queries == 24 ]] &&
  ok "idunno_job_queries_completed_total $completed == qinfo's $queries" ||
  bad "completed '$completed', qinfo '$queries'"
[[ -n $hcount && $hcount == $((queries - lsfailed)) && $failed == "$lsfailed" && $hinf == "$hcount" ]] &&
  ok "histogram _count $hcount == queries answered with status 0 ($queries - $lsfailed failed), +Inf == _count" ||
  bad "histogram count '$hcount' +Inf '$hinf', failed '$failed' (job ls: $lsfailed)"
$PY - "$W/m1" "$j" <<'PY' && ok "histogram buckets cumulative, _sum $hsum s > 0, queue depth $queue" || bad "histogram shape: $(grep service_seconds "$W/m1" | head -5)"
import sys
prev, les = -1, []
for l in open(sys.argv[1]):
    if l.startswith("idunno_job_query_service_seconds_bucket{idunno_job=\"%s\"" % sys.argv[2]):
        v = int(l.split()[-1]); assert v >= prev, l; prev = v
        les.append(l.split('le="')[1].split('"')[0])
    if l.startswith("idunno_job_query_service_seconds_sum{idunno_job=\"%s\"" % sys.argv[2]):
        assert float(l.split()[-1]) > 0, l
assert les[-1] == "+Inf" and len(les) == 370, les
PY

# --- qjob ---
qj=$(cl_agent 1 qjob "$j" --json)
$PY - "$qj" "$j" "$queries" "$lsfailed" "$hcount" <<'PY' && ok "qjob --json: $qj" || bad "qjob --json: $qj"
import json, sys
q = json.loads(sys.argv[1])
assert set(q) == {"job","model","source","queries_bpf","queries_ring","answered","failed","count",
                  "mean_ms","std_ms","median_ms","p90_ms","p95_ms","p99_ms"}, q
assert q["job"] == sys.argv[2] and q["model"] == "r18", q
assert q["answered"] == int(sys.argv[3]) and q["failed"] == int(sys.argv[4]), q
assert q["count"] == q["answered"] - q["failed"] == int(sys.argv[5]), q
assert q["queries_bpf"] + q["queries_ring"] == q["count"], q
assert q["source"] in ("bpf", "ring", "mixed"), q
assert q["source"] != "bpf" or q["queries_ring"] == 0
assert q["source"] != "ring" or q["queries_bpf"] == 0
assert 0 < q["median_ms"] <= q["p90_ms"] <= q["p95_ms"] <= q["p99_ms"], q
assert q["mean_ms"] > 0 and q["std_ms"] >= 0, q
PY
out=$(cl_agent 3 qjob "$j")
[[ $out == *"job $j (r18)"* && $out == *"source "* && $(grep -c '^ *QUERIES *MEAN_MS *STD_MS *MEDIAN_MS *P90_MS *P95_MS *P99_MS$' <<<"$out") == 1 ]] &&
  ok "qjob (text, through node 3): $(tr '\n' ' ' <<<"$out")" || bad "qjob text: $out"
out=$(cl_agent 2 qjob nosuchjob 2>&1); rc=$?
[[ $rc != 0 && $out == *"no job nosuchjob"* ]] && ok "qjob of an unknown job refused: $out" || bad "qjob unknown (rc $rc): $out"
out=$(cl_agent 2 qjob 2>&1); rc=$?
[[ $rc == 2 ]] && ok "qjob without a job: usage" || bad "qjob without a job (rc $rc): $out"

# --- bad HTTP input ---
code() { curl -s -m 10 -o /dev/null -w '%{http_code}' "$@"; }
[[ $(code "http://127.0.0.1:$MP/nope") == 404 ]] && ok "unknown path: 404" || bad "unknown path not 404"
[[ $(code -X POST "http://127.0.0.1:$MP/metrics") == 405 ]] && ok "POST: 405" || bad "POST not 405"
[[ $(code -I "http://127.0.0.1:$MP/metrics") == 200 ]] && ok "HEAD: 200" || bad "HEAD not 200"
$PY - "$MP" <<'PY' && ok "garbage, a TLS hello, a bad header: 400 each; 9 silent connections closed at their deadline; 500 fuzzed heads answered" || bad "raw HTTP checks"
import socket, sys, time
port = int(sys.argv[1])
def ask(data):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(data)
    got = b""
    while True:
        b = s.recv(4096)
        if not b:
            break
        got += b
    s.close()
    return got
for data in (b"garbage\r\n\r\n", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
             b"GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n", b"GET /metrics HTTP/9.9\r\n\r\n"):
    got = ask(data)
    assert got.startswith(b"HTTP/1.1 400 "), (data, got[:60])
# more silent connections than the server's 8 slots: each is closed at its deadline
socks = [socket.create_connection(("127.0.0.1", port), timeout=20) for _ in range(9)]
for s in socks:
    assert s.recv(1) == b"", "a silent connection was answered"
    s.close()
got = ask(b"GET /metrics HTTP/1.0\r\n\r\n")
assert got.startswith(b"HTTP/1.1 200 ") and b"idunno_metrics_timeouts_total" in got, got[:80]
# 500 random and mutated heads: each answered 200, 400, 404 or 405 (or closed unanswered
# after an incomplete head and the client's end of sending)
import random
rnd, base = random.Random(7), b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
for i in range(500):
    if i % 2:
        data = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 300)))
    else:
        b = bytearray(base)
        for _ in range(rnd.randrange(1, 4)):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        data = bytes(b)
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    got = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
    except ConnectionResetError:
        pass
    s.close()
    assert got == b"" or got[:12] in (b"HTTP/1.1 200", b"HTTP/1.1 400", b"HTTP/1.1 404", b"HTTP/1.1 405"), (data, got[:40])
PY
scrape 1 >"$W/m1b"
t=$(value "$W/m1b" idunno_metrics_timeouts_total); b=$(value "$W/m1b" idunno_metrics_bad_requests_total)
[[ ${t:-0} -ge 9 && ${b:-0} -ge 5 ]] && ok "the agent counts them: $t timeouts, $b bad requests" || bad "timeouts '$t' bad '$b'"
kill -0 "${CL_PID[1]}" && cl_agent 1 qinfo "$j" >/dev/null && promtool check metrics <"$W/m1b" >/dev/null 2>&1 &&
  ok "node 1 alive, answers its CLI and serves valid metrics after the bad input" || bad "node 1 after bad input"

# --- --metrics refused at start ---
out=$(timeout 20 "$CL_BIN/agent" run --bind 127.0.0.9:$CL_PORT --data-dir "$W/n9" --key-file "$CL_KEY" --no-engine \
  --metrics 127.0.0.1:$MP 2>&1); rc=$?
[[ $rc == 1 && $out == *"metrics: cannot listen on 127.0.0.1:$MP"* ]] && ok "a metrics address in use: $out" || bad "address in use (rc $rc): $out"
out=$("$CL_BIN/agent" run --bind 127.0.0.9:$CL_PORT --data-dir "$W/n9" --key-file "$CL_KEY" --metrics nonsense 2>&1); rc=$?
[[ $rc == 2 && $out == *"--metrics"* ]] && ok "a malformed metrics address: $out" || bad "malformed (rc $rc): $out"

checks_end
