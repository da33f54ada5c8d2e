#!/usr/bin/env bash
# Description: 10 real agents on 127.0.0.1-10: all join and see 10; kill -9
# one and every survivor marks it failed while no other node changes
# state; SIGSTOP one for 150 ms (timed: under the 300 ms minimum suspicion
# timeout) and it is not declared dead; a node that leaves is "left", never
# "failed"; a restarted node rejoins with a higher incarnation; a node with
# the wrong key cannot join (its frames are counted as bad tags); random,
# truncated and oversized datagrams and TCP frames from a rogue sender are
# counted and dropped while the cluster keeps working.
# Timeout: 240
set -u
source "$IDUNNO_ROOT/tests/cluster.sh"
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
changes() { grep -h -- ' -> ' "$CL_DIR"/node*/agent.log 2>/dev/null; }
stat_of() { cl_agent "$1" stats | awk -v k="$2" '$1 == k { print $2 }'; }

cl_start 10
cl_wait_converged 10 20 && ok "10 agents joined; each sees 10 alive" || bad "no convergence: $(cl_view 1 | tr '\n' ';')"

before=$(changes | wc -l)
t0=$(date +%s%N)
cl_kill 3
deadline=$((SECONDS + 10))
while ((SECONDS < deadline)); do
  n=0; for i in 1 2 4 5 6 7 8 9 10; do [[ $(cl_status_of "$i" 3) == failed ]] && n=$((n + 1)); done
  ((n == 9)) && break
  sleep 0.05
done
ms=$((($(date +%s%N) - t0) / 1000000))
((n == 9)) && ok "kill -9 node 3: all 9 survivors mark it failed (${ms} ms)" || bad "only $n of 9 mark node 3 failed"
other=$(changes | tail -n +$((before + 1)) | grep -v "member $(cl_addr 3) " || true)
[[ -z $other ]] && ok "no other node changed state" || bad "other changes: $other"

# The stop must stay under the 300 ms minimum suspicion timeout; on a busy
# machine "sleep 0.15; kill -CONT" can take longer, so the stop is timed and
# only an attempt that really lasted under 250 ms is judged.
for attempt in 1 2 3; do
  f0=$(changes | grep -c "member $(cl_addr 4) .*-> failed")
  t0=$(date +%s%N); cl_stop 4; sleep 0.15; cl_cont 4; t1=$(date +%s%N)
  stopped=$(((t1 - t0) / 1000000))
  sleep 3
  f1=$(changes | grep -c "member $(cl_addr 4) .*-> failed")
  ((stopped < 250)) && break
  echo "note: the stop lasted ${stopped} ms (machine busy), not a fair test; again"
done
if ((stopped >= 250)); then bad "could not stop node 4 for less than 250 ms in 3 attempts"
elif ((f1 > f0)); then
  bad "node 4 declared failed after a ${stopped} ms stop ($(date -u -d @$((t0 / 1000000000)) +%T).$(printf %03d $((t0 / 1000000 % 1000))) to +${stopped} ms)"
  # what each node logged from 0.5 s before the stop to 1.5 s after it (about
  # node 4 or anything else: a loop held up, a repair), to tell a slow
  # refutation from a slow suspicion
  cl_log_between "$(date -u -d @$((t0 / 1000000000 - 1)) +%FT%T)" \
    "$(date -u -d @$((t0 / 1000000000 + 2)) +%FT%T)" | tail -80
else ok "SIGSTOP ${stopped} ms: node 4 not declared failed ($(changes | grep -c "member $(cl_addr 4) alive -> suspect") suspicions, refuted)"; fi
cl_wait_converged 9 10 || bad "no convergence after the stops: $(cl_view 1 | tr "\n" ";")"

[[ $(cl_agent 5 leave) == leaving ]] || bad "leave did not answer"
deadline=$((SECONDS + 10))
while ((SECONDS < deadline)); do
  n=0; for i in 1 2 4 6 7 8 9 10; do [[ $(cl_status_of "$i" 5) == left ]] && n=$((n + 1)); done
  ((n == 8)) && break; sleep 0.1
done
((n == 8)) && ok "leave: all 8 others mark node 5 left" || bad "only $n mark node 5 left"
changes | grep -q "member $(cl_addr 5) .*-> failed" && bad "node 5 was called failed" || ok "node 5 never called failed"
sleep 0.5
kill -0 "${CL_PID[5]}" 2>/dev/null && bad "node 5 still running after leave" || ok "node 5 exited after leaving"

inc_before=$(cl_view 1 | awk -v a="$(cl_addr 3)" '$1 == a { print $3 }')
cl_start_node 3 1
cl_wait_converged 9 15 && ok "restart: node 3 rejoined; every node sees 9 alive" || bad "after restart: $(cl_view 1 | tr '\n' ';')"
inc_after=$(cl_view 1 | awk -v a="$(cl_addr 3)" '$1 == a { print $3 }')
((inc_after > inc_before)) && ok "node 3 is a new incarnation ($inc_before -> $inc_after)" || bad "incarnation $inc_before -> $inc_after"

"$CL_BIN/agent" keygen "$CL_DIR/other.key" >/dev/null
mkdir -p "$CL_DIR/node11"
"$CL_BIN/agent" run --bind "$(cl_addr 11)" --join "$(cl_addr 1)" --data-dir "$CL_DIR/node11" \
  --key-file "$CL_DIR/other.key" --no-engine >"$CL_DIR/node11/stdout" 2>&1 &
CL_PID[11]=$!
tags0=$(stat_of 1 rejected_bad_tag)
sleep 3
[[ -z $(cl_status_of 1 11) ]] && ok "wrong key: node 11 is not a member" || bad "node 11 got in: $(cl_status_of 1 11)"
tags1=$(stat_of 1 rejected_bad_tag)
((tags1 > tags0)) && ok "its join attempts were counted as bad tags ($((tags1 - tags0)))" || bad "bad tags $tags0 -> $tags1"
[[ $("$CL_BIN/agent" members --agent "$(cl_addr 11)" --key-file "$CL_DIR/other.key" | awk 'NR>1' | wc -l) == 1 ]] &&
  ok "node 11 sees only itself" || bad "node 11 learned members"
kill -9 "${CL_PID[11]}"; wait "${CL_PID[11]}" 2>/dev/null; unset 'CL_PID[11]'

sum_rejected() { cl_agent 1 stats | awk '/^rejected_/ { s += $2 } END { print s }'; }
r0=$(sum_rejected)
out=$(/usr/bin/python3 "$IDUNNO_ROOT/tests/rogue.py" 127.0.0.1 "$CL_PORT")
sleep 0.5
r1=$(sum_rejected)
udp=$(awk '$1 == "udp" { print $2 }' <<<"$out"); tcp=$(awk '$1 == "tcp" { print $2 }' <<<"$out")
(((r1 - r0) == udp + tcp)) && ok "rogue input: $udp datagrams and $tcp TCP frames, all $((r1 - r0)) counted and dropped" ||
  bad "rogue input: sent $udp + $tcp, counted $((r1 - r0)): $(cl_agent 1 stats | grep rejected | tr '\n' ' ')"
kill -0 "${CL_PID[1]}" && cl_wait_converged 9 10 && ok "the cluster keeps working (9 alive everywhere)" || bad "cluster broken after rogue input"
((fails == 0)) || { echo "$fails check(s) failed"; CL_KEEP=${CL_KEEP:-}; exit 1; }
