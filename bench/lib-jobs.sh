# bench/lib-jobs.sh - shell helpers shared by the benchmarks and
# experiments that run jobs on a local cluster (bench-failover,
# bench-coord, experiments).  Source it after tests/cluster.sh.
#
#   self_field I KEY     KEY of node I's `agent self` (role, coordinator, ...)
#   node_of ADDR         the node number of 127.0.0.I:PORT
#   any_node [SKIP...]   a running node not among SKIP
#   coord_now [SKIP...]  the coordinator as a node number (waits up to 20 s)
#   iso TIMESTAMP        a log line's ISO time as seconds since the epoch
#   log_time_of I REGEX  the time (s) of the last line of node I's log matching REGEX
#   jobs_setup N SEED    N images, ResNet18 as r18 and AlexNet as alex, dataset d, in SDFS

self_field() { cl_agent "$1" self 2>/dev/null | awk -v k="$2" '$1 == k { print $2 }'; }
node_of() { local a=${1%:*}; echo "${a##*.}"; }
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
