#!/usr/bin/env bash
# Description: the agent CLI's contract (docs/cli.md), for every
# subcommand in `agent --help`: SUBCOMMAND --help exits 0 with usage and
# an example, anywhere and without a key (keygen --help writes nothing);
# an unknown option, an option of another subcommand and an option
# without its value exit 2 naming it; then on 3 agents: --json parses
# and has the documented keys (members, self, stats, grep, put, get,
# get-versions, delete, ls, holders, store, model put/ls, dataset put/ls, job
# launch/ls/batch/stop, qinfo, assign, submit, results); grep exits 0/1/2; get NAME - and get-versions ... -
# write to stdout; get refuses to overwrite without --force; not found
# exits 4 and an unreachable agent 3; IDUNNO_AGENT is the default
# --agent; a key file readable by others is warned about; run with
# several --join seeds joins through one that answers, and with none
# answering says so on the terminal and joins once one comes up; fsck is
# healthy, then under-replicated (exit 1) with a holder killed, then
# healthy again once repair has run.
# Timeout: 150
set -u
source "$IDUNNO_ROOT/tests/cluster.sh"
A=$(realpath "$CL_BIN/agent")
PY=/usr/bin/python3
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
W=$CL_DIR/work
mkdir -p "$W/empty"

# every subcommand the program lists, groups as "job launch"
mapfile -t cmds < <("$A" --help | awk '/^subcommands:/ { on = 1; next } on && /^$/ { exit }
  on { if ($1 ~ /^(job|model|dataset)$/) print $1 " " $2; else print $1 }')
((${#cmds[@]} >= 25)) && ok "agent --help lists ${#cmds[@]} subcommands" || bad "agent --help: ${cmds[*]}"

# --- help, version and parsing: in an empty folder, no key anywhere ---
(
  cd "$W/empty" || exit 1
  unset IDUNNO_KEY_FILE IDUNNO_AGENT
  f=0
  "$A" --version | grep -q '^agent (IDunno) [0-9]' || { echo "FAIL --version"; f=1; }
  "$A" --help >/dev/null && "$A" -h >/dev/null && "$A" help put >/dev/null || { echo "FAIL --help"; f=1; }
  "$A" >/dev/null 2>&1; [[ $? == 2 ]] || { echo "FAIL agent alone: not exit 2"; f=1; }
  out=$("$A" bogus 2>&1); [[ $? == 2 && $out == *"unknown subcommand 'bogus'"* ]] || { echo "FAIL bogus: $out"; f=1; }
  out=$("$A" --bogus 2>&1); [[ $? == 2 && $out == *"'--bogus'"* ]] || { echo "FAIL --bogus: $out"; f=1; }
  for c in "${cmds[@]}"; do
    out=$("$A" $c --help 2>&1) && [[ $out == *"usage: agent $c"* && $out == *"example:"* ]] ||
      { echo "FAIL $c --help: exit $?: $out"; f=1; }
    out=$("$A" $c -h 2>&1) || { echo "FAIL $c -h: $out"; f=1; }
    out=$("$A" $c --no-such-option x y 2>&1); rc=$?
    [[ $rc == 2 && $out == *"'--no-such-option'"* ]] || { echo "FAIL $c --no-such-option: exit $rc: $out"; f=1; }
    [[ $c == run ]] && continue
    out=$("$A" $c --nope-x 2>&1); rc=$?
    [[ $rc == 2 && $out == *"'--nope-x'"* ]] || { echo "FAIL $c --nope-x: exit $rc: $out"; f=1; }
    # an option of another subcommand; a trailing option without its value
    other=--force
    [[ $c == get || $c == get-versions ]] && other=-c
    out=$("$A" $c "$other" 2>&1); rc=$?
    [[ $rc == 2 && $out == *"option $other does not apply to $c"* ]] || { echo "FAIL $c $other: exit $rc: $out"; f=1; }
    [[ $c == keygen ]] && continue
    out=$("$A" $c a b c --agent 2>&1); rc=$?
    [[ $rc == 2 && $out == *"option --agent needs a value"* ]] || { echo "FAIL $c ... --agent: exit $rc: $out"; f=1; }
  done
  [[ -z $(ls -A) ]] || { echo "FAIL files written by --help or refused commands: $(ls -A)"; f=1; }
  exit $f
) && ok "--help, -h and --version exit 0 without a key; every subcommand: usage and example, unknown options, options of others and valueless options exit 2 naming them; nothing written" ||
  bad "help and parsing (above)"
out=$("$A" run --bind 2>&1); [[ $? == 2 && $out == *"option --bind needs a value"* ]] && ok "run --bind without a value: $out" || bad "run --bind: $out"
out=$("$A" run stray 2>&1); [[ $? == 2 && $out == *"'stray'"* ]] && ok "run: a stray argument is named" || bad "run stray: $out"

# --- a cluster ---
cl_start 3
cl_wait_converged 3 20 || bad "3 agents did not converge"
K=(--agent "$(cl_addr 1)" --key-file "$CL_KEY")
# json CMD... -- PYTHON: runs CMD, parses its stdout, asserts PYTHON on j
json() {
  local args=() code
  while [[ $1 != -- ]]; do args+=("$1"); shift; done
  code=$2
  "$A" "${args[@]}" "${K[@]}" --json >"$W/j" 2>"$W/jerr" || { bad "${args[*]} --json: exit $? $(cat "$W/jerr")"; return; }
  $PY -c "import json, sys; j = json.load(open(sys.argv[1])); $code" "$W/j" &&
    ok "${args[*]} --json: $(head -c 150 "$W/j")" || bad "${args[*]} --json: $(head -c 400 "$W/j")"
}
keys() { echo "isinstance(j, dict) and set($1) <= set(j)"; }
head -c 300000 /dev/urandom >"$W/f1"
echo "second version" >"$W/f2"

json members -- 'assert len(j) == 3 and all({"addr", "status", "role", "epoch", "incarnation"} <= set(m) for m in j)'
json self -- "assert $(keys '{"addr", "status", "incarnation", "role"}')"
json stats -- "assert $(keys '{"rpc_served"}') and isinstance(j['rpc_served'], int)"
json put "$W/f1" c/f -- "assert $(keys '{"name", "version", "bytes", "replicas"}') and j['bytes'] == 300000 and len(j['replicas']) == 3"
json put "$W/f2" c/f -- "assert j['name'] == 'c/f' and j['bytes'] == 15"
json get c/f "$W/got" -- "assert $(keys '{"name", "version", "bytes", "local"}') and j['bytes'] == 15"
json get-versions c/f 2 "$W/gv" -- "assert $(keys '{"name", "versions", "local"}') and len(j['versions']) == 2"
json ls -- 'assert isinstance(j, list) and any(e["name"] == "c/f" and e["versions"] == 2 and e["replicas"] == 3 and e["bytes"] == 15 and e["version"] > 0 for e in j)'
json ls c/ -- 'assert [e["name"] for e in j] == ["c/f"]'
json holders c/f -- 'assert len(j) == 3 and all({"addr", "versions", "newest"} <= set(h) for h in j)'
json store -- 'assert isinstance(j, list) and sum(e["name"] == "c/f" for e in j) == 2 and all({"name", "version", "bytes"} <= set(e) for e in j)'
json put "$W/f2" c/del -- "assert j['name'] == 'c/del'"
json delete c/del -- "assert $(keys '{"name", "upto", "members", "unreachable"}') and j['members'] == 3 and j['unreachable'] == 0"
json grep -E 'agent [0-9.:]+ starting' -- "assert $(keys '{"pattern", "matches", "counts", "total", "unreachable"}') and j['total'] == 3 and len(j['matches']) == 3 and all(set(m) == {'node', 'line'} for m in j['matches'])"
json grep -c 'starting' -- "assert j['matches'] == [] and len(j['counts']) == 3"
json model ls -- 'assert j == []'
json dataset ls -- 'assert j == []'
json job ls -- 'assert j == []'
json assign -- 'assert j is not None'
json qinfo -- 'assert j is not None'

# --- the task subcommands' --json: a model, a dataset, a client-only job ---
if $PY -c 'import PIL' 2>/dev/null && "$CL_BIN/engine" weights --model resnet18 --seed 1 --out "$W/r18.st" >/dev/null 2>&1; then
  mkdir -p "$W/img"
  $PY -c 'import sys; from PIL import Image
for i in range(3): Image.new("RGB", (64, 48), (40 * i, 90, 200)).save(f"{sys.argv[1]}/i{i}.jpg", "JPEG")' "$W/img"
  json model put r18 "$W/r18.st" -- "assert $(keys '{"name", "arch", "tensors", "bytes", "file", "version"}') and j['arch'] == 'resnet18'"
  json model ls -- 'assert [m["name"] for m in j] == ["r18"] and {"name", "version", "bytes", "arch", "tensors"} <= set(j[0])'
  json dataset put d "$W/img" -- "assert $(keys '{"name", "images", "shards", "bytes", "index", "version"}') and j['images'] == 3"
  json dataset ls -- 'assert [d["name"] for d in j] == ["d"] and {"name", "version", "images", "shards", "bytes"} <= set(j[0])'
  json dataset ls d -- "assert $(keys '{"name", "version", "bytes", "shards", "images"}') and len(j['images']) == 3"
  json job launch r18 --dataset d --client-only --batch 2 -- "assert $(keys '{"job"}')"
  job=$($PY -c 'import json, sys; print(json.load(open(sys.argv[1]))["job"])' "$W/j")
  json job ls -- "assert any(x['job'] == '$job' for x in j)"
  json qinfo "$job" -- "assert j['job'] == '$job'"
  json job batch "$job" 4 -- "assert j == {'job': '$job', 'batch': 4}"
  "$A" submit "$job" nosuch.jpg --json "${K[@]}" >"$W/sub" 2>"$W/err"; rc=$?
  $PY -c 'import json, sys; j = json.loads(open(sys.argv[1]).read()); assert {"cqid", "image", "ack"} <= set(j) and j["image"] == "nosuch.jpg"' "$W/sub" &&
    [[ $rc == 1 ]] && ok "submit --json: an unknown image answered as a JSON line, exit 1: $(cat "$W/sub")" || bad "submit --json: exit $rc: $(cat "$W/sub" "$W/err")"
  "$A" results "$job" --json "${K[@]}" >"$W/res" 2>"$W/err" && $PY -c 'import json, sys; [json.loads(l) for l in open(sys.argv[1])]' "$W/res" &&
    ok "results --json: JSON lines ($(wc -l <"$W/res") results)" || bad "results --json: $(cat "$W/err")"
  json job stop "$job" -- 'assert j is not None'
else
  echo "     (model, dataset and job --json not checked here: no python3-pil or engine; test_tasks_cli and test_coord check them)"
fi

# --- get and get-versions to stdout; overwriting; exit codes ---
cmp -s <("$A" get c/f - "${K[@]}") "$W/f2" && ok "get NAME - writes the file to stdout, nothing else" || bad "get c/f -"
"$A" get-versions c/f 2 - "${K[@]}" >"$W/gv-out" && $PY - "$W/gv-out" "$W/f2" "$W/f1" <<'PY' &&
import re, sys
d = open(sys.argv[1], "rb").read()
pos = 0
for path in sys.argv[2:]:  # newest first: a delimiter with the size, the bytes, a newline
    w = open(path, "rb").read()
    m = re.compile(rb"==> c/f version [0-9]+ \(([0-9]+) bytes\) <==\n").match(d, pos)
    assert m and int(m.group(1)) == len(w), d[pos:pos + 80]
    pos = m.end()
    assert d[pos:pos + len(w)] == w and d[pos + len(w):pos + len(w) + 1] == b"\n"
    pos += len(w) + 1
assert pos == len(d)
PY
  ok "get-versions NAME 2 - writes both versions, delimited, to stdout" || bad "get-versions -: $(head -c 200 "$W/gv-out")"
echo keep >"$W/keep"
"$A" get c/f "$W/keep" "${K[@]}" >/dev/null 2>"$W/err"; rc=$?
[[ $rc == 1 && $(cat "$W/keep") == keep ]] && grep -q "exists (not overwritten; --force" "$W/err" &&
  ok "get refuses to overwrite a local file: $(cat "$W/err")" || bad "get over a file: exit $rc, $(cat "$W/keep")"
"$A" get c/f "$W/keep" --force "${K[@]}" >/dev/null && cmp -s "$W/keep" "$W/f2" && ok "get --force overwrites it" || bad "get --force"
f0=$fails
for c in "get nothing/x $W/n" "get-versions nothing/x 1 $W/n" "delete nothing/x" "ls nothing/" "holders nothing/x" "dataset ls nosuch"; do
  "$A" $c "${K[@]}" >/dev/null 2>"$W/err"; rc=$?
  [[ $rc == 4 ]] || bad "$c: exit $rc (want 4): $(cat "$W/err")"
done
((fails == f0)) && ok "not found exits 4 (get, get-versions, delete, ls, holders, dataset ls)"
dead=127.0.0.1:$((CL_PORT + 1))
f0=$fails
for c in "members" "self" "get c/f -" "ls" "grep x" "put $W/f2 c/g" "job ls" "store"; do
  "$A" $c --agent "$dead" --key-file "$CL_KEY" >/dev/null 2>"$W/err"; rc=$?
  [[ $rc == 3 ]] && grep -q "cannot reach agent at $dead" "$W/err" || bad "$c to a dead agent: exit $rc (want 3): $(cat "$W/err")"
done
((fails == f0)) && ok "an agent that does not answer exits 3 (members, self, get, ls, grep, put, job ls, store)"

# --- grep's exit codes ---
"$A" grep -E 'agent [0-9.:]+ starting' "${K[@]}" >"$W/g"; rc=$?
[[ $rc == 0 && $(wc -l <"$W/g") == 3 ]] && ok "grep: a match exits 0" || bad "grep match: exit $rc: $(cat "$W/g")"
"$A" grep 'xyzzy never logged' "${K[@]}" >"$W/g"; rc=$?
[[ $rc == 1 && ! -s $W/g ]] && ok "grep: nothing matched anywhere exits 1, prints nothing" || bad "grep no match: exit $rc"
"$A" grep '\(' "${K[@]}" >"$W/g" 2>"$W/err"; rc=$?
[[ $rc == 2 && $(wc -l <"$W/err") == 1 ]] && ok "grep: a bad regex exits 2, reported once: $(cat "$W/err")" || bad "grep bad regex: exit $rc: $(cat "$W/err")"

# --- addresses and the key ---
[[ $(IDUNNO_AGENT=$(cl_addr 2) "$A" self --json --key-file "$CL_KEY" | $PY -c 'import json, sys; print(json.load(sys.stdin)["addr"])') == "$(cl_addr 2)" ]] &&
  ok "IDUNNO_AGENT is the default --agent" || bad "IDUNNO_AGENT"
[[ $(IDUNNO_AGENT=$dead "$A" self --json --agent "$(cl_addr 3)" --key-file "$CL_KEY" | $PY -c 'import json, sys; print(json.load(sys.stdin)["addr"])') == "$(cl_addr 3)" ]] &&
  ok "--agent wins over IDUNNO_AGENT" || bad "--agent vs IDUNNO_AGENT"
cp "$CL_KEY" "$W/open.key" && chmod 644 "$W/open.key"
"$A" self --agent "$(cl_addr 1)" --key-file "$W/open.key" >/dev/null 2>"$W/err" && grep -q "warning: key file $W/open.key can be read by others (mode 0644)" "$W/err" &&
  ok "a key file readable by others is warned about" || bad "open key: $(cat "$W/err")"
"$A" self "${K[@]}" >/dev/null 2>"$W/err" && [[ ! -s $W/err ]] && ok "a 0600 key file is not" || bad "0600 key: $(cat "$W/err")"

# --- several seeds ---
run_node() { # run_node I JOIN...: node I with the given --join values
  local i=$1; shift
  mkdir -p "$CL_DIR/node$i"
  "$CL_BIN/agent" run --bind "$(cl_addr "$i")" --data-dir "$CL_DIR/node$i" --key-file "$CL_KEY" --no-engine "$@" \
    >>"$CL_DIR/node$i/stdout" 2>&1 &
  CL_PID[$i]=$!
}
run_node 4 --join "$(cl_addr 9)" --join "$(cl_addr 4),$(cl_addr 2)"
cl_wait_converged 4 20 && ok "seeds: a dead one, itself and a live one: joined through the live one" ||
  bad "node 4 did not join: $(cat "$CL_DIR/node4/stdout")"
run_node 5 --join "$(cl_addr 8)"
for _ in $(seq 50); do grep -q "no seed answers" "$CL_DIR/node5/stdout" && break; sleep 0.1; done
grep -q "^  $(cl_addr 8): " "$CL_DIR/node5/stdout" && ok "no seed answers: said on the terminal: $(tr '\n' ' ' <"$CL_DIR/node5/stdout")" ||
  bad "node 5's terminal: $(cat "$CL_DIR/node5/stdout")"
run_node 8 --join "$(cl_addr 1)"
cl_wait_converged 6 30 && ok "the seed came up later: node 5 joined through it" ||
  bad "node 5 did not join once node 8 came up: $(cl_view 5 | tr '\n' ' ')"

# --- fsck: healthy; a holder killed: under-replicated (exit 1) until repaired ---
"$A" put "$W/f1" c/fsck "${K[@]}" >/dev/null || bad "put c/fsck"
for _ in $(seq 100); do "$A" fsck c/ "${K[@]}" >/dev/null 2>&1 && break; sleep 0.2; done # c/f onto the newcomers
json fsck c/ -- "assert $(keys '{"prefix", "replicas", "live", "under_replicated", "corrupt_found", "files", "bytes", "healthy", "status"}') and j['status'] == 'healthy' and j['replicas'] == 4 and j['live'] == 6"
victim=$("$A" holders c/fsck --json "${K[@]}" | $PY -c 'import json, sys; print(next(h["addr"] for h in json.load(sys.stdin) if not h["addr"].startswith("127.0.0.1:")).split(":")[0].split(".")[3])')
cl_kill "$victim"
"$A" fsck c/fsck "${K[@]}" >"$W/fsck" 2>/dev/null; rc=$?
[[ $rc == 1 ]] && grep -q "^c/fsck: under-replicated: version [0-9]* on 3 of 4 live replicas" "$W/fsck" && grep -q "^status: UNDER-REPLICATED" "$W/fsck" &&
  ok "fsck: node $victim (a holder) killed: c/fsck under-replicated, exit 1" || bad "fsck after the kill: exit $rc: $(cat "$W/fsck")"
for _ in $(seq 100); do "$A" fsck c/ "${K[@]}" >"$W/fsck" 2>/dev/null && break; sleep 0.2; done
grep -q "^status: HEALTHY" "$W/fsck" && ok "fsck: healthy again once repaired: $(head -1 "$W/fsck")" || bad "fsck never healthy: $(cat "$W/fsck")"

((fails == 0)) || { echo "$fails check(s) failed"; exit 1; }
