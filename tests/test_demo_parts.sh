#!/usr/bin/env bash
# Description: the demo's other parts print clean output.  bench/demo-cluster
# (10 agents, three holders killed at once, a node killed and restarted)
# exits 0, prints no shell job-control noise ("line N: ... Killed"), names
# the killed nodes as "(nodes A B C)" without a stray space, and announces
# each restart with its rejoin; bench/demo-engine labels its timing (no
# bare real/user/sys block).
# Timeout: 200
set -u
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
out=$(mktemp -d /tmp/idunno-demo-parts-XXXXXX)
trap 'rm -rf "$out"' EXIT
noise='Killed|Terminated|line [0-9]+:'

IDUNNO_BIN=${IDUNNO_BIN:-bin} bash "$IDUNNO_ROOT/bench/demo-cluster" >"$out/cluster" 2>&1
rc=$?
((rc == 0)) && ok "bench/demo-cluster exits 0" || bad "demo-cluster exited $rc: $(tail -5 "$out/cluster")"
grep -qE "$noise" "$out/cluster" && bad "job-control noise: $(grep -E "$noise" "$out/cluster" | head -2)" ||
  ok "no job-control noise"
grep -qE '^== kill -9 three of its four holders at once \(nodes [0-9]+ [0-9]+ [0-9]+\)' "$out/cluster" &&
  ok "$(grep -o '(nodes [0-9 ]*)' "$out/cluster")" || bad "victims line: $(grep 'kill -9 three' "$out/cluster")"
grep -qE '^== nodes [0-9]+ [0-9]+ [0-9]+ restart and rejoin$' "$out/cluster" &&
  grep -qE '^10 agents alive again [0-9]+ ms after the restart$' "$out/cluster" &&
  grep -q '^== node 7 restarts and rejoins' "$out/cluster" && grep -qE '^127\.0\.0\.7:[0-9]+ +alive' "$out/cluster" &&
  ok "restarts announced: $(grep '^10 agents alive again' "$out/cluster")" || bad "restarts not announced: $(tail -12 "$out/cluster")"
pgrep -f "idunno-cluster-.*/node" >/dev/null && bad "agents left running" || ok "no agent left running"

if /usr/bin/python3 -c 'import PIL, numpy' 2>/dev/null; then
  IDUNNO_BIN=${IDUNNO_BIN:-bin} bash "$IDUNNO_ROOT/bench/demo-engine" >"$out/engine" 2>&1
  rc=$?
  ((rc == 0)) && ok "bench/demo-engine exits 0" || bad "demo-engine exited $rc: $(tail -5 "$out/engine")"
  if grep -qE '^(real|user|sys)[[:space:]]' "$out/engine"; then
    bad "a bare real/user/sys block"
  elif grep -qE '^   the command took [0-9.]+ s \(wall clock; ' "$out/engine"; then
    ok "timing labelled: $(grep 'the command took' "$out/engine" | sed 's/^ *//')"
  else
    bad "no labelled timing: $(head -12 "$out/engine")"
  fi
else
  echo "skip part: python3-pil/numpy not installed (no bench/demo-engine)"
fi
((fails == 0))
