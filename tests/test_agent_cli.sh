#!/usr/bin/env bash
# Description: the agent command line: keygen writes 0600 and never
# overwrites; members --json is a list of {addr, status, role, epoch,
# incarnation} with one coordinator and one standby; self, stats and
# grep ("NODE: LINE", -c per-node counts only, -E, -i) answer; an
# unreachable agent (exit 3), a bad --agent, a missing or malformed key
# file, a bad config file, a bad regular expression and bad SDFS
# arguments (missing local file, bad name, bad N, a missing file: exit 4,
# a missing folder, missing arguments) each give a clear message and the
# documented exit code (docs/cli.md).
# Timeout: 120
set -u
source "$IDUNNO_ROOT/tests/cluster.sh"
A=$CL_BIN/agent
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
expect() { # expect CODE NEEDLE CMD...
  local code=$1 needle=$2; shift 2
  "$@" >"$CL_DIR/out" 2>"$CL_DIR/err"; local rc=$?
  if [[ $rc == "$code" ]] && grep -qF -- "$needle" "$CL_DIR/err"; then ok "$(basename "$1") ${*:2:2}... -> $rc: $(head -c 120 "$CL_DIR/err")"
  else bad "$* -> exit $rc (want $code): $(cat "$CL_DIR/err")"; fi
}

[[ $(stat -c %a "$CL_KEY") == 600 ]] && ok "keygen: mode 600" || bad "key mode $(stat -c %a "$CL_KEY")"
expect 1 "exists (not overwritten)" "$A" keygen "$CL_KEY"

cl_start 3
cl_wait_converged 3 20 || bad "3 agents did not converge"
json=$(cl_agent 2 members --json)
/usr/bin/python3 -c '
import json, sys
m = json.loads(sys.argv[1])
assert len(m) == 3 and all(set(x) == {"addr", "status", "role", "epoch", "incarnation"} for x in m), m
assert all(x["status"] == "alive" and isinstance(x["incarnation"], int) for x in m), m
roles = sorted(x["role"] for x in m)
assert roles == ["coordinator", "standby", "worker"], roles
assert len({x["epoch"] for x in m}) == 1 and m[0]["epoch"] >= 1, m
' "$json" && ok "members --json: 3 objects with addr, status, role (one coordinator, one standby, one worker), epoch, incarnation" || bad "members --json: $json"
cl_agent 2 self | awk -v a="$(cl_addr 2)" '$1 == a && $2 == "alive" && $3 > 0 { f = 1 } END { exit !f }' &&
  ok "self: $(cl_agent 2 self | tr -s ' ')" || bad "self: $(cl_agent 2 self)"
cl_agent 1 stats | grep -q '^rejected_bad_tag 0$' && ok "stats lists rejection counters" || bad "stats: $(cl_agent 1 stats)"

out=$(cl_agent 1 grep 'member .* joined')
[[ $(grep -c "^$(cl_addr 2): .*member .* joined" <<<"$out") -ge 2 && $(grep -vc '^127\.0\.0\.[0-9]*:[0-9]*: ' <<<"$out") == 0 ]] &&
  ok "grep: every line is NODE: LINE ($(wc -l <<<"$out") lines)" || bad "grep output: $out"
out=$(cl_agent 3 grep -c -E 'agent [0-9.:]+ starting')
[[ $out == "$(printf '%s: 1\n' "$(cl_addr 1)" "$(cl_addr 2)" "$(cl_addr 3)")" ]] &&
  ok "grep -c -E: NODE: COUNT only, one start line per node" || bad "grep -c -E: $out"
out=$(cl_agent 2 grep -c -i -E 'AGENT [0-9.:]+ STARTING')
[[ $out == "$(printf '%s: 1\n' "$(cl_addr 1)" "$(cl_addr 2)" "$(cl_addr 3)")" ]] && ok "grep -i: case ignored" || bad "grep -i: $out"
out=$(cl_agent 1 grep -c -E -- '-[0-9]+T[0-9]') # every timestamp, e.g. "-21T08"
sum=$(awk '{ s += $2 } END { print s + 0 }' <<<"$out")
((sum >= 6)) && ok "grep -- PATTERN: a pattern starting with '-' ($sum lines)" || bad "grep --: $out"
"$A" grep 'no line says this: xyzzy' --agent "$(cl_addr 1)" --key-file "$CL_KEY" >"$CL_DIR/out"; rc=$?
[[ $rc == 1 && ! -s $CL_DIR/out ]] && ok "grep with no match anywhere: exit 1, nothing printed" || bad "grep no match: exit $rc: $(cat "$CL_DIR/out")"
expect 2 "bad regular expression 'a{1'" "$A" grep -E 'a{1' --agent "$(cl_addr 1)" --key-file "$CL_KEY"
[[ $(wc -l <"$CL_DIR/err") == 1 ]] && ok "a bad regular expression is reported once" || bad "bad regex: $(cat "$CL_DIR/err")"

port_dead=$((CL_PORT + 1))
expect 3 "cannot reach agent at 127.0.0.1:$port_dead" "$A" members --agent 127.0.0.1:$port_dead --key-file "$CL_KEY"
expect 2 "is not HOST:PORT" "$A" members --agent nowhere:99999 --key-file "$CL_KEY"
expect 1 "No such file" "$A" members --agent "$(cl_addr 1)" --key-file "$CL_DIR/missing.key"
echo "not a key" >"$CL_DIR/bad.key"
expect 1 "not a key" "$A" run --bind 127.0.0.9:$CL_PORT --data-dir "$CL_DIR/n9" --key-file "$CL_DIR/bad.key"
printf 'probe_interval_ms = 100\nbogus_setting = 3\n' >"$CL_DIR/bad.conf"
expect 1 "line 2: unknown setting 'bogus_setting'" "$A" run --bind 127.0.0.9:$CL_PORT \
  --data-dir "$CL_DIR/n9" --key-file "$CL_KEY" --config "$CL_DIR/bad.conf"
expect 1 "cannot bind 127.0.0.1:$CL_PORT" "$A" run --bind "$(cl_addr 1)" --data-dir "$CL_DIR/n9" --key-file "$CL_KEY"
expect 2 "unknown subcommand 'frobnicate'" "$A" frobnicate --key-file "$CL_KEY"
# SDFS commands: bad arguments are refused before anything moves
K=(--agent "$(cl_addr 1)" --key-file "$CL_KEY")
expect 1 "No such file or directory" "$A" put "$CL_DIR/missing" f "${K[@]}"
expect 1 "not a regular file" "$A" put "$CL_DIR" f "${K[@]}"
expect 2 "bad name" "$A" put "$CL_KEY" ../up "${K[@]}"
expect 4 "no such file" "$A" get nothing/here "$CL_DIR/x" "${K[@]}"
echo data >"$CL_DIR/d"
"$A" put "$CL_DIR/d" cli/d "${K[@]}" >/dev/null || bad "put cli/d"
expect 1 "no such folder $CL_DIR/no/such/dir/" "$A" get cli/d "$CL_DIR/no/such/dir/x" "${K[@]}"
expect 2 "N is a number" "$A" get-versions cli/d 0 "$CL_DIR/x" "${K[@]}"
expect 2 "N is a number" "$A" get-versions cli/d many "$CL_DIR/x" "${K[@]}"
expect 2 "missing LOCAL" "$A" get cli/d "${K[@]}"
expect 2 "missing NAME" "$A" put "$CL_DIR/d" "${K[@]}"
expect 4 "no such file" "$A" delete nothing/here "${K[@]}"
expect 4 "no such file or prefix" "$A" ls nothing/here "${K[@]}"
expect 4 "no such file" "$A" holders nothing/here "${K[@]}"
[[ ! -e $CL_DIR/x && -z $(ls "$CL_DIR/no" 2>/dev/null) ]] && ok "no local file left by the failed gets" ||
  bad "a failed get left a file"
"$A" keygen "$CL_DIR/other.key" >/dev/null
expect 3 "a different cluster key" "$A" members --agent "$(cl_addr 1)" --key-file "$CL_DIR/other.key"
((fails == 0)) || { echo "$fails check(s) failed"; exit 1; }
