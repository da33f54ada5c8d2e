#!/usr/bin/env bash
# Description: the BPF latency exporter against a real engine: `exporter
# --no-bpf` exits 3 with its reason; bad options exit 2 naming them; with
# the probes attached, 25 single-image runs of `engine classify` give 24
# warm and 1 cold observation (the first built its plan) whose sums are
# within 5 % of the engine's own total; 10 more images in runs of 5 make
# idunno_queries_total 35 (images, not runs); series are labelled node (no
# pid), idunno_job and model, never `job`; le buckets 16 an octave;
# idunno_build_info; `promtool check metrics` accepts /metrics; exited
# engines are expired (map entries 0) with their counts kept; a `--once`
# run beside the serving exporter leaves its pin and its series alone; a
# second serving exporter on the same pin is refused, and replaces it once
# the first was killed -9; a real Prometheus scrapes it and its API
# returns idunno_queries_total 35 with the label idunno_job (no
# exported_job); with --max-entries 1 the runs that find no room are
# counted as dropped; with --retain-seconds 1 an exited engine's series
# goes away.  Skips (77) where BPF cannot be loaded (no root, no BTF, no
# exporter), saying why.
# Timeout: 240
set -u
B=$IDUNNO_BIN
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }

out=$("$B/exporter" --no-bpf 2>&1); rc=$?
[[ $rc == 3 && $out == *"BPF disabled"* ]] && ok "--no-bpf exits 3: $out" || bad "--no-bpf: rc $rc: $out"
out=$("$B/exporter" --max-entries zero 2>&1); rc=$?
[[ $rc == 2 && $out == *"--max-entries"*"zero"* ]] && ok "a bad number exits 2 naming it" || bad "bad number: rc $rc: $out"
out=$("$B/exporter" --once --pin-dir /tmp/x 2>&1); rc=$?
[[ $rc == 2 && $out == *"--once pins nothing"* ]] && ok "--once refuses --pin-dir" || bad "--once --pin-dir: rc $rc: $out"

[[ -x $B/exporter ]] || { echo "SKIP: no exporter (kernel BTF, bpftool or clang missing at build time)"; exit 77; }
[[ $(id -u) == 0 ]] || { echo "SKIP: BPF needs root (or CAP_BPF+CAP_PERFMON); the fallback is tested by test_latency_fallback"; exit 77; }

d=$(mktemp -d /tmp/idunno-bpf-XXXXXX)
pin=/sys/fs/bpf/idunno-test-$$
port=$((20000 + RANDOM % 10000)); pport=$((port + 1))
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$d" "$pin" "$pin-b" 2>/dev/null
}
trap cleanup EXIT

# start_exporter LOG PORT ARGS...: starts one, waits for /metrics; sets epid
start_exporter() {
  local log=$1 p=$2; shift 2
  "$B/exporter" --listen 127.0.0.1:$p --engine "$B/engine" "$@" 2>"$log" &
  epid=$!; pids+=($epid)
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$p/metrics" >/dev/null && return 0
    kill -0 $epid 2>/dev/null || break
    sleep 0.1
  done
  wait $epid; rc=$?
  [[ $rc == 3 ]] && { echo "SKIP: $(tail -1 "$log")"; exit 77; }
  echo "FAIL exporter exited $rc: $(cat "$log")"; exit 1
}
start_exporter "$d/exporter.log" $port --pin-dir "$pin"
ok "exporter up: $(head -1 "$d/exporter.log")"
e1=$epid

"$B/engine" weights --model resnet18 --seed 2 --out "$d/w.st" >/dev/null
head -c 602112 /dev/zero >"$d/x.raw"
classify() { # classify N BATCH [--timing]
  local inputs=() i; for i in $(seq "$1"); do inputs+=("$d/x.raw"); done
  "$B/engine" classify --model resnet18 --weights "$d/w.st" --raw --batch "$2" ${3:-} "${inputs[@]}" >/dev/null
}
scrape() { curl -sf "http://127.0.0.1:${2:-$port}/metrics" >"$1"; }
value() { awk -v p="$2" 'index($0, p) == 1 { print $NF; exit }' "$1"; }

classify 25 1 --timing 2>"$d/timing" || bad "classify failed: $(cat "$d/timing")"
own_ns=$(sed -n 's/^timing: \([0-9]*\) queries, \([0-9]*\) ns.*/\2/p' "$d/timing")
scrape "$d/m1" || bad "scrape failed"
host=$(hostname | tr -cd 'A-Za-z0-9_.:-')
lb="{node=\"$host\",idunno_job=\"0\",model=\"resnet18\"}"
warm=$(value "$d/m1" "idunno_query_service_seconds_count$lb")
cold=$(value "$d/m1" "idunno_query_cold_service_seconds_count$lb")
sum=$(awk -v a="$(value "$d/m1" "idunno_query_service_seconds_sum$lb")" -v b="$(value "$d/m1" "idunno_query_cold_service_seconds_sum$lb")" 'BEGIN { print a + b }')
[[ $warm == 24 && $cold == 1 ]] && ok "25 runs: 24 warm, 1 cold (it built its plan), labels $lb" ||
  bad "warm '$warm' cold '$cold': $(grep '_count' "$d/m1")"
awk -v s="$sum" -v o="$own_ns" 'BEGIN { e = (s * 1e9 - o) / o; if (e < 0) e = -e; exit !(e <= 0.05) }' &&
  ok "warm + cold sum ${sum}s within 5% of the engine's own ${own_ns}ns" || bad "sum ${sum}s vs the engine's own ${own_ns}ns"
classify 10 5 || bad "classify --batch 5 failed"
scrape "$d/m2"
q=$(value "$d/m2" "idunno_queries_total$lb"); runs=$(($(value "$d/m2" "idunno_query_service_seconds_count$lb") + $(value "$d/m2" "idunno_query_cold_service_seconds_count$lb")))
[[ $q == 35 && $runs == 27 ]] && ok "idunno_queries_total $q counts images (27 runs)" || bad "queries_total '$q', runs '$runs'"
! grep -v '^#' "$d/m2" | grep -q '[{,]job="' && ! grep -q 'node="pid' "$d/m2" && grep -q 'idunno_job="0"' "$d/m2" &&
  ok "no job or pid label: idunno_job and node" || bad "labels: $(grep -m3 'job=' "$d/m2")"
nb=$(grep -c "^idunno_query_service_seconds_bucket{node=\"$host\",idunno_job=\"0\"" "$d/m2")
[[ $nb == 370 ]] && grep -q 'le="0.0131072"' "$d/m2" && ok "$nb le buckets a series (16 an octave, 8.2 us .. 68.7 s, +Inf)" ||
  bad "$nb buckets"
grep -q '^idunno_build_info{program="exporter",version="[^"]*",commit="[^"]*"} 1$' "$d/m2" &&
  ok "$(grep '^idunno_build_info' "$d/m2")" || bad "no idunno_build_info"
promtool check metrics <"$d/m2" >"$d/promtool" 2>&1 && ok "promtool check metrics accepts /metrics" ||
  bad "promtool: $(cat "$d/promtool")"
curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/nope" | grep -q 404 && ok "unknown path: 404" || bad "unknown path not 404"
for _ in $(seq 30); do scrape "$d/m3"; [[ $(value "$d/m3" idunno_exporter_map_entries) == 0 ]] && break; sleep 0.2; done
[[ $(value "$d/m3" idunno_exporter_map_entries) == 0 && $(value "$d/m3" idunno_exporter_expired_processes_total) == 2 &&
   $(value "$d/m3" "idunno_queries_total$lb") == 35 ]] &&
  ok "both exited engines expired (map entries 0), their 35 queries kept" || bad "expiry: $(grep idunno_exporter "$d/m3")"

# --once beside the serving exporter: its pin and series stay
"$B/exporter" --once --seconds 4 --engine "$B/engine" >"$d/once" 2>"$d/once.err" &
opid=$!; pids+=($opid)
sleep 1.5
classify 3 1
wait $opid; rc=$?
grep -q "service time: 2 runs" "$d/once" && grep -q "(cold: runs that built their plan)" "$d/once" &&
  grep -qE '^ +[0-9]+ -> [0-9]+ +: [1-3] +\|\*+' "$d/once" && [[ $rc == 0 ]] &&
  ok "--once prints histograms: $(grep -m1 '^node' "$d/once")" || bad "--once (rc $rc): $(cat "$d/once" "$d/once.err")"
scrape "$d/m4"
[[ -e $pin/lats && $(value "$d/m4" "idunno_queries_total$lb") == 38 ]] && kill -0 $e1 &&
  ok "after --once the serving exporter keeps its pin and counted the 3 queries too (38)" ||
  bad "serving exporter after --once: pin $(ls "$pin" 2>&1), queries $(value "$d/m4" "idunno_queries_total$lb")"
out=$("$B/exporter" --listen 127.0.0.1:$((port + 2)) --engine "$B/engine" --pin-dir "$pin" 2>&1); rc=$?
[[ $rc == 1 && $out == *"another exporter serves from $pin/lats"* && -e $pin/lats ]] &&
  ok "a second exporter on the same pin refused: $out" || bad "second exporter (rc $rc): $out"

cat >"$d/prometheus.yml" <<YML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: idunno-exporter
    static_configs: [{targets: ["127.0.0.1:$port"]}]
YML
prometheus --config.file="$d/prometheus.yml" --storage.tsdb.path="$d/tsdb" \
  --web.listen-address=127.0.0.1:$pport >"$d/prometheus.log" 2>&1 &
pids+=($!)
got=""
for _ in $(seq 60); do
  got=$(curl -s "http://127.0.0.1:$pport/api/v1/query?query=idunno_queries_total" 2>/dev/null)
  [[ $got == *'"value":['*'"38"]'* ]] && break
  sleep 0.5
done
[[ $got == *'"idunno_job":"0"'* && $got == *'"job":"idunno-exporter"'* && $got != *exported_job* && $got == *'"38"]'* ]] &&
  ok "Prometheus scraped it: idunno_queries_total 38, idunno_job kept, job the target's" ||
  bad "Prometheus API: ${got:-no answer} $(tail -3 "$d/prometheus.log")"

kill -9 $e1; wait $e1 2>/dev/null
start_exporter "$d/exporter2.log" $port --pin-dir "$pin"
ok "the pin of a killed exporter is replaced by the next one"
kill -INT $epid; wait $epid 2>/dev/null
[[ ! -e $pin/lats ]] && ok "map unpinned on stop" || bad "map still pinned at $pin/lats"

# a map of 1 entry: the cold run takes it, the 4 warm ones are dropped, counted
start_exporter "$d/exporter3.log" $port --pin-dir "$pin-b" --max-entries 1 --retain-seconds 1
classify 5 1
scrape "$d/m5"
[[ $(value "$d/m5" 'idunno_exporter_dropped_total{reason="lats_full"}') == 4 ]] &&
  ok "--max-entries 1: 4 runs dropped, counted (lats_full)" || bad "drops: $(grep dropped "$d/m5")"
for _ in $(seq 40); do scrape "$d/m6"; grep -q '^idunno_queries_total{' "$d/m6" || break; sleep 0.25; done
! grep -q '^idunno_queries_total{' "$d/m6" && [[ $(value "$d/m6" idunno_exporter_series) == 0 ]] &&
  ok "--retain-seconds 1: the exited engine's series dropped" || bad "series kept: $(grep -c . "$d/m6")"
kill -INT $epid; wait $epid 2>/dev/null

((fails == 0)) || { echo "$fails check(s) failed"; exit 1; }
