#!/usr/bin/env bash
# Description: with the BPF exporter running (its probes on the engine
# binary, its map pinned), a worker reports its queries' latency from the
# probes' histograms: every RESULT says "bpf" and carries the probes'
# service time, and `agent self` says latency_source bpf; when the
# exporter stops, the worker falls back to the ring's timestamps.  Skips
# (77) where BPF cannot be loaded (no root, no BTF, no exporter built).
# Timeout: 180
set -u
source "$IDUNNO_ROOT/tests/cluster.sh"
source "$IDUNNO_ROOT/tests/cluster_jobs.sh"
[[ -x $CL_BIN/exporter ]] || { echo "skip: no exporter (kernel BTF, bpftool or clang missing at build time)"; exit 77; }
cj_images 8 5 "$W/img"

[[ $(id -u) == 0 ]] || { echo "skip: BPF needs root (or CAP_BPF+CAP_PERFMON)"; exit 77; }
pin=/sys/fs/bpf/idunno-worker-$$ # a pinned map lives on bpffs
trap 'cl_cleanup; rm -rf "$pin"' EXIT
port=$((CL_PORT + 1))
"$CL_BIN/exporter" --listen "127.0.0.1:$port" --engine "$CL_BIN/engine" --pin-dir "$pin" 2>"$W/exporter.log" &
exporter=$!
for _ in $(seq 50); do [[ -e $pin/lats ]] && break; kill -0 "$exporter" 2>/dev/null || break; sleep 0.1; done
if ! kill -0 "$exporter" 2>/dev/null; then
  wait "$exporter"
  rc=$?
  [[ $rc == 3 ]] && { echo "skip: $(tail -1 "$W/exporter.log")"; exit 77; }
  echo "FAIL exporter exited $rc: $(cat "$W/exporter.log")"
  exit 1
fi
ok "exporter up, map pinned at $pin"

export IDUNNO_BPF_PIN_DIR=$pin CL_ENGINE=1 CL_NO_COORD=1
cl_start 2
cl_wait_converged 2 20 && ok "2 agents with engines joined" || bad "no convergence"
members="$(cl_addr 1),$(cl_addr 2)"
coord() { "$CL_BIN/tests/probe_coord" "$CL_KEY" "$(cl_addr 2)" "$members" "$@"; }
"$CL_BIN/engine" weights --model resnet18 --seed 1 --out "$W/r18.st" >/dev/null
cl_agent 1 model put r18 "$W/r18.st" >/dev/null && cl_agent 1 dataset put d8 "$W/img" >/dev/null || bad "puts"

coord 1 run r18 d8 8 4 >"$W/warm.out" 2>&1 || bad "warm-up: $(tail -2 "$W/warm.out")"
coord 2 run r18 d8 32 4 >"$W/bpf.out" 2>&1 || bad "run: $(tail -2 "$W/bpf.out")"
results=$(grep -c '^result ' "$W/bpf.out")
bpf=$(grep -c '^result [0-9]* bpf$' "$W/bpf.out")
((results == 8 && bpf == 8)) && ok "all $results RESULTs carry the probes' figures (bpf)" ||
  bad "$bpf of $results RESULTs from bpf: $(grep '^result' "$W/bpf.out" | head -3)"
awk '$1 == "answer" && ($4 <= 0 || $4 > 60e9) { bad = 1 } END { exit bad }' "$W/bpf.out" &&
  ok "their service times are plausible ($(awk '$1 == "answer" { print int($4 / 1e6) " ms"; exit }' "$W/bpf.out") for a batch of 4)" ||
  bad "service times: $(grep '^answer' "$W/bpf.out" | head -2)"
[[ $(cl_agent 2 self | awk '$1 == "latency_source" { print $2 }') == bpf ]] && ok "self says latency_source bpf" ||
  bad "self: $(cl_agent 2 self | tr '\n' ' ')"

kill "$exporter"
wait "$exporter" 2>/dev/null
coord 3 run r18 d8 8 4 >"$W/ring.out" 2>&1 || bad "run after the exporter: $(tail -2 "$W/ring.out")"
grep -q '^result [0-9]* ring$' "$W/ring.out" && ok "without the exporter the worker falls back to the ring's timestamps" ||
  bad "after the exporter stopped: $(grep '^result' "$W/ring.out" | head -3)"

checks_end
echo "all checks passed"
