#!/usr/bin/env bash
# Description: Ctrl-C on `make demo` (bench/demo-jobs): SIGINT to the
# demo's whole process group, as a terminal sends it, once job 1 runs and
# qgen drives job 2 (whose AlexNet the engines are loading).  The demo
# says it is cleaning up and exits 130 within 30 s, and leaves nothing
# behind: no agent, engine or qgen of its cluster (they all name its
# port), no engine ring in /dev/shm, no cluster folder.
# Timeout: 300
set -u
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
/usr/bin/python3 -c 'import PIL, numpy' 2>/dev/null || { echo "skip: python3-pil/numpy not installed"; exit 77; }
out=$(mktemp -d /tmp/idunno-demo-int-XXXXXX)
pgid=
cleanup() {
  [[ -n $pgid ]] && kill -9 -- "-$pgid" 2>/dev/null
  rm -rf "$out"
}
trap cleanup EXIT
# Job control on (set -m) while it starts: the demo gets a process group of
# its own, whose id is its PID, as a shell gives a foreground job, and
# SIGINT is not ignored in it (a script's background jobs have SIGINT
# ignored otherwise, and bash could not trap it).
set -m
DEMO_SECONDS=45 DEMO_OUT=$out/plots IDUNNO_BIN=${IDUNNO_BIN:-bin} \
  bash "$IDUNNO_ROOT/bench/demo-jobs" >"$out/log" 2>&1 &
demo=$! pgid=$!
set +m

# until job 2 is launched and qgen drives it, then 3 s more: job 1 runs,
# and the engines are loading AlexNet (the demo waits for its first answer)
deadline=$((SECONDS + 200))
until grep -q "== job 2:" "$out/log" || ((SECONDS >= deadline)) || ! kill -0 "$demo" 2>/dev/null; do
  sleep 0.2
done
port=$(awk '/agents alive, port/ { print $NF }' "$out/log")
grep -q "== job 2:" "$out/log" || bad "job 2 never launched: $(tail -3 "$out/log")"
sleep 3
pgrep -f -- "qgen.*127\.0\.0\.[0-9]+:$port" >/dev/null && ok "qgen runs against job 2" || bad "no qgen running"
# the cluster folder: node 1's data folder's parent
cldir=$(pgrep -af "agent.*127\.0\.0\.1:$port " | grep -o -- "--data-dir [^ ]*" | head -1 | cut -d' ' -f2)
cldir=${cldir%/node1}
kill -INT -- "-$pgid"
deadline=$((SECONDS + 30))
while kill -0 "$demo" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
if kill -0 "$demo" 2>/dev/null; then
  bad "the demo still runs 30 s after Ctrl-C"
else
  wait "$demo"
  rc=$?
  ((rc == 130)) && ok "the demo exited 130 after Ctrl-C" || bad "the demo exited $rc after Ctrl-C"
fi
pgid=
grep -q "demo: interrupted; cleaning up" "$out/log" && ok "it said it was cleaning up" ||
  bad "no word of the interruption: $(tail -3 "$out/log")"
sleep 1
left=$(pgrep -af -- "$port" | grep -v pgrep)
[[ -n $port && -z $left ]] && ok "no agent, engine or qgen of its cluster (port $port) left" ||
  bad "left running for port '$port': $(echo "$left" | head -3)"
rings=$(ls /dev/shm | grep -c -- "-$port\$")
((rings == 0)) && ok "no engine ring left in /dev/shm" || bad "$rings engine rings left in /dev/shm"
[[ -n $cldir && ! -e $cldir ]] && ok "its cluster folder is gone" || bad "cluster folder '$cldir' left (or not found)"
((fails == 0)) || { echo "$fails check(s) failed"; exit 1; }
echo "all checks passed"
