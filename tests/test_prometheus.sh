#!/usr/bin/env bash
# Description: a real Prometheus (Debian's package) scrapes 3 agents'
# /metrics and the BPF exporter every second, on loopback, from a
# temporary config and data folder.  A 40-image job runs in batches of 1;
# its results (`agent results --json`: every query's service time, the
# exact observations) give exact quantiles.  Both endpoints pass `promtool
# check metrics`.  The agent part: through Prometheus's HTTP API, the
# coordinator's idunno_job_query_service_seconds_count is 40, its series
# keep the label idunno_job (no exported_job) with the target's job, and
# histogram_quantile(0.5 and 0.9) over its buckets is within 10 % of the
# exact quantile.  The exporter part: idunno_queries_total sums to 40 (and
# the speculative copies the coordinator counts), all of them warm runs
# (the engines built their batch-1 plans when they loaded the model,
# `engine serve --warm`, so none is cold), its series are labelled by node
# (the agent's IP:PORT), and histogram_quantile(0.5 and 0.9) over the warm
# buckets summed over the nodes is within 10 % of the exact quantile (or of
# the values as many ranks around it as the runs the exporter saw beyond
# the results: the scheduler's speculative copies, and one).  When the exporter cannot run (no root, no BPF) the agent part
# still runs and the test then skips (77) saying why: never a pass.
# Every process (agents, exporter, Prometheus) is stopped at the end.
# Timeout: 400
set -u
command -v prometheus >/dev/null && command -v promtool >/dev/null ||
  { echo "skip: prometheus/promtool not installed (Debian package prometheus: make deps)"; exit 77; }
source "$IDUNNO_ROOT/tests/cluster.sh"
source "$IDUNNO_ROOT/tests/cluster_jobs.sh"
N=40

cj_images $N 40 "$W/img"
free_port() { $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# --- the exporter (first, so its probes see every run) ---
pids=()
skip_why=""
EP=$(free_port)
pin=/sys/fs/bpf/idunno-prom-$$
if [[ ! -x $CL_BIN/exporter ]]; then
  skip_why="no exporter (kernel BTF, bpftool or clang missing at build time)"
elif [[ $(id -u) != 0 ]]; then
  skip_why="BPF needs root (or CAP_BPF+CAP_PERFMON)"
else
  "$CL_BIN/exporter" --listen 127.0.0.1:$EP --engine "$CL_BIN/engine" --pin-dir "$pin" 2>"$W/exporter.log" &
  pids+=($!)
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$EP/metrics" >/dev/null && break
    kill -0 "${pids[0]}" 2>/dev/null || break
    sleep 0.1
  done
  if ! kill -0 "${pids[0]}" 2>/dev/null; then
    wait "${pids[0]}"; rc=$?
    [[ $rc == 3 ]] && skip_why="$(tail -1 "$W/exporter.log")" || { echo "FAIL exporter exited $rc: $(cat "$W/exporter.log")"; exit 1; }
  fi
fi
[[ -z $skip_why ]] && ok "exporter up on 127.0.0.1:$EP" || echo "skip (exporter part): $skip_why"
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait "${pids[@]}" 2>/dev/null
  rm -rf "$pin"
  cl_cleanup
}
trap cleanup EXIT

# --- 3 agents; the workers take their figures from the engine's timestamps
# (no pinned map where they look), the exact observations of the results ---
export IDUNNO_BPF_PIN_DIR=$W/no-bpf
cl_busy_config
CL_METRICS_PORT=$(free_port)
MP=$CL_METRICS_PORT
cl_start 3
cl_wait_converged 3 20 && ok "3 agents with engines and --metrics joined" || bad "no convergence"
"$CL_BIN/engine" weights --model resnet18 --seed 1 --out "$W/r18.st" >/dev/null
cl_agent 1 model put r18 "$W/r18.st" >/dev/null && cl_agent 1 dataset put d "$W/img" >/dev/null &&
  ok "model r18 and a $N-image dataset put" || bad "model or dataset put"
for _ in $(seq 50); do cl_agent 1 self | grep -q '^role coordinator' && break; sleep 0.1; done

# --- Prometheus: a temporary config and data folder, loopback only ---
PP=$(free_port)
cat >"$W/prometheus.yml" <<YML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: idunno-agent
    static_configs: [{targets: ["127.0.0.1:$MP", "127.0.0.2:$MP", "127.0.0.3:$MP"]}]
  - job_name: idunno-exporter
    static_configs: [{targets: ["127.0.0.1:$EP"]}]
YML
prometheus --config.file="$W/prometheus.yml" --storage.tsdb.path="$W/tsdb" \
  --web.listen-address=127.0.0.1:$PP >"$W/prometheus.log" 2>&1 &
pids+=($!)
# promql QUERY: the API's answer (JSON)
promql() { curl -s -m 10 -G "http://127.0.0.1:$PP/api/v1/query" --data-urlencode "query=$1"; }
# scalar QUERY: the first sample's value, empty when none
scalar() { promql "$1" | $PY -c 'import json,sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else "")' 2>/dev/null; }

j=$(cl_agent 1 job launch r18 --dataset d --batch 1)
[[ $j =~ ^[a-z0-9-]+$ ]] && ok "job $j launched (batches of 1)" || bad "launch: $j"
deadline=$((SECONDS + 200))
while ((SECONDS < deadline)); do
  [[ $(cl_agent 1 job ls --json | $PY -c 'import json,sys; print(next(x["state"] for x in json.load(sys.stdin) if x["job"] == sys.argv[1]))' "$j" 2>/dev/null) == done ]] && break
  sleep 0.5
done
((SECONDS < deadline)) && ok "job $j done" || bad "job not done: $(cl_agent 1 job ls)"
cl_agent 1 results "$j" --json >"$W/results" || bad "results: $(head -3 "$W/results")"

# --- the format, on both endpoints ---
curl -s -m 10 "http://127.0.0.1:$MP/metrics" >"$W/agent.prom"
promtool check metrics <"$W/agent.prom" >"$W/pt.agent" 2>&1 && ok "promtool accepts the agent's /metrics" ||
  bad "promtool (agent): $(head -5 "$W/pt.agent")"
if [[ -z $skip_why ]]; then
  curl -s -m 10 "http://127.0.0.1:$EP/metrics" >"$W/exporter.prom"
  promtool check metrics <"$W/exporter.prom" >"$W/pt.exporter" 2>&1 && ok "promtool accepts the exporter's /metrics" ||
    bad "promtool (exporter): $(head -5 "$W/pt.exporter")"
fi

# exact quantiles of the results
# exact FILE Q [SLACK]: the value at rank ceil(Q * n), as histogram_quantile's bucket holds
# it; with SLACK, the values SLACK ranks below and above it too: the exporter also saw the
# speculative copies, whose results the coordinator dropped, so its rank may be off by as many
exact() { $PY - "$@" <<'PY'
import json, math, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
rs = [r for r in rs if r["status"] == 0]
slack = int(sys.argv[3]) if len(sys.argv) > 3 else None
v = sorted(r["service_ms"] / 1e3 for r in rs)
i = max(0, math.ceil(float(sys.argv[2]) * len(v)) - 1)
s = slack or 0
print(v[i], len(v), v[max(0, i - s)], v[min(len(v) - 1, i + s)])
PY
}
# within A B [LO HI]: |A - B| <= 10 % of B, or A within 10 % of [LO, HI]
within() { awk -v a="$1" -v b="$2" -v lo="${3:-$2}" -v hi="${4:-$2}" 'BEGIN {
  e = (a - b) / b; if (e < 0) e = -e
  exit !(a != "" && (e <= 0.10 || (a >= 0.9 * lo && a <= 1.1 * hi))) }'; }

# --- the agent part, through Prometheus ---
sel="idunno_job=\"$j\",model=\"r18\""
for _ in $(seq 60); do
  [[ $(scalar "idunno_job_query_service_seconds_count{$sel}") == "$N" ]] && break
  sleep 0.5
done
got=$(promql "idunno_job_query_service_seconds_count{$sel}")
[[ $got == *"\"idunno_job\":\"$j\""* && $got == *'"job":"idunno-agent"'* && $got != *exported_job* && $got == *"\"$N\"]"* ]] &&
  ok "Prometheus: idunno_job_query_service_seconds_count $N, label idunno_job kept, job the target's" ||
  bad "Prometheus (agent): $got $(tail -2 "$W/prometheus.log")"
for q in 0.5 0.9; do
  read -r want n _ _ < <(exact "$W/results" $q)
  have=$(scalar "histogram_quantile($q, idunno_job_query_service_seconds_bucket{$sel})")
  within "$have" "$want" && ok "agent: histogram_quantile($q) $have s, exact $want s (of $n)" ||
    bad "agent: histogram_quantile($q) '$have' s, exact $want s (of $n)"
done

d=$(scalar 'sum(idunno_sched_dispatched_batches_total)'); wk=$(scalar 'sum(idunno_sched_workers)')
[[ -n $d && -n $wk ]] && ((d >= N && wk == 3)) && ok "the scheduler's figures: $d batches dispatched to $wk workers" ||
  bad "scheduler: dispatched '$d', workers '$wk'"

# --- the exporter part ---
if [[ -z $skip_why ]]; then
  # every run the engines made: the job's 40, and the copies the scheduler
  # dispatched for batches that overran (idunno_sched_speculations_total)
  spec=$(scalar 'sum(idunno_sched_speculations_total)')
  for _ in $(seq 60); do
    total=$(scalar 'sum(idunno_queries_total{model="resnet18"})')
    [[ -n $total ]] && ((total >= N)) && break
    sleep 0.5
  done
  workers=$($PY -c 'import json,sys; print(len({json.loads(l)["worker"] for l in open(sys.argv[1])}))' "$W/results")
  total=$(scalar 'sum(idunno_queries_total{model="resnet18"})')
  cold=$(scalar 'sum(idunno_query_cold_service_seconds_count{model="resnet18"})')
  cold=${cold:-0} # no series: no cold run on any engine
  warm=$(scalar 'sum(idunno_query_service_seconds_count{model="resnet18"})')
  [[ -n $total && -n $spec && -n $warm ]] && ((total >= N && total <= N + spec && warm == total && cold == 0)) &&
    ok "exporter through Prometheus: $total queries ($N + up to $spec speculative copies), all warm (plans built at load)" ||
    bad "exporter: total '$total' cold '$cold' warm '$warm' ($workers workers, $spec speculations)"
  got=$(promql 'idunno_queries_total{model="resnet18"}')
  [[ $got == *'"idunno_job":'* && $got == *'"job":"idunno-exporter"'* && $got != *exported_job* && $got == *'"node":"127.0.0.'* ]] &&
    ok "exporter series labelled node (the agent's) and idunno_job, job the target's" || bad "exporter labels: $got"
  for q in 0.5 0.9; do
    read -r want n lo hi < <(exact "$W/results" $q "$((total - N + 1))")
    have=$(scalar "histogram_quantile($q, sum by (le) (idunno_query_service_seconds_bucket{model=\"resnet18\"}))")
    within "$have" "$want" "$lo" "$hi" &&
      ok "exporter: histogram_quantile($q) $have s, exact $want s (of $n warm; $lo .. $hi within $((total - N + 1)) ranks)" ||
      bad "exporter: histogram_quantile($q) '$have' s, exact $want s (of $n warm; $lo .. $hi)"
  done
fi

checks_end
[[ -z $skip_why ]] || { echo "skip: the exporter part did not run: $skip_why (the agent part passed)"; exit 77; }
