#!/usr/bin/env bash
# Description: coordinator failover on 10 real agents with engines, two
# jobs (ResNet18 and AlexNet over a 64-image dataset) running through
# each fault: kill -9 of the coordinator (its hot standby takes over with
# epoch + 1 and the state it followed); kill -9 of the coordinator and two
# workers at once; kill -9 of three workers at once; kill -9 of the
# coordinator and its standby at once (a cold takeover rebuilds the jobs
# and their persisted results from SDFS); SIGSTOP of the coordinator past
# the failure timeout, then SIGCONT (it is not obeyed, stops dispatching
# and rejoins as a worker of the new epoch); a partition of {coordinator
# + 3} from the 6 others (the cut-off coordinator stops, the majority
# side takes over, after the heal there is one coordinator); `leave` on
# the coordinator.  After each: both jobs complete and `results` holds
# each image of each job exactly once; killed nodes are restarted and
# rejoin as workers.  qgen submits to a client-only job through the
# first kill: its ledger shows 0 lost, 0 duplicated, checked against the
# job's results.
# Timeout: 1200
set -u
source "$IDUNNO_ROOT/tests/cluster.sh"
source "$IDUNNO_ROOT/tests/cluster_jobs.sh"
N=10

cj_images 64 64 "$W/img"
cl_nft_ready || { echo "skip: nftables unavailable (root and nft are needed for the partition)"; exit 77; }

cl_busy_config
cl_start $N
cl_wait_converged $N 40 && ok "$N agents with engines joined" || bad "no convergence"
"$CL_BIN/engine" weights --model resnet18 --seed 1 --out "$W/r18.st" >/dev/null
"$CL_BIN/engine" weights --model alexnet --seed 2 --out "$W/alex.st" >/dev/null
cl_agent 1 model put r18 "$W/r18.st" >/dev/null && cl_agent 1 model put alex "$W/alex.st" >/dev/null &&
  cl_agent 1 dataset put d "$W/img" >/dev/null && ok "models and a 64-image dataset put" || bad "put"

# the coordinator and the standby, as node numbers, in node I's view
coord_of() { node_of "$(self_field "$1" coordinator)"; }
standby_of() { node_of "$(self_field "$1" standby)"; }
alive_node() { local i; for i in $(cl_running); do [[ " $* " == *" $i "* ]] || { echo "$i"; return; }; done; }

# wait_coord ASK EXCLUDE...: waits until node ASK names a coordinator not in EXCLUDE, prints it
wait_coord() {
  local ask=$1 c
  shift
  for _ in $(seq 300); do
    c=$(coord_of "$ask")
    [[ -n $c && $c != none && " $* " != *" $c "* ]] && [[ $(self_field "$c" role) == coordinator ]] &&
      { echo "$c"; return 0; }
    sleep 0.1
  done
  return 1
}
job_json() { cl_agent "$1" job ls --json 2>/dev/null; }
completed() { job_field "$1" "$2" completed 2>/dev/null; }
wait_done() { # wait_done NODE JOB SECONDS
  local deadline=$((SECONDS + $3))
  while ((SECONDS < deadline)); do
    job_json "$1" | $PY -c 'import json,sys; sys.exit(0 if next(j["state"] for j in json.load(sys.stdin) if j["job"] == sys.argv[1]) == "done" else 1)' "$2" 2>/dev/null && return 0
    sleep 0.5
  done
  return 1
}
check_once() { # check_once NODE JOB: each image of the dataset exactly once in results
  cl_agent "$1" results "$2" --json >"$W/res.$2" 2>"$W/res.$2.err" && $PY - "$W/res.$2" "$W/img" <<'PY'
import json, os, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
names = sorted(os.listdir(sys.argv[2]))
q = sorted(r["query"] for r in lines)
assert q == list(range(len(names))), f"{len(q)} results, queries {q[:10]}..."
assert sorted(r["image"] for r in lines) == names
assert all(r["status"] == 0 for r in lines)
PY
}

# start_jobs ASK: launches the two jobs through node ASK, waits until both
# have run some queries; sets J1 J2
start_jobs() {
  J1=$(cl_agent "$1" job launch r18 --dataset d --batch 1)
  J2=$(cl_agent "$1" job launch alex --dataset d --batch 1)
  for _ in $(seq 300); do
    a=$(completed "$1" "$J1")
    b=$(completed "$1" "$J2")
    ((${a:-0} >= 4 && ${b:-0} >= 4)) && return 0
    sleep 0.1
  done
  return 1
}
# results_once ASK: each image once in both jobs' results, within 30 s (a
# coordinator that just lost or regained its majority holds results back
# until it knows it is still the coordinator)
results_once() {
  local deadline=$((SECONDS + 30))
  until check_once "$1" "$J1" && check_once "$1" "$J2"; do
    ((SECONDS < deadline)) || return 1
    sleep 1
  done
}
# finish NAME ASK: both jobs complete through node ASK, each image once
finish() {
  if wait_done "$2" "$J1" 240 && wait_done "$2" "$J2" 240 && results_once "$2"; then
    ok "$1: both jobs complete, each of the 64 images exactly once in each job's results"
  else
    bad "$1: $(job_json "$2") $(head -c 300 "$W/res.$J1" 2>/dev/null)"
  fi
}
log_line() { grep -h "$2" "$CL_DIR/node$1/agent.log" | tail -1 | sed 's/^[^ ]* [A-Z]* *//'; }

c=$(wait_coord 2) && ok "node $c coordinates, node $(standby_of "$c") is its standby" || bad "no coordinator"

# --- 1. kill -9 of the coordinator (with qgen submitting to a third job) ---
sb=$(standby_of "$c")
J3=$(cl_agent "$sb" job launch r18 --dataset d --batch 2 --client-only)
"$CL_BIN/qgen" --agent "$(cl_addr "$sb")" --key-file "$CL_KEY" --rate 4 --duration 14 --check-results \
  --json "$J3" >"$W/qgen.json" 2>"$W/qgen.err" &
qgen=$!
start_jobs "$sb" || bad "jobs did not start"
ep=$(self_field "$sb" coordinator_epoch)
# the standby may have moved meanwhile (a false failure on a loaded machine)
sb=$(standby_of "$c")
cl_kill "$c"
nc=$(wait_coord "$sb" "$c") && [[ $nc == "$sb" && $(self_field "$nc" coordinator_epoch) == $((ep + 1)) ]] &&
  ok "coordinator $c killed: its standby $nc took over, epoch $ep -> $((ep + 1)): $(log_line "$nc" 'first dispatch')" ||
  bad "takeover after killing $c: '$nc' $(cl_agent "$sb" self | tr '\n' ' ')"
grep -q "takeover with the standby's state" "$CL_DIR/node$nc/agent.log" && ok "node $nc: $(log_line "$nc" "takeover with")" ||
  bad "node $nc did not take over with the standby's state"
finish "after the coordinator's kill" "$nc"
if wait $qgen && $PY - "$W/qgen.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
j = r["jobs"][0]
assert r["ok"] and j["lost"] == 0 and j["duplicated"] == 0 and j["answered"] >= 20, r
print(f'{j["answered"]} answered, {j["resubmitted"]} re-submitted after {j["reconnects"]} reconnects, 0 lost, 0 duplicated')
PY
then
  ok "qgen through the coordinator's kill: $($PY -c 'import json,sys; j=json.load(open(sys.argv[1]))["jobs"][0]; print(j["answered"], "answered,", j["resubmitted"], "re-submitted,", j["reconnects"], "reconnects, 0 lost, 0 duplicated, results checked")' "$W/qgen.json")"
else
  bad "qgen through the coordinator's kill: $(cat "$W/qgen.err") $(head -c 600 "$W/qgen.json")"
fi
cl_restart "$c" "$nc"
c=$nc

# --- 2. kill -9 of the coordinator and two workers at once ---
cl_wait_converged $N 40 || bad "node restarted did not rejoin"
start_jobs "$(standby_of "$c")" || bad "jobs did not start"
sb=$(standby_of "$c") # read last: a false failure on a loaded machine moves it
w1=$(alive_node "$c" "$sb")
w2=$(alive_node "$c" "$sb" "$w1")
kill -9 "${CL_PID[$c]}" "${CL_PID[$w1]}" "${CL_PID[$w2]}"
for i in $c $w1 $w2; do cl_kill "$i"; done # reaped quietly
nc=$(wait_coord "$sb" "$c") && [[ $nc == "$sb" ]] &&
  ok "coordinator $c and workers $w1 $w2 killed at once: standby $nc took over" ||
  bad "takeover after killing $c $w1 $w2: '$nc'"
finish "after killing the coordinator and two workers" "$nc"
for i in $c $w1 $w2; do cl_restart "$i" "$nc"; done
c=$nc

# --- 2b. kill -9 of three workers at once ---
cl_wait_converged $N 40 || bad "restarted nodes did not rejoin"
sb=$(standby_of "$c")
w1=$(alive_node "$c" "$sb")
w2=$(alive_node "$c" "$sb" "$w1")
w3=$(alive_node "$c" "$sb" "$w1" "$w2")
start_jobs "$sb" || bad "jobs did not start"
kill -9 "${CL_PID[$w1]}" "${CL_PID[$w2]}" "${CL_PID[$w3]}"
for i in $w1 $w2 $w3; do cl_kill "$i"; done
finish "after killing workers $w1 $w2 $w3 at once" "$c"
for i in $w1 $w2 $w3; do cl_restart "$i" "$c"; done

# --- 2c. kill -9 of the coordinator and its standby at once: a cold
# takeover rebuilds from SDFS (the job checkpoint and the result parts) ---
cl_wait_converged $N 40 || bad "restarted nodes did not rejoin"
start_jobs "$(standby_of "$c")" || bad "jobs did not start"
sleep 3 # a result part in SDFS (they are put within 2 s)
sb=$(standby_of "$c")
kill -9 "${CL_PID[$c]}" "${CL_PID[$sb]}"
for i in $c $sb; do cl_kill "$i"; done
nc=$(wait_coord "$(alive_node "$c" "$sb")" "$c" "$sb") &&
  ok "coordinator $c and standby $sb killed at once: node $nc took over" ||
  bad "no takeover after killing $c and $sb"
finish "after killing the coordinator and its standby" "$nc"
line=$(log_line "$nc" 'cold recovery [a-z]*: [1-9][0-9]* jobs, [0-9]* results') &&
  ok "node $nc rebuilt from SDFS: $line" || bad "node $nc logged no cold recovery of the jobs"
for i in $c $sb; do cl_restart "$i" "$nc"; done
c=$nc

# --- 3. SIGSTOP of the coordinator past the failure timeout, then SIGCONT ---
cl_wait_converged $N 40 || bad "restarted nodes did not rejoin"
sb=$(standby_of "$c")
start_jobs "$sb" || bad "jobs did not start"
cl_stop "$c"
nc=$(wait_coord "$sb" "$c") && ok "coordinator $c stopped: node $nc took over" || bad "no takeover after SIGSTOP of $c"
cl_cont "$c"
for _ in $(seq 200); do [[ $(self_field "$c" role) != coordinator ]] && break; sleep 0.1; done
[[ $(self_field "$c" role) != coordinator && $(self_field "$c" coordinator_epoch) == $(self_field "$nc" coordinator_epoch) ]] &&
  ok "node $c resumed: it is a $(self_field "$c" role) of epoch $(self_field "$c" coordinator_epoch) ($(log_line "$c" 'coordinator: inactive\|dispatching stopped'))" ||
  bad "node $c after SIGCONT: $(cl_agent "$c" self | tr '\n' ' ')"
d1=$(cl_agent "$c" stats | awk '$1 == "coord_dispatched" { print $2 }')
finish "after SIGSTOP and SIGCONT of the coordinator" "$nc"
[[ $(cl_agent "$c" stats | awk '$1 == "coord_dispatched" { print $2 }') == "$d1" ]] &&
  ok "the resumed node dispatched nothing more" || bad "the resumed node dispatched again"
c=$nc

# --- 4. partition {coordinator + 3} | {6 others}, then heal ---
cl_wait_converged $N 40 || bad "not converged before the partition"
sb=$(standby_of "$c")
minority="$c"
for i in $(seq $N); do
  [[ $i == "$c" || $i == "$sb" ]] && continue
  (($(wc -w <<<"$minority") < 4)) && minority="$minority $i"
done
majority=$(for i in $(seq $N); do [[ " $minority " == *" $i "* ]] || echo "$i"; done | tr '\n' ' ')
start_jobs "$sb" || bad "jobs did not start"
cl_partition "$minority" "$majority" || bad "partition rules"
nc=$(wait_coord "$sb" "$c") && ok "partition {$minority} | {$majority}: node $nc coordinates the majority side" ||
  bad "no coordinator on the majority side"
for _ in $(seq 100); do grep -q "no majority alive" "$CL_DIR/node$c/agent.log" && break; sleep 0.1; done
grep -q "no majority alive" "$CL_DIR/node$c/agent.log" && ok "node $c, cut off: $(log_line "$c" 'no majority alive')" ||
  bad "node $c did not stop dispatching without a majority"
finish "during the partition" "$nc"
cl_heal
cl_wait_converged $N 60 || bad "not converged after the heal"
coords=0
for _ in $(seq 100); do
  coords=$(for i in $(cl_running); do self_field "$i" role; done | grep -c '^coordinator$')
  ((coords == 1)) && break
  sleep 0.2
done
((coords == 1)) && [[ $(self_field "$c" role) != coordinator ]] && ok "after the heal: one coordinator (node $nc), node $c a $(self_field "$c" role)" ||
  bad "after the heal: $coords coordinators"
results_once "$nc" && ok "after the heal: each image once in both jobs' results" ||
  bad "results after the heal"
c=$nc

# --- 5. leave on the coordinator ---
start_jobs "$(standby_of "$c")" || bad "jobs did not start"
sb=$(standby_of "$c")
cl_agent "$c" leave >/dev/null
nc=$(wait_coord "$sb" "$c") && [[ $nc == "$sb" ]] && ok "coordinator $c left: standby $nc took over ($(log_line "$nc" 'first dispatch'))" ||
  bad "no hand-over after leave: '$nc'"
finish "after the coordinator left" "$nc"

for i in $(cl_running); do
  e=$(cl_agent "$i" stats | awk '$1 == "coord_record_errors" { s += $2 } END { print s + 0 }')
  ((e == 0)) || bad "node $i: $e records refused"
done
checks_end
echo "all checks passed"
