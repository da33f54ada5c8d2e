# bench/lib-jobs.sh - shell helpers shared by the benchmarks and
# experiments that run jobs on a local cluster (bench-failover,
# bench-coord, experiments, the demo).  Source it after tests/cluster.sh.
#
#   (self_field and node_of, which these use, are tests/cluster.sh's)
#   any_node [SKIP...]   a running node not among SKIP
#   coord_now [SKIP...]  the coordinator as a node number (waits up to 20 s)
#   iso TIMESTAMP        a log line's ISO time as seconds since the epoch
#   log_time_of I REGEX  the time (s) of the last line of node I's log matching REGEX
#   jobs_setup N SEED    N images, ResNet18 as r18 and AlexNet as alex, dataset d, in SDFS
#   start_trial C MODEL BATCH  launches a looped job of MODEL over d through
#                        coordinator node C, waits for its first result,
#                        stops it and prints, in ms from the CLI's launch:
#                        "DISPATCH COORD EXEC FIRST": the coordinator's first
#                        dispatch of it (its log), the same from the launch's
#                        commit (the coordinator's own figure), the first
#                        query executing (its result's done_ms minus its
#                        batch's service time) and the first result

any_node() { local i; for i in $(cl_running); do [[ " $* " == *" $i "* ]] || { echo "$i"; return; }; done; }
coord_now() {
  local c
  for _ in $(seq 200); do
    c=$(node_of "$(self_field "$(any_node "$@")" coordinator)")
    [[ -n $c && $c != none && " $* " != *" $c "* && $(self_field "$c" role) == coordinator ]] && { echo "$c"; return 0; }
    sleep 0.1
  done
  return 1
}
iso() { /usr/bin/python3 -c 'import datetime,sys; print(datetime.datetime.strptime(sys.argv[1], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp())' "$1"; }
log_time_of() {
  local line
  line=$(grep -hE "$2" "$CL_DIR/node$1/agent.log" 2>/dev/null | tail -1)
  [[ -n $line ]] && iso "${line%% *}"
}
jobs_setup() {
  "$root/bench/mkdataset" --count "$1" --seed "$2" --out "$W/img" >/dev/null || return 1
  "$CL_BIN/engine" weights --model resnet18 --seed 1 --out "$W/r18.st" >/dev/null &&
    "$CL_BIN/engine" weights --model alexnet --seed 2 --out "$W/alex.st" >/dev/null || return 1
  cl_agent 1 model put r18 "$W/r18.st" >/dev/null && cl_agent 1 model put alex "$W/alex.st" >/dev/null &&
    cl_agent 1 dataset put d "$W/img" >/dev/null
}
start_trial() {
  local c=$1; shift
  local t0 j tl n
  t0=$(date +%s.%N)
  j=$(cl_agent "$c" job launch "$1" --dataset d --batch "$2" --loop) || return 1
  for _ in $(seq 100); do
    grep -q "job $j: first dispatch" "$CL_DIR/node$c/agent.log" && break
    sleep 0.05
  done
  tl=$(log_time_of "$c" "job $j: first dispatch") || return 1
  n=$(grep -h "job $j: first dispatch" "$CL_DIR/node$c/agent.log" | sed 's/.*dispatch \([0-9]*\) ms.*/\1/')
  for _ in $(seq 600); do
    [[ -n $(cl_agent "$c" results "$j" --json 2>/dev/null | head -1) ]] && break
    sleep 0.1
  done
  sleep 1
  cl_agent "$c" job stop "$j" >/dev/null
  cl_agent "$c" results "$j" --json >"$W/s.$j"
  # a result's service_ms is its batch's service time / the batch size
  /usr/bin/python3 - "$W/s.$j" "$t0" "$tl" "$n" "$2" <<'PY'
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
t0, tl, n, b = float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
first = min(rs, key=lambda r: r["done_ms"])
ex = min(r["done_ms"] / 1000 - b * r["service_ms"] / 1000 for r in rs)
print(f"{(tl - t0) * 1000:.1f} {n:.0f} {(ex - t0) * 1000:.1f} {(first['done_ms'] / 1000 - t0) * 1000:.1f}")
PY
  sleep 1
}
