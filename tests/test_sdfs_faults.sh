#!/usr/bin/env bash
# Description: SDFS through failures on 10 real agents.  50 files (0 B to
# 3 MB) at 4 replicas; kill -9 three nodes at once, three of the four that
# hold one file: every file is at once readable with its sha256, a put
# made right after the kill lands on 4 live nodes, and within 30 s every
# file is back at 4 replicas on the survivors.  Then the three restart
# (with their old stores): within 30 s every file is on exactly its 4
# ranked nodes again, extra copies dropped.
# Timeout: 240
set -u
source "$IDUNNO_ROOT/tests/cluster.sh"
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
sha() { sha256sum "$1" | cut -d' ' -f1; }
W=$CL_DIR/work
mkdir -p "$W"
N=50

cl_start 10
cl_wait_converged 10 20 && ok "10 agents joined" || bad "no convergence"
for ((f = 0; f < N; f++)); do
  head -c $((f * f * 1237)) /dev/urandom >"$W/f$f"
  cl_agent $((f % 10 + 1)) put "$W/f$f" "data/f$f" >/dev/null 2>"$W/err" || bad "put f$f: $(cat "$W/err")"
done
short=0
for ((f = 0; f < N; f++)); do [[ $(cl_holders "data/f$f" | wc -l) == 4 ]] || short=$((short + 1)); done
((short == 0)) && ok "$N files, 4 replicas each" || bad "$short files without 4 replicas"

# kill three of the four holders of f7 (never node 1, which the client uses)
victims=$(cl_holders data/f7 | grep -v '^1$' | head -3 | tr '\n' ' ')
t0=$(date +%s.%N)
for v in $victims; do kill -9 "${CL_PID[$v]}"; done
for v in $victims; do wait "${CL_PID[$v]}" 2>/dev/null; done
unread=0
for ((f = 0; f < N; f++)); do
  rm -f "$W/back"
  if ! cl_agent 1 get --force "data/f$f" "$W/back" >/dev/null 2>"$W/err" || [[ $(sha "$W/back") != "$(sha "$W/f$f")" ]]; then
    unread=$((unread + 1))
    echo "  f$f: $(cat "$W/err")"
  fi
done
t1=$(date +%s.%N)
((unread == 0)) && ok "killed nodes $victims; all $N files read back at once, sha256 equal ($(awk -v a="$t0" -v b="$t1" "BEGIN { printf \"%.2f\", b - a }") s for all)" ||
  bad "$unread files unreadable right after the kill"

head -c 2000000 /dev/urandom >"$W/late"
cl_agent 1 put "$W/late" data/late >"$W/lateput" 2>&1 || bad "put after the kill: $(cat "$W/lateput")"
late_on=$(cl_holders data/late | wc -l)
((late_on == 4)) && ok "a put right after the kill: 4 replicas on live nodes" || bad "the late put is on $late_on live nodes"

deadline=$((SECONDS + 30))
while ((SECONDS < deadline)); do
  short=0
  for ((f = 0; f < N; f++)); do [[ $(cl_holders "data/f$f" | wc -l) -ge 4 ]] || short=$((short + 1)); done
  ((short == 0)) && break
  sleep 0.5
done
t2=$(date +%s.%N)
((short == 0)) && ok "every file back at 4 replicas on the 7 survivors, $(awk -v a="$t0" -v b="$t2" "BEGIN { printf \"%.2f\", b - a }") s after the kill" ||
  bad "$short files still short of 4 replicas after 30 s"
for ((f = 0; f < N; f++)); do
  for i in $(cl_holders "data/f$f"); do
    file=$(ls "$(cl_store_dir "$i")/$(cl_hex "data/f$f")".* | tail -1)
    cmp -s <(head -c "$(stat -c %s "$W/f$f")" "$file") "$W/f$f" || bad "f$f's replica on node $i differs"
  done
done

# the three come back, with their old stores
for v in $victims; do cl_start_node "$v" 1; done
cl_wait_converged 10 20 || bad "no convergence after the restart"
deadline=$((SECONDS + 30))
while ((SECONDS < deadline)); do
  off=0
  for ((f = 0; f < N; f++)); do [[ $(cl_holders "data/f$f" | wc -l) == 4 ]] || off=$((off + 1)); done
  ((off == 0)) && break
  sleep 0.5
done
((off == 0)) && ok "after the restart every file is on exactly 4 nodes again (extra copies dropped)" ||
  bad "$off files not on exactly 4 nodes 30 s after the restart"
cl_agent 1 get --force data/f7 "$W/back" >/dev/null && [[ $(sha "$W/back") == "$(sha "$W/f7")" ]] || bad "f7 after the restart"
[[ $(cl_running | wc -l) == 10 ]] || bad "an agent died"
ls "$CL_DIR"/node*/sdfs/.tmp-* 2>/dev/null && bad "temporary files left behind"
exit $((fails > 0))
