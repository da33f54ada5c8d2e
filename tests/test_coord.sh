#!/usr/bin/env bash
# Description: the coordinator's first step on 5 real agents with engines
# (ResNet18 and AlexNet weights, a 24-image and a 96-image dataset in
# SDFS): two jobs launched (one through a non-coordinator, which sends the
# CLI to the coordinator) both complete; `job ls`, `qinfo [JOB]` and
# `assign` answer in text and in JSON of the documented shape, qinfo's
# counts equal the result lines; `results` holds each image of each job
# exactly once with its top-5 class names; a worker killed with -9 while a
# job runs: its queries run elsewhere and every image is still answered
# exactly once; an unknown model, dataset or job and a batch of 0 or 300
# are refused with the reason and change nothing; `job batch` and `job
# stop` answer; the coordinator killed mid-run: its hot standby takes over
# with epoch + 1 and the state it followed (the old jobs and results; the
# running job completes with each image once), and a new job runs.
# Timeout: 400
set -u
source "$IDUNNO_ROOT/tests/cluster.sh"
source "$IDUNNO_ROOT/tests/cluster_jobs.sh"

for n in 24 96; do cj_images $n $n "$W/img$n"; done
cl_busy_config
cl_start 5
cl_wait_converged 5 20 && ok "5 agents with engines joined" || bad "no convergence"
"$CL_BIN/engine" weights --model resnet18 --seed 1 --out "$W/r18.st" >/dev/null
"$CL_BIN/engine" weights --model alexnet --seed 2 --out "$W/alex.st" >/dev/null
cl_agent 1 model put r18 "$W/r18.st" >/dev/null && cl_agent 1 model put alex "$W/alex.st" >/dev/null &&
  cl_agent 1 dataset put d24 "$W/img24" >/dev/null && cl_agent 1 dataset put d96 "$W/img96" >/dev/null &&
  ok "models r18 and alex, datasets d24 and d96 put" || bad "model or dataset put"
for _ in $(seq 50); do cl_agent 1 self | grep -q '^role coordinator' && break; sleep 0.1; done
cl_agent 1 self | grep -q '^role coordinator' && ok "node 1 (the lowest address) is the coordinator" ||
  bad "node 1 is not the coordinator: $(cl_agent 1 self | tr '\n' ' ')"

# job_field I JOB FIELD: a field of job JOB in `job ls --json` asked of node I
wait_done_at() { # wait_done_at NODE JOB SECONDS
  local deadline=$((SECONDS + $3))
  while ((SECONDS < deadline)); do [[ $(job_field "$1" "$2" state 2>/dev/null) == done ]] && return 0; sleep 0.5; done
  return 1
}
wait_done() { wait_done_at 1 "$@"; }
# check_results JOB DIR: results --json has every image of DIR exactly once, top-5 named
check_results_at() { # check_results_at NODE JOB DIR
  cl_agent "$1" results "$2" --json >"$W/res.$2" &&
    check_results_file "$W/res.$2" "$3"
}
check_results() { check_results_at 2 "$@"; }
check_results_file() {
  $PY - "$1" "$2" <<'PY'
import json, os, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
names = sorted(os.listdir(sys.argv[2]))
q = sorted(r["query"] for r in lines)
assert q == list(range(len(names))), f"queries {q[:8]}... not each of 0..{len(names)-1} once"
assert sorted(r["image"] for r in lines) == names, "images not each once"
for r in lines:
    assert r["status"] == 0, r
    assert len(r["top5"]) == 5 and all(t["name"] and 0 <= t["prob"] <= 1 for t in r["top5"]), r
    assert r["top5"][0]["prob"] >= r["top5"][4]["prob"], r
PY
}

# --- two jobs over d24 ---
j1=$(cl_agent 1 job launch r18 --dataset d24 --batch 4)
j2=$(cl_agent 3 job launch alex --dataset d24 --batch 2 --weight 1)
[[ $j1 =~ ^[a-z0-9-]+$ && $j2 =~ ^[a-z0-9-]+$ && $j1 != "$j2" ]] &&
  ok "two jobs launched: $j1 (r18, batch 4) and $j2 (alex, through node 3, a non-coordinator)" ||
  bad "launch: '$j1' '$j2'"
wait_done "$j1" 120 && wait_done "$j2" 120 && ok "both jobs done" ||
  bad "jobs not done: $(cl_agent 1 job ls)"

out=$(cl_agent 4 job ls)
[[ $(head -1 <<<"$out") == JOB*MODEL*DATASET*STATE*COMPLETED* && $(grep -c " done " <<<"$out") == 2 ]] &&
  ok "job ls (text, through node 4): a header and 2 done jobs" || bad "job ls: $out"
cl_agent 2 job ls --json | $PY -c '
import json, sys
js = json.load(sys.stdin)
assert len(js) == 2
for j in js:
    assert set(j) >= {"job","model","model_version","dataset","index_version","images","batch","weight","loop","state","queued","inflight","completed","failed"}, j
    assert j["images"] == 24 and j["completed"] == 24 and j["failed"] == 0 and j["state"] == "done" and j["loop"] is False, j
' && ok "job ls --json: 2 jobs of 24 images, 24 completed each" || bad "job ls --json: $(cl_agent 2 job ls --json)"

out=$(cl_agent 5 qinfo)
[[ $(head -1 <<<"$out") == JOB*MODEL*RATE_10S*QUERIES && $(awk -v a="$j1" -v b="$j2" '($1 == a || $1 == b) && $4 == 24' <<<"$out" | wc -l) == 2 ]] &&
  ok "qinfo (text): 24 queries each" || bad "qinfo: $out"
cl_agent 1 qinfo --json | $PY -c '
import json, sys
js = json.load(sys.stdin)
assert len(js) == 2 and all(set(j) == {"job","model","rate_10s","queries"} and j["queries"] == 24 and j["rate_10s"] >= 0 for j in js), js
' && q1=$(cl_agent 1 qinfo "$j1" --json) && $PY -c 'import json,sys; j=json.loads(sys.argv[1]); assert j["job"] == sys.argv[2] and j["queries"] == 24' "$q1" "$j1" &&
  ok "qinfo --json and qinfo JOB --json: $q1" || bad "qinfo --json: $(cl_agent 1 qinfo --json)"

out=$(cl_agent 2 assign)
[[ $(head -1 <<<"$out") == WORKER*SLOTS*BUSY*BATCHES*JOB:SHARE && $(grep -c ":$CL_PORT " <<<"$out") == 5 ]] &&
  grep -q "$j1:" <<<"$out" && ok "assign (text): 5 workers, shares of $j1" || bad "assign: $out"
cl_agent 2 assign --json | $PY -c '
import json, sys
ws = json.load(sys.stdin)
assert len(ws) == 5, ws
for w in ws:
    assert set(w) == {"worker","slots","busy","batches","jobs"} and w["slots"] >= 1, w
    assert abs(sum(s["share"] for s in w["jobs"]) - 1) < 0.01 or not w["jobs"], w
assert sum(w["batches"] for w in ws) >= 6 + 12, ws
' && ok "assign --json: 5 workers, shares summing to 1" || bad "assign --json: $(cl_agent 2 assign --json)"

for j in "$j1" "$j2"; do
  check_results "$j" "$W/img24" && ok "results $j --json: each of the 24 images exactly once, top-5 named" ||
    bad "results $j: $(head -3 "$W/res.$j")"
done
out=$(cl_agent 3 results "$j1")
[[ $(wc -l <<<"$out") == 24 && $(grep -c "img-" <<<"$out") == 24 ]] && ok "results (text): 24 lines, e.g. $(head -1 <<<"$out")" ||
  bad "results text: $out"
cl_agent 3 results "$j2" "$W/local.txt" --json >/dev/null && [[ $(wc -l <"$W/local.txt") == 24 ]] &&
  ok "results JOB LOCAL: 24 lines written" || bad "results LOCAL: $(wc -l <"$W/local.txt")"

# --- a worker killed with -9 mid-run ---
j3=$(cl_agent 1 job launch r18 --dataset d96 --batch 2)
for _ in $(seq 200); do
  n=$(cl_agent 1 qinfo "$j3" --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["queries"])')
  ((n >= 8)) && break
  sleep 0.2
done
if ((n >= 8 && n < 96)); then
  cl_kill 3
  ok "node 3 killed with -9 after $n of 96 queries"
  wait_done "$j3" 180 && check_results "$j3" "$W/img96" &&
    ok "the job completed without node 3: each of the 96 images exactly once" ||
    bad "after the kill: $(cl_agent 1 job ls) $(head -3 "$W/res.$j3")"
  line=$(grep -m1 "worker 127.0.0.3:$CL_PORT removed" "$CL_DIR/node1/agent.log") &&
    ok "the coordinator: ${line#*coordinator: }" || bad "no removal logged"
else
  bad "job $j3 not mid-run ($n queries) when the kill was due"
fi

# --- refusals change nothing ---
before=$(cl_agent 1 job ls --json)
expect() { # expect NEEDLE CMD...: fails (exit 1) with NEEDLE on stderr
  local needle=$1 err
  shift
  err=$("$@" 2>&1 >/dev/null) && { bad "$* succeeded"; return; }
  [[ $err == *"$needle"* ]] && ok "refused: $err" || bad "$*: '$err' lacks '$needle'"
}
expect "model nosuch is not in SDFS" cl_agent 2 job launch nosuch --dataset d24
expect "dataset nods is not in SDFS" cl_agent 1 job launch r18 --dataset nods
expect "batch 0: a batch is 1..256" cl_agent 1 job launch r18 --dataset d24 --batch 0
expect "batch 300: a batch is 1..256" cl_agent 1 job launch r18 --dataset d24 --batch 300
expect "no job nosuch" cl_agent 1 job stop nosuch
expect "no job nosuch" cl_agent 2 results nosuch
expect "no job nosuch" cl_agent 1 qinfo nosuch
expect "batch 0: a batch is 1..256" cl_agent 1 job batch "$j2" 0
[[ $(cl_agent 1 job ls --json) == "$before" ]] && ok "the refusals changed nothing" || bad "job ls changed"

out=$(cl_agent 2 job batch "$j2" 8) && [[ $(job_field 1 "$j2" batch) == 8 ]] && ok "job batch: $out" || bad "job batch: $out"
out=$(cl_agent 2 job batch "$j2" 16 --json) && [[ $out == "{\"job\":\"$j2\",\"batch\":16}" ]] && ok "job batch --json: $out" || bad "job batch --json: $out"
out=$(cl_agent 2 job stop "$j1") && [[ $(job_field 1 "$j1" state) == stopped ]] && ok "job stop: $out" || bad "job stop: $out"

# --- the coordinator killed mid-run: the standby (node 2) takes over with
# the state it followed, epoch + 1: the old jobs are there, the running
# one completes with each image once, and a new job runs ---
ep=$(cl_agent 2 self | awk '$1 == "coordinator_epoch" { print $2 }')
j5=$(cl_agent 1 job launch alex --dataset d96 --batch 2)
for _ in $(seq 200); do
  n=$(cl_agent 1 qinfo "$j5" --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["queries"])')
  ((n >= 8)) && break
  sleep 0.2
done
st=$(cl_agent 1 stats)
cl_kill 1
for _ in $(seq 300); do cl_agent 2 self | grep -q '^role coordinator' && break; sleep 0.1; done
ep2=$(cl_agent 2 self | awk '$1 == "coordinator_epoch" { print $2 }')
[[ $ep2 == $((ep + 1)) ]] && ok "node 1 killed after $n of 96 queries of $j5: node 2 coordinates, epoch $ep -> $ep2" ||
  bad "no takeover: $(cl_agent 2 self | tr '\n' ' ')"
line=$(grep -m1 "takeover with the standby's state" "$CL_DIR/node2/agent.log") &&
  ok "node 2: ${line#*coordinator: }" || bad "node 2 did not take over with the standby's state"
[[ $(job_field 2 "$j1" state) == stopped && $(job_field 2 "$j2" completed) == 24 && $(job_field 2 "$j3" completed) == 96 ]] &&
  ok "the old jobs are there: $j1 stopped, $j2 and $j3 complete" || bad "jobs after the takeover: $(cl_agent 2 job ls 2>&1)"
check_results_at 4 "$j2" "$W/img24" && ok "results of $j2 after the takeover: each of the 24 images once" ||
  bad "results of $j2 after the takeover: $(head -3 "$W/res.$j2")"
wait_done_at 2 "$j5" 180 && check_results_at 5 "$j5" "$W/img96" &&
  ok "$j5, running when node 1 died, completed: each of the 96 images exactly once" ||
  bad "$j5 after the takeover: $(cl_agent 2 job ls 2>&1) $(head -3 "$W/res.$j5")"
j4=$(cl_agent 4 job launch alex --dataset d24 --batch 3) && wait_done_at 2 "$j4" 120 &&
  check_results_at 4 "$j4" "$W/img24" && ok "a job launched through node 4 after the takeover: each of the 24 images once" ||
  bad "after the takeover: $(cl_agent 2 job ls 2>&1)"

[[ $(awk '$1 == "coord_record_errors" { print $2 }' <<<"$st") == 0 ]] &&
  ok "no record refused by coord_state_apply ($(awk '$1 == "coord_records" || $1 == "coord_dispatched" { printf "%s %s ", $1, $2 }' <<<"$st"))" ||
  bad "record errors: $(grep coord_ <<<"$st" | tr '\n' ' ')"

checks_end
echo "all checks passed"
