#!/usr/bin/env bash
# Description: a captured frame is good for its one receiver only: a
# `leave` request sealed for node 1 makes node 1 leave, and replayed byte
# for byte to nodes 2 and 3 makes neither leave (counted as wrong_dest); a
# gossip datagram sealed for node 2 is taken by node 2 and refused by node
# 4 (wrong_dest); a
# request answered by node 4 before its kill -9, and a `leave` sealed for
# it then, are both refused by its restarted process (counted as
# before_boot), which stays a member.
# Timeout: 120
set -u
source "$IDUNNO_ROOT/tests/cluster.sh"
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
stat_of() { cl_agent "$1" stats | awk -v k="$2" '$1 == k { print $2 }'; }
peer() { /usr/bin/python3 "$IDUNNO_ROOT/tests/replay_peer.py" "$@"; }
host() { echo "127.0.0.$1"; }

cl_start 4
cl_wait_converged 4 20 && ok "4 agents joined" || bad "no convergence: $(cl_view 1 | tr '\n' ';')"

peer seal "$CL_KEY" leave "$(host 1)" "$CL_PORT" "$CL_DIR/leave1"
d2=$(stat_of 2 rejected_wrong_dest); d3=$(stat_of 3 rejected_wrong_dest)
[[ $(peer send "$(host 1)" "$CL_PORT" "$CL_DIR/leave1") == answered ]] &&
  ok "the leave sealed for node 1 is good: node 1 answered it" || bad "node 1 did not answer its leave"
for i in 2 3; do
  [[ $(peer send "$(host "$i")" "$CL_PORT" "$CL_DIR/leave1") == closed ]] &&
    ok "replayed to node $i: closed unanswered" || bad "node $i answered the replayed leave"
done
sleep 1
kill -0 "${CL_PID[1]}" 2>/dev/null && bad "node 1 did not leave" || ok "node 1 left"
for i in 2 3; do
  kill -0 "${CL_PID[$i]}" 2>/dev/null && ok "node $i still runs" || bad "node $i left on a replayed leave"
done
d2b=$(stat_of 2 rejected_wrong_dest); d3b=$(stat_of 3 rejected_wrong_dest)
((d2b > d2 && d3b > d3)) && ok "counted as wrong_dest (node 2: $d2 -> $d2b, node 3: $d3 -> $d3b)" ||
  bad "wrong_dest node 2: $d2 -> $d2b, node 3: $d3 -> $d3b"
[[ $(cl_status_of 2 3) == alive && $(cl_status_of 3 2) == alive ]] && ok "nodes 2 and 3 see each other alive" ||
  bad "after the replays: $(cl_view 2 | tr '\n' ';')"

peer seal "$CL_KEY" gossip "$(host 2)" "$CL_PORT" "$CL_DIR/gossip2"
g2=$(stat_of 2 rejected_wrong_dest); g4=$(stat_of 4 rejected_wrong_dest); r2=$(stat_of 2 rejected_bad_payload)
peer send-udp "$(host 2)" "$CL_PORT" "$CL_DIR/gossip2"
peer send-udp "$(host 4)" "$CL_PORT" "$CL_DIR/gossip2"
sleep 0.5
g2b=$(stat_of 2 rejected_wrong_dest); g4b=$(stat_of 4 rejected_wrong_dest); r2b=$(stat_of 2 rejected_bad_payload)
((g2b == g2 && r2b == r2 && g4b == g4 + 1)) && ok "a gossip datagram for node 2: taken by node 2, refused by node 4 (wrong_dest)" ||
  bad "gossip: node 2 wrong_dest $g2 -> $g2b, bad_payload $r2 -> $r2b; node 4 wrong_dest $g4 -> $g4b"

# node 4: a request it answered, and a leave sealed for it, then kill -9
peer seal "$CL_KEY" self "$(host 4)" "$CL_PORT" "$CL_DIR/self4"
peer seal "$CL_KEY" leave "$(host 4)" "$CL_PORT" "$CL_DIR/leave4"
[[ $(peer send "$(host 4)" "$CL_PORT" "$CL_DIR/self4") == answered ]] &&
  ok "node 4 answered a request" || bad "node 4 did not answer"
cl_kill 4
cl_start_node 4 2
deadline=$((SECONDS + 10))
until [[ $(cl_agent 4 self 2>/dev/null) ]] || ((SECONDS > deadline)); do sleep 0.1; done
for f in self4 leave4; do
  [[ $(peer send "$(host 4)" "$CL_PORT" "$CL_DIR/$f") == closed ]] &&
    ok "restarted node 4 refused the $f request sealed before its start" ||
    bad "restarted node 4 answered the $f request sealed before its start"
done
sleep 1
kill -0 "${CL_PID[4]}" 2>/dev/null && ok "restarted node 4 still runs" || bad "restarted node 4 left"
b=$(stat_of 4 rejected_before_boot)
((b >= 2)) && ok "counted as before_boot ($b)" || bad "before_boot $b"
((fails == 0)) || { echo "$fails check(s) failed"; exit 1; }
