#!/usr/bin/env bash
# Description: a shortened `make demo` (bench/demo-jobs with DEMO_SECONDS=
# 45): 10 agents with engines, two jobs, qgen driving one of them, a worker
# and then the coordinator killed; it exits 0 (qgen's ledger: 0 lost, 0
# duplicated, checked against the job's results), prints the rate table
# (some 10 s window before the kills has both jobs' rates within 10 %)
# with the coordinator changing after the kill, qinfo and assign, writes a
# valid PNG plot, prints no shell job-control noise, and leaves no agent
# running.
# Timeout: 400
set -u
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
/usr/bin/python3 -c 'import PIL, numpy' 2>/dev/null || { echo "skip: python3-pil/numpy not installed"; exit 77; }
command -v gnuplot >/dev/null || { echo "skip: gnuplot not installed (make deps)"; exit 77; }
out=$(mktemp -d /tmp/idunno-demo-XXXXXX)
trap 'rm -rf "$out"' EXIT
DEMO_SECONDS=45 DEMO_OUT=$out/plots IDUNNO_BIN=${IDUNNO_BIN:-bin} bash "$IDUNNO_ROOT/bench/demo-jobs" >"$out/log" 2>&1
rc=$?
((rc == 0)) && ok "the demo exits 0" || bad "the demo exited $rc: $(tail -5 "$out/log")"
grep -q "lost 0, duplicated 0" "$out/log" && grep -q "^verdict: 0 lost, 0 duplicated" "$out/log" &&
  ok "$(grep -m1 '^ledger:' "$out/log")" || bad "no clean ledger verdict"
grep -q -- "-- worker node [0-9]* killed with -9" "$out/log" && grep -q -- "-- coordinator node [0-9]* killed with -9" "$out/log" &&
  ok "a worker and then the coordinator killed" || bad "the kills are not in the output"
# both jobs at fair rates: some 10 s window (a table row) before the kill within 10 %
best=$(awk '/-- worker node/ { exit } /^ +[0-9]+ s / && $7 != "inf" { print $7 }' "$out/log" | sort -n | head -1)
awk -v b="${best:-99}" 'BEGIN { exit !(b <= 1.10) }' && ok "fair rates before the kill: max/min $best over a 10 s window" ||
  bad "no 10 s window before the kill with the rates within 10 %: $(awk '/^ +[0-9]+ s /' "$out/log" | head -3)"
coords=$(awk '/^ +[0-9]+ s / { print $NF }' "$out/log" | sort -u | wc -l)
((coords >= 2)) && ok "the table names $coords coordinators over the run" || bad "the coordinator never changed in the table"
grep -q "takeover with the standby's state" "$out/log" && ok "$(grep -m1 "takeover with" "$out/log")" || bad "no hot takeover shown"
grep -q "^JOB .*RATE_10S" "$out/log" && grep -q "^WORKER .*JOB:SHARE" "$out/log" && ok "qinfo and assign printed" ||
  bad "qinfo or assign missing"
[[ $(head -c 8 "$out/plots/rates.png" 2>/dev/null | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] &&
  (($(stat -c %s "$out/plots/rates.png") > 5000)) && ok "demo-out/rates.png is a PNG of $(stat -c %s "$out/plots/rates.png") bytes" ||
  bad "no valid PNG: $(grep plot: "$out/log")"
grep -qE "Killed|Terminated|line [0-9]+:" "$out/log" && bad "job-control noise: $(grep -E 'Killed|Terminated|line [0-9]+:' "$out/log" | head -2)" ||
  ok "no job-control noise"
sleep 1
pgrep -f "idunno-cluster-.*node" >/dev/null && bad "agents left running: $(pgrep -af 'idunno-cluster-.*node' | head -2)" || ok "nothing left running"
((fails == 0)) || { echo "$fails check(s) failed"; exit 1; }
echo "all checks passed"
