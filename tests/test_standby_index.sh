#!/usr/bin/env bash
# Description: the hot standby holds each running job's dataset index, so
# that a takeover needs no SDFS read to feed the jobs again (a partition
# can leave every replica of the index out of reach: CI once saw the
# majority side's jobs wait, nothing queued or in flight, until the heal).
# On 5 real agents with engines: a looped ResNet18 job; the standby logs
# the index held; then every replica of the index is corrupted on disk
# (SDFS can serve it from nowhere) and the coordinator killed with -9: the
# standby takes over, feeds the job from the index it holds (logged), and
# the job goes on answering queries.
# Timeout: 300
set -u
source "$IDUNNO_ROOT/tests/cluster.sh"
source "$IDUNNO_ROOT/tests/cluster_jobs.sh"

cj_images 16 3 "$W/img"
cl_busy_config
cl_start 5
cl_wait_converged 5 20 && ok "5 agents with engines joined" || bad "no convergence"
"$CL_BIN/engine" weights --model resnet18 --seed 1 --out "$W/r18.st" >/dev/null
cl_agent 1 model put r18 "$W/r18.st" >/dev/null && cl_agent 1 dataset put d "$W/img" >/dev/null &&
  ok "model r18 and a 16-image dataset d put" || bad "model or dataset put"

completed() { job_field "$1" "$2" completed 2>/dev/null; }
# wait_completed NODE JOB N SECONDS: until the job has N queries answered
wait_completed() {
  local deadline=$((SECONDS + $4)) n
  while ((SECONDS < deadline)); do
    n=$(completed "$1" "$2")
    ((${n:-0} >= $3)) && return 0
    sleep 0.2
  done
  return 1
}

c=
for _ in $(seq 100); do
  c=$(node_of "$(self_field 1 coordinator)")
  [[ -n $c && $c != none && $(self_field "$c" role) == coordinator ]] && break
  sleep 0.1
done
J=$(cl_agent "$c" job launch r18 --dataset d --batch 1 --loop) && ok "job $J launched (looped) on coordinator $c" || bad "launch"
# every worker ran some of it (and so holds the index in its cache)
wait_completed "$c" "$J" 80 60 && ok "80 queries answered" || bad "the job did not run: $(completed "$c" "$J")"
sb=$(node_of "$(self_field "$c" standby)")
for _ in $(seq 100); do grep -q "index of d@[0-9]* held for a takeover" "$CL_DIR/node$sb/agent.log" && break; sleep 0.1; done
line=$(grep -h "index of d@[0-9]* held for a takeover" "$CL_DIR/node$sb/agent.log" | tail -1)
[[ -n $line ]] && ok "standby $sb: ${line#*coordinator: }" || bad "standby $sb logged no index held"

# every replica of the index corrupted: SDFS can serve it from nowhere
n=0
for i in $(cl_holders datasets/d/index); do
  for f in "$(cl_store_dir "$i")"/"$(cl_hex datasets/d/index)".*; do
    printf '\xff\xff\xff\xff' | dd of="$f" bs=1 seek=40 conv=notrunc status=none && n=$((n + 1))
  done
done
((n >= 4)) && ok "$n replicas of datasets/d/index corrupted" || bad "only $n replicas corrupted"
! cl_agent "$sb" get --force datasets/d/index "$W/ix" >/dev/null 2>&1 &&
  ok "SDFS serves the index from nowhere" || bad "the index is still served"

before=$(completed "$c" "$J")
cl_kill "$c"
nc=
for _ in $(seq 300); do
  nc=$(node_of "$(self_field "$sb" coordinator)")
  [[ -n $nc && $nc != "$c" && $(self_field "$nc" role) == coordinator ]] && break
  nc=
  sleep 0.1
done
[[ $nc == "$sb" ]] && ok "coordinator $c killed: standby $sb took over" || bad "takeover: '$nc'"
held=$(grep -h "job $J: index of d@[0-9]* held by the standby" "$CL_DIR/node$sb/agent.log" | tail -1)
[[ -n $held ]] && ok "node $sb: ${held#*coordinator: }" || bad "node $sb did not use the index it held: $(grep -h "job $J" "$CL_DIR/node$sb/agent.log" | tail -3)"
wait_completed "$sb" "$J" $((${before:-0} + 48)) 90 &&
  ok "the job goes on after the takeover: $(completed "$sb" "$J") answered (from $before)" ||
  bad "the job stalled after the takeover: $(completed "$sb" "$J") answered (from $before)"
cl_agent "$sb" job stop "$J" >/dev/null 2>&1
checks_end
echo "all checks passed"
