#!/usr/bin/env bash
# Description: a put that lands on fewer replicas than configured says so,
# and SDFS adds the missing copies when members return.  4 agents
# (replicas 4): a put on all 4 says nothing more (--json: replicas_wanted
# 4, under_replicated false); node 4 killed and declared failed: a put is
# on 3 (the live members), a warning names the counts on stderr, --json
# says under_replicated true, ls shows 3 replicas; node 4 restarted: both
# files are on 4 members again and fsck exits 0; `dataset put` while a member is
# down warns once, not once per shard.
# Timeout: 120
set -u
source "$IDUNNO_ROOT/tests/cluster.sh"
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
PY=/usr/bin/python3
W=$CL_DIR/work
mkdir -p "$W"
head -c 300000 /dev/urandom >"$W/f"

cl_start 4
cl_wait_converged 4 20 && ok "4 agents" || bad "no convergence"
cl_agent 1 put "$W/f" full --json >"$W/out" 2>"$W/err"
$PY -c 'import json,sys; j=json.load(open(sys.argv[1])); assert len(j["replicas"]) == 4 and j["replicas_wanted"] == 4 and j["under_replicated"] is False, j' "$W/out" &&
  [[ ! -s $W/err ]] && ok "put on 4 of 4: no warning, --json under_replicated false" || bad "full put: $(cat "$W/out" "$W/err")"

cl_kill 4
for _ in $(seq 100); do [[ $(cl_status_of 1 4) == failed ]] && break; sleep 0.1; done
[[ $(cl_status_of 1 4) == failed ]] || bad "node 4 not declared failed"
cl_agent 1 put "$W/f" short >"$W/out" 2>"$W/err" && [[ $(wc -w <<<"$(sed 's/.* on //' "$W/out")") == 3 ]] &&
  grep -q "^agent put: warning: short is on 3 of 4 replicas" "$W/err" &&
  ok "put with node 4 down: on 3, '$(cat "$W/err")'" || bad "short put: $(cat "$W/out" "$W/err")"
cl_agent 2 put "$W/f" short2 --json >"$W/out" 2>/dev/null
$PY -c 'import json,sys; j=json.load(open(sys.argv[1])); assert len(j["replicas"]) == 3 and j["replicas_wanted"] == 4 and j["under_replicated"] is True, j' "$W/out" &&
  ok "--json: $(cat "$W/out")" || bad "short put --json: $(cat "$W/out")"
# a dataset's shards and index: one warning for them all
if "$IDUNNO_ROOT/bench/mkdataset" --count 3 --seed 1 --out "$W/ds" >/dev/null 2>&1; then
  cl_agent 1 dataset put d "$W/ds" >/dev/null 2>"$W/err" &&
    [[ $(grep -c "warning: .* is on 3 of 4 replicas" "$W/err") == 1 ]] &&
    ok "dataset put with node 4 down: one warning for its files" || bad "dataset put: $(cat "$W/err")"
else
  echo "skip part: bench/mkdataset cannot make images here (no dataset put)"
fi
[[ $(cl_agent 1 ls short --json | $PY -c 'import json,sys; print(json.load(sys.stdin)[0]["replicas"])') == 3 ]] &&
  ok "ls: short on 3 replicas while node 4 is down" || bad "ls short: $(cl_agent 1 ls short)"

cl_start_node 4 1
cl_wait_converged 4 20 && ok "node 4 back" || bad "node 4 not back"
for _ in $(seq 60); do cl_agent 1 fsck >/dev/null && break; sleep 0.5; done
[[ $(cl_agent 1 holders short --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))') == 4 &&
  $(cl_agent 1 holders short2 --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))') == 4 ]] && cl_agent 1 fsck >/dev/null &&
  ok "re-replicated once node 4 returned: short and short2 on 4 members, fsck healthy" ||
  bad "after return: $(cl_agent 1 holders short) / $(cl_agent 1 fsck | tail -2)"
((fails == 0))
