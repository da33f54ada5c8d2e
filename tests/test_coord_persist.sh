#!/usr/bin/env bash
# Description: what the coordinator keeps in SDFS, on 5 real agents with
# engines: a job run to completion has its results in parts
# results/JOB/RRRRRRRRRRRR (`agent ls results/JOB/`) whose lines together
# hold each image once, `results JOB` (parts, then memory) holds each
# image once and as many as qinfo counts, and the checkpoint coord/jobs
# exists; `results` mid-run holds no query twice; a job is stopped; then
# the coordinator and its standby are killed with -9 at once mid-job: the
# lowest alive member takes over cold, rebuilds the jobs from SDFS (the
# same jobs and settings in `job ls`, the stopped one stopped), runs only
# what was not persisted, and the job ends with each image exactly once
# in `results` and qinfo's count equal to the dataset's size.
# Timeout: 500
set -u
source "$IDUNNO_ROOT/tests/cluster.sh"
source "$IDUNNO_ROOT/tests/cluster_jobs.sh"

for n in 40 400; do cj_images $n $n "$W/img$n"; done
cl_busy_config
cl_start 5
cl_wait_converged 5 20 && ok "5 agents with engines joined" || bad "no convergence"
"$CL_BIN/engine" weights --model alexnet --seed 2 --out "$W/alex.st" >/dev/null
cl_agent 1 model put alex "$W/alex.st" >/dev/null && cl_agent 1 dataset put d40 "$W/img40" >/dev/null &&
  cl_agent 1 dataset put d400 "$W/img400" >/dev/null && ok "model alex, datasets d40 and d400 put" ||
  bad "model or dataset put"
for _ in $(seq 50); do cl_agent 1 self | grep -q '^role coordinator' && break; sleep 0.1; done

wait_done() { # wait_done NODE JOB SECONDS
  local deadline=$((SECONDS + $3))
  while ((SECONDS < deadline)); do [[ $(job_field "$1" "$2" state 2>/dev/null) == done ]] && return 0; sleep 0.5; done
  return 1
}
# each_once FILE DIR: the JSON lines in FILE hold each image of DIR exactly once
each_once() {
  $PY - "$1" "$2" <<'PY'
import json, os, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
names = sorted(os.listdir(sys.argv[2]))
got = sorted(r.get("input", r.get("image")) for r in lines)
assert got == names, f"{len(got)} results, {len(set(got))} distinct, {len(names)} images"
for r in lines:
    assert r["status"] == 0 and len(r["top5"]) == 5 and all(t["name"] for t in r["top5"]), r
PY
}
queries() { cl_agent "$1" qinfo "$2" --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["queries"])'; }

# --- a job to completion: its parts, results, the checkpoint ---
j1=$(cl_agent 1 job launch alex --dataset d40 --batch 4)
[[ $j1 =~ ^[a-z0-9-]+$ ]] && ok "job $j1 launched" || bad "launch: '$j1'"
wait_done 1 "$j1" 150 && ok "job $j1 done" || bad "not done: $(cl_agent 1 job ls)"
parts=""
for _ in $(seq 60); do # a done job's results are flushed at once
  parts=$(cl_agent 2 ls "results/$j1/" 2>/dev/null | awk 'NR > 1 { print $NF }')
  : >"$W/parts.$j1"
  for p in $parts; do cl_agent 2 get "$p" - >>"$W/parts.$j1"; done
  [[ $(wc -l <"$W/parts.$j1") == 40 ]] && break
  sleep 0.5
done
[[ -n $parts ]] && [[ $(head -1 <<<"$parts") == "results/$j1/000000000001" ]] && each_once "$W/parts.$j1" "$W/img40" &&
  ok "$(wc -w <<<"$parts") part(s) in SDFS under results/$j1/, from rseq 1, holding each of the 40 images once" ||
  bad "parts: '$parts', $(wc -l <"$W/parts.$j1") lines"
$PY - "$W/parts.$j1" <<'PY' && ok "part lines: rseq 1..40 in order, query ids, workers, service times" || bad "part lines: $(head -2 "$W/parts.$j1")"
import json, sys
ls = [json.loads(l) for l in open(sys.argv[1])]
assert [l["rseq"] for l in ls] == list(range(1, 41)), [l["rseq"] for l in ls]
assert sorted(l["query"] for l in ls) == list(range(40))
assert all(l["worker"].startswith("127.0.0.") and l["service_ns"] > 0 and "client" not in l for l in ls), ls[0]
PY
cl_agent 3 results "$j1" --json >"$W/res.$j1" && each_once "$W/res.$j1" "$W/img40" &&
  [[ $(wc -l <"$W/res.$j1") == $(queries 1 "$j1") ]] &&
  ok "results $j1 (through node 3): each image once, as many as qinfo's $(queries 1 "$j1")" ||
  bad "results $j1: $(wc -l <"$W/res.$j1") lines, qinfo $(queries 1 "$j1")"
cl_agent 2 ls coord/ | awk '$NF == "coord/jobs"' | grep -q . && ok "checkpoint: $(cl_agent 2 ls coord/)" ||
  bad "no coord/jobs: $(cl_agent 2 ls coord/)"
st=$(cl_agent 1 stats)
[[ $(awk '$1 == "coord_results_put" { print $2 }' <<<"$st") -ge 40 ]] &&
  ok "stats: $(grep -E '^coord_(parts_put|results_put|checkpoints|persist_failures)' <<<"$st" | tr '\n' ' ')" ||
  bad "stats: $(grep coord_ <<<"$st" | tr '\n' ' ')"

# --- coordinator and standby killed together mid-job: a cold recovery ---
j2=$(cl_agent 1 job launch alex --dataset d400 --batch 1)
out=$(cl_agent 1 job batch "$j2" 2) && [[ $(job_field 1 "$j2" batch) == 2 ]] && ok "job $j2 launched, batch 2: $out" ||
  bad "job $j2: $out"
n=0
for _ in $(seq 400); do # until its first part is in SDFS
  cl_agent 2 ls "results/$j2/" 2>/dev/null | grep -q . && break
  sleep 0.1
done
n=$(queries 1 "$j2")
# mid-run, `results` joins the parts and the memory: each query at most once
cl_agent 4 results "$j2" --json >"$W/mid.$j2" && $PY - "$W/mid.$j2" "$n" <<'PY' && ok "results $j2 mid-run: $(wc -l <"$W/mid.$j2") results, no query twice" || bad "results $j2 mid-run: $(wc -l <"$W/mid.$j2") lines"
import json, sys
q = [json.loads(l)["query"] for l in open(sys.argv[1])]
assert len(q) == len(set(q)) and len(q) >= int(sys.argv[2]), (len(q), len(set(q)), sys.argv[2])
PY
j3=$(cl_agent 1 job launch alex --dataset d40 --batch 5) && out=$(cl_agent 1 job stop "$j3") &&
  ok "job $j3 launched and stopped: $out" || bad "job $j3: $j3 $out"
standby=$(cl_agent 1 self | awk '$1 == "standby" { print $2 }')
sb=${standby#127.0.0.}
sb=${sb%%:*}
before=$(cl_agent 1 job ls --json | $PY -c 'import json,sys; print(sorted((j["job"],j["model"],j["dataset"],j["batch"],j["images"]) for j in json.load(sys.stdin)))')
if [[ $sb =~ ^[2-5]$ ]]; then
  kill -9 "${CL_PID[1]}" "${CL_PID[$sb]}"
  wait "${CL_PID[1]}" "${CL_PID[$sb]}" 2>/dev/null
  ((n >= 1 && n < 400)) && ok "nodes 1 (coordinator) and $sb (its standby) killed with -9 at once after $n of 400 queries" ||
    bad "job $j2 not mid-run with a part persisted ($n queries) at the kill"
else
  bad "node 1 names no standby among nodes 2 to 5: '$standby'"
  sb=2
  kill -9 "${CL_PID[1]}" "${CL_PID[2]}"
  wait "${CL_PID[1]}" "${CL_PID[2]}" 2>/dev/null
fi
alive=() # the survivors
for i in 2 3 4 5; do ((i != sb)) && alive+=("$i"); done
q=${alive[2]} # the one the CLI asks
nc=""
for _ in $(seq 600); do
  for i in "${alive[@]}"; do cl_agent "$i" self 2>/dev/null | grep -q '^role coordinator' && nc=$i; done
  [[ -n $nc ]] && break
  sleep 0.1
done
[[ -n $nc ]] && ok "node $nc coordinates: $(cl_agent "$nc" self | grep -E '^(role|coordinator_epoch|standby)' | tr '\n' ' ')" ||
  bad "no takeover among nodes ${alive[*]}"
nc=${nc:-${alive[0]}}
for _ in $(seq 200); do grep -q "cold recovery done" "$CL_DIR/node$nc/agent.log" && break; sleep 0.2; done
line=$(grep -m1 "cold recovery done" "$CL_DIR/node$nc/agent.log") && ok "logged: ${line#*coordinator: }" ||
  bad "no recovery logged: $(grep 'cold' "$CL_DIR/node$nc/agent.log" | tail -3)"
r2=$(grep -m1 "cold recovery: job $j2 " "$CL_DIR/node$nc/agent.log" | sed -n 's/.*: \([0-9]*\) results,.*/\1/p')
[[ -n $r2 ]] && ((r2 >= 1)) && ok "job $j2: $r2 results recovered from its parts (not run again)" ||
  bad "job $j2: no results recovered: $(grep "cold recovery" "$CL_DIR/node$nc/agent.log")"
after=$(cl_agent "$q" job ls --json | $PY -c 'import json,sys; print(sorted((j["job"],j["model"],j["dataset"],j["batch"],j["images"]) for j in json.load(sys.stdin)))')
[[ $after == "$before" ]] && ok "the same jobs after the recovery: $after" || bad "jobs: before $before, after $after"
[[ $(job_field "$q" "$j1" state) == done && $(queries "$q" "$j1") == 40 ]] && ok "job $j1 is done with its 40 results" ||
  bad "job $j1 after the recovery: $(cl_agent "$q" job ls)"
[[ $(job_field "$q" "$j3" state) == stopped ]] && ok "job $j3 is stopped again" || bad "job $j3 after the recovery: $(cl_agent "$q" job ls)"
wait_done "$nc" "$j2" 240 && ok "job $j2 done on the new coordinator" || bad "not done: $(cl_agent "$nc" job ls)"
cl_agent "$q" results "$j2" --json >"$W/res.$j2" && each_once "$W/res.$j2" "$W/img400" &&
  [[ $(queries "$nc" "$j2") == 400 ]] &&
  ok "results $j2: each of the 400 images exactly once, qinfo 400" ||
  bad "results $j2: $(wc -l <"$W/res.$j2") lines, qinfo $(queries "$nc" "$j2")"
cl_agent "$q" results "$j1" --json >"$W/res2.$j1" && each_once "$W/res2.$j1" "$W/img40" &&
  ok "results $j1 after the recovery: each of the 40 images once" || bad "results $j1: $(wc -l <"$W/res2.$j1") lines"
st=$(cl_agent "$nc" stats)
[[ $(awk '$1 == "coord_record_errors" { print $2 }' <<<"$st") == 0 ]] && ok "no record refused on the new coordinator" ||
  bad "record errors: $(grep coord_ <<<"$st" | tr '\n' ' ')"

# figures for docs/tasks.md (printed, not checked): the parts' puts
cat "$CL_DIR"/node{1,"$nc"}/agent.log | sed -n 's/.*results \([0-9]*\)\.\.\([0-9]*\) in SDFS (\([0-9]*\) bytes) in \([0-9]*\) ms/\4 \1 \2 \3/p' |
  sort -n | awk '{ n++; r += $3 - $2 + 1; b += $4; t[n] = $1 }
    END { if (n) printf "info %d parts, %.0f results and %.0f bytes each on average, put in %d ms median, %d ms max\n", n, r / n, b / n, t[int((n + 1) / 2)], t[n] }'

checks_end
echo "all checks passed"
