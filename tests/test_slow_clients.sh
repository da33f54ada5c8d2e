#!/usr/bin/env bash
# Description: slow clients cannot hold an agent's TCP slots: while 64
# connections that send nothing (from 127.0.0.200) and 64 that send one
# byte every 4 s (from 127.0.0.201) press on node 2 for 16 s, reopened as
# soon as they are closed, `agent self` and an SDFS put through node 2 keep
# succeeding; no more than 32 per address wait at once (the rest are told
# "busy"), every accepted one is closed by the agent's first-frame
# deadline, and the counters show both.  Then 40 silent connections from
# 127.0.0.2 itself (where the CLI speaks from on loopback): `agent self`
# is refused with "the agent is busy", and answered again once the agent
# has closed them.
# Timeout: 120
set -u
source "$IDUNNO_ROOT/tests/cluster.sh"
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
stat_of() { cl_agent "$1" stats | awk -v k="$2" '$1 == k { print $2 }'; }

cl_start 4
cl_wait_converged 4 20 && ok "4 agents joined" || bad "no convergence: $(cl_view 1 | tr '\n' ';')"
W=$CL_DIR/work; mkdir -p "$W"
head -c 300000 /dev/urandom >"$W/f"

t0=$(stat_of 2 tcp_first_frame_timeouts); ip0=$(stat_of 2 tcp_busy_ip)
/usr/bin/python3 "$IDUNNO_ROOT/tests/slow_peer.py" 127.0.0.2 "$CL_PORT" 127.0.0.200 127.0.0.201 64 16 \
  >"$W/attack" 2>&1 &
attacker=$!
sleep 1
calls=0 failed=0 puts=0 putfail=0 peak=0
while kill -0 "$attacker" 2>/dev/null && ((calls < 200)); do
  calls=$((calls + 1))
  out=$(cl_agent 2 self 2>&1) || { failed=$((failed + 1)); echo "self failed: $out"; }
  if ((calls % 4 == 0)); then
    puts=$((puts + 1))
    out=$(cl_agent 2 put "$W/f" "slow/f$calls" 2>&1) || { putfail=$((putfail + 1)); echo "put failed: $out"; }
    u=$(stat_of 2 tcp_open_unauth); ((u > peak)) && peak=$u
  fi
  sleep 0.5
done
wait "$attacker"
cat "$W/attack"
((calls >= 10 && failed == 0)) && ok "agent self during the attack: $calls calls, all answered" ||
  bad "agent self: $failed of $calls failed"
((puts >= 3 && putfail == 0)) && ok "SDFS put through node 2 during the attack: $puts, all succeeded" ||
  bad "put: $putfail of $puts failed"
((peak <= 2 * 32)) && ok "at most 32 waiting per address (peak $peak from the two)" || bad "peak waiting $peak"
busy=$(awk '$1 == "busy" { print $2 }' "$W/attack"); closed=$(awk '$1 == "closed" { print $2 }' "$W/attack")
unclosed=$(awk '$1 == "unclosed" { print $2 }' "$W/attack")
((busy > 0)) && ok "the connections over the per-address limit were told busy ($busy)" || bad "none told busy"
((closed >= 64 && unclosed == 0)) && ok "every accepted one was closed by the agent ($closed), none held" ||
  bad "closed by the agent $closed, still held after 12 s $unclosed"
t1=$(stat_of 2 tcp_first_frame_timeouts); ip1=$(stat_of 2 tcp_busy_ip)
((t1 - t0 >= closed * 9 / 10 && ip1 - ip0 >= busy * 9 / 10)) &&
  ok "counted: $((t1 - t0)) first-frame timeouts, $((ip1 - ip0)) refused per address" ||
  bad "counters: first-frame timeouts $t0 -> $t1 (closed $closed), busy_ip $ip0 -> $ip1 (busy $busy)"
/usr/bin/python3 "$IDUNNO_ROOT/tests/slow_peer.py" 127.0.0.2 "$CL_PORT" 127.0.0.2 127.0.0.2 20 3 \
  >"$W/attack2" 2>&1 &
attacker=$!
sleep 1
out=$(cl_agent 2 self 2>&1) && bad "agent self answered with 32 waiting from its address" ||
  { grep -q "the agent is busy" <<<"$out" && ok "over the per-address limit the CLI says: $out" || bad "refused with: $out"; }
wait "$attacker"
out=$(cl_agent 2 self 2>&1) && ok "answered again once they were closed" || bad "after the attack: $out"
((fails == 0)) || { echo "$fails check(s) failed"; exit 1; }
