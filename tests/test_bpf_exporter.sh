#!/usr/bin/env bash
# Description: the BPF latency exporter against a real engine: `exporter
# --no-bpf` exits 3 with its reason; with the probes attached, N queries of
# `engine classify` give an exported count of exactly N and a service-time
# sum within 5 % of the engine's own measured total; `promtool check
# metrics` accepts /metrics; a real Prometheus server scrapes it and its
# HTTP API returns the series; stopping the exporter unpins its map.
# Skips (77) where BPF cannot be loaded (no root, no BTF, no exporter).
# Timeout: 240
set -u
B=$IDUNNO_BIN
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }

out=$("$B/exporter" --no-bpf 2>&1); rc=$?
[[ $rc == 3 && $out == *"BPF disabled"* ]] && ok "--no-bpf exits 3: $out" || bad "--no-bpf: rc $rc: $out"

[[ -x $B/exporter ]] || { echo "SKIP: no exporter (kernel BTF, bpftool or clang missing at build time)"; exit 77; }
[[ $(id -u) == 0 ]] || { echo "SKIP: BPF needs root (or CAP_BPF+CAP_PERFMON); the fallback is tested by test_latency_fallback"; exit 77; }

d=$(mktemp -d /tmp/idunno-bpf-XXXXXX)
pin=/sys/fs/bpf/idunno-test-$$
port=$((20000 + RANDOM % 10000)); pport=$((port + 1))
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$d" "$pin" 2>/dev/null
}
trap cleanup EXIT

"$B/exporter" --listen 127.0.0.1:$port --engine "$B/engine" --pin-dir "$pin" 2>"$d/exporter.log" &
epid=$!; pids+=($epid)
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/metrics" >/dev/null && break
  kill -0 $epid 2>/dev/null || break
  sleep 0.1
done
if ! kill -0 $epid 2>/dev/null; then
  wait $epid; rc=$?
  if [[ $rc == 3 ]]; then echo "SKIP: $(tail -1 "$d/exporter.log")"; exit 77; fi
  echo "FAIL exporter exited $rc: $(cat "$d/exporter.log")"; exit 1
fi
ok "exporter up: $(head -1 "$d/exporter.log")"

N=25
"$B/engine" weights --model resnet18 --seed 2 --out "$d/w.st" >/dev/null
head -c 602112 /dev/zero >"$d/x.raw"
inputs=(); for i in $(seq $N); do inputs+=("$d/x.raw"); done
"$B/engine" classify --model resnet18 --weights "$d/w.st" --raw --timing "${inputs[@]}" >/dev/null 2>"$d/timing" ||
  bad "classify failed: $(cat "$d/timing")"
own_ns=$(sed -n 's/^timing: \([0-9]*\) queries, \([0-9]*\) ns.*/\2/p' "$d/timing")
curl -sf "http://127.0.0.1:$port/metrics" >"$d/metrics" || bad "scrape failed"
count=$(sed -n 's/^idunno_query_service_seconds_count{.*model="resnet18"} //p' "$d/metrics")
sum=$(sed -n 's/^idunno_query_service_seconds_sum{.*model="resnet18"} //p' "$d/metrics")
[[ $count == "$N" ]] && ok "exported count $count == $N queries" || bad "exported count '$count', want $N"
awk -v s="$sum" -v o="$own_ns" 'BEGIN { e = (s * 1e9 - o) / o; if (e < 0) e = -e; exit !(e <= 0.05) }' &&
  ok "exported sum ${sum}s within 5% of the engine's own ${own_ns}ns" ||
  bad "exported sum ${sum}s vs the engine's own ${own_ns}ns"
promtool check metrics <"$d/metrics" >"$d/promtool" 2>&1 && ok "promtool check metrics accepts /metrics" ||
  bad "promtool: $(cat "$d/promtool")"
curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/nope" | grep -q 404 && ok "unknown path: 404" || bad "unknown path not 404"

cat >"$d/prometheus.yml" <<YML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: idunno
    static_configs: [{targets: ["127.0.0.1:$port"]}]
YML
prometheus --config.file="$d/prometheus.yml" --storage.tsdb.path="$d/tsdb" \
  --web.listen-address=127.0.0.1:$pport >"$d/prometheus.log" 2>&1 &
pids+=($!)
got=""
for _ in $(seq 60); do
  got=$(curl -s "http://127.0.0.1:$pport/api/v1/query?query=idunno_queries_total" 2>/dev/null)
  [[ $got == *'"value":['*'"25"]'* ]] && break
  sleep 0.5
done
[[ $got == *'"model":"resnet18"'* && $got == *'"25"]'* ]] &&
  ok "Prometheus scraped the exporter; API returns idunno_queries_total = 25" ||
  bad "Prometheus API: ${got:-no answer} $(tail -3 "$d/prometheus.log")"

kill -INT $epid; wait $epid 2>/dev/null
[[ ! -e $pin/lats ]] && ok "map unpinned on stop" || bad "map still pinned at $pin/lats"

# --once: a terminal histogram of what ran meanwhile
"$B/exporter" --once --seconds 4 --engine "$B/engine" --pin-dir "$pin-once" >"$d/once" 2>"$d/once.err" &
opid=$!; pids+=($opid)
sleep 1.5
"$B/engine" classify --model resnet18 --weights "$d/w.st" --raw "$d/x.raw" "$d/x.raw" "$d/x.raw" >/dev/null 2>&1
wait $opid; rc=$?
grep -q "service time: 3 queries" "$d/once" && grep -qE '^ +[0-9]+ -> [0-9]+ +: [1-3] +\|\*+' "$d/once" &&
  [[ $rc == 0 ]] && ok "--once prints a histogram: $(grep -m1 'node' "$d/once")" ||
  bad "--once (rc $rc): $(cat "$d/once" "$d/once.err")"
[[ ! -e $pin-once/lats ]] || bad "--once left its map pinned"

((fails == 0)) || { echo "$fails check(s) failed"; exit 1; }
