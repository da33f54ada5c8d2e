#!/usr/bin/env bash
# Description: client query submission on 4 real agents with engines
# (ResNet18, a 16-image dataset; coord_queue_max = 64): a client-only job
# (`job launch --client-only`) launched through a non-coordinator; `agent
# submit` of every image answers each once with its top-5; the same client
# id and images again are answered again from the results (ack
# "answered", or "answered-stored" when read from the parts in SDFS), with
# the same query ids and no second entry in `agent
# results`; an unknown image and an unknown job are refused with the
# reason; 300 queries at once against a queue of 64 are partly "busy" (and
# every one is either answered or busy); qgen in closed loop and in open
# loop (Poisson, two jobs) ends with 0 lost, 0 duplicated, 0 unexpected
# and a ledger of one JSON line per query, each answered query once in
# `agent results` (--check-results, both loops); qgen's connection
# replaced mid-run: it reconnects and re-submits, 0 lost; qgen stopped by
# SIGINT drains, checks and reports; a worker killed with -9 while
# qgen runs: still 0 lost; qgen on a bad job or an unreachable cluster
# exits non-zero with a one-line error; every result of the job is in
# `agent results` exactly once.
# Timeout: 400
set -u
source "$IDUNNO_ROOT/tests/cluster.sh"
source "$IDUNNO_ROOT/tests/cluster_jobs.sh"

cj_images 16 5 "$W/img"
# a small queue, so that "busy" is reached without thousands of queries
cl_busy_config 'coord_queue_max = 64'
cl_start 4
cl_wait_converged 4 20 && ok "4 agents with engines joined" || bad "no convergence"
"$CL_BIN/engine" weights --model resnet18 --seed 1 --out "$W/r18.st" >/dev/null
cl_agent 1 model put r18 "$W/r18.st" >/dev/null && cl_agent 1 dataset put d16 "$W/img" >/dev/null &&
  ok "model r18 and dataset d16 put" || bad "model or dataset put"
for _ in $(seq 50); do cl_agent 1 self | grep -q '^role coordinator' && break; sleep 0.1; done
qgen() { "$CL_BIN/qgen" --agent "$(cl_addr 2)" --key-file "$CL_KEY" "$@"; }
images=$(ls "$W/img")

j=$(cl_agent 3 job launch r18 --dataset d16 --client-only --batch 2)
j2=$(cl_agent 2 job launch r18 --dataset d16 --client-only --batch 4)
cl_agent 1 job ls --json | $PY -c '
import json, sys
js = {j["job"]: j for j in json.load(sys.stdin)}
for k in sys.argv[1:]:
    assert js[k]["client_only"] is True and js[k]["loop"] is False and js[k]["state"] == "running", js[k]
' "$j" "$j2" && ok "client-only jobs $j and $j2 launched (through non-coordinators): running, client_only" ||
  bad "launch: '$j' '$j2' $(cl_agent 1 job ls --json)"
expect() { # expect NEEDLE CMD...: fails with NEEDLE on stderr
  local needle=$1 err
  shift
  err=$("$@" 2>&1 >/dev/null) && { bad "$* succeeded"; return; }
  [[ $err == *"$needle"* ]] && ok "refused: $err" || bad "$*: '$err' lacks '$needle'"
}
expect "a job is either --loop or --client-only" cl_agent 1 job launch r18 --dataset d16 --loop --client-only

# check_submit FILE N ACK: N JSON lines, cqids 0..N-1 once, status 0, top-5, ack ACK
check_submit() {
  $PY - "$@" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
n, ack = int(sys.argv[2]), sys.argv[3]
assert sorted(r["cqid"] for r in lines) == list(range(n)), [r["cqid"] for r in lines]
for r in lines:
    assert r["status"] == 0 and r["ack"] in ack.split("|") and r["query"] >= 2**63, r
    assert len(r["top5"]) == 5 and r["top5"][0]["prob"] >= r["top5"][4]["prob"], r
PY
}
# shellcheck disable=SC2086
cl_agent 4 submit "$j" $images --client 42 --json >"$W/s1" && check_submit "$W/s1" 16 accepted &&
  ok "agent submit: 16 images answered once each, e.g. $(head -c 150 "$W/s1")" || bad "submit: $(head -3 "$W/s1")"
nres() { cl_agent 1 results "$1" --json | wc -l; }
[[ $(nres "$j") == 16 ]] && ok "agent results: 16 entries" || bad "results: $(nres "$j")"
# same_answers A B: the same cqid, query id, worker and top-5 in both (query ids
# are above 2^53: compared as text, not through a float)
same_answers() {
  $PY - "$1" "$2" <<'PY'
import json, sys
def load(f):
    return sorted((r["cqid"], r["query"], r["worker"], json.dumps(r["top5"])) for r in map(json.loads, open(f)))
assert load(sys.argv[1]) == load(sys.argv[2])
PY
}
# shellcheck disable=SC2086
cl_agent 2 submit "$j" $images --client 42 --json >"$W/s2" && check_submit "$W/s2" 16 "answered|answered-stored" &&
  same_answers "$W/s1" "$W/s2" &&
  ok "the same client and images again: answered again from the results, in memory or in SDFS ($(grep -c answered-stored "$W/s2") of 16 read from SDFS; same query ids, workers, top-5)" ||
  bad "re-submit: $(head -2 "$W/s2")"
[[ $(nres "$j") == 16 ]] && ok "agent results: still 16 entries (nothing run twice)" || bad "results after re-submit: $(nres "$j")"
out=$(cl_agent 3 submit "$j" "$(head -1 <<<"$images")")
[[ $out == *"$(head -1 <<<"$images")"* ]] && [[ $(nres "$j") == 17 ]] &&
  ok "another client, one image: a new query ($(nres "$j") results)" || bad "new client: $out"
expect "no such image in the job's dataset" cl_agent 2 submit "$j" nosuch.jpg
expect "no job nojob" cl_agent 2 submit nojob img.jpg

# --- busy: 300 queries against a queue of 64 ---
set -f
many=$(for i in $(seq 300); do sed -n "$(((i % 16) + 1))p" <<<"$images"; done)
cl_agent 1 submit "$j" $many --client 77 --json >"$W/busy.out" 2>"$W/busy.err"
rc=$?
set +f
nbusy=$(grep -c '"ack":"busy"' "$W/busy.out")
nans=$(grep -c '"query"' "$W/busy.out")
((rc == 1 && nbusy > 0 && nans + nbusy == 300)) &&
  ok "300 at once, queue 64: $nans answered, $nbusy busy ($(grep -m1 busy "$W/busy.out"))" ||
  bad "busy: rc $rc, $nans answered, $nbusy busy: $(head -2 "$W/busy.err")"
before=$(nres "$j")
[[ $before == $((17 + nans)) ]] && ok "agent results: $before (busy ones never ran)" || bad "results after busy: $before, want $((17 + nans))"
# shellcheck disable=SC2086
cl_agent 1 submit "$j" $many --client 78 >/dev/null 2>"$W/busy2.err"
out=$(grep -m1 busy "$W/busy2.err")
[[ $out == "agent submit: img-"*": busy (the job's queue is full); try again" ]] && ok "in text: '$out'" || bad "busy text: '$out'"

# --- qgen ---
qgen --concurrency 8 --duration 4 --ledger "$W/l1" --json --check-results "$j" >"$W/q1" 2>"$W/q1.err" &&
  $PY - "$W/q1" "$W/l1" <<'PY' && ok "qgen closed loop: $(jq -c '.jobs[0] | {submitted, answered, throughput, latency_ms}' "$W/q1")" || bad "qgen closed: $(cat "$W/q1" "$W/q1.err")"
import json, sys
s = json.load(open(sys.argv[1]))
l = [json.loads(x) for x in open(sys.argv[2])]
g = s["ledger"]
assert s["ok"] and g["lost"] == 0 and g["duplicated"] == 0 and g["unexpected"] == 0 and g["unacknowledged"] == 0, g
assert g["submitted"] > 8 and g["answered"] == g["submitted"] == len(l), (g, len(l))
assert all(x["answers"] >= 1 and x["ack"] == "accepted" and x["answered_ms"] >= x["submitted_ms"] for x in l)
assert len({x["query"] for x in l}) == len(l)
j = s["jobs"][0]
assert j["results_missing"] == 0 and j["results_twice"] == 0, j
assert j["throughput"] > 0 and 0 < j["latency_ms"]["p50"] <= j["latency_ms"]["p99"] <= j["latency_ms"]["max"], j
PY
qgen --rate 6 --poisson --duration 4 --ledger "$W/l2" --check-results "$j" "$j2" >"$W/q2" 2>"$W/q2.err" &&
  grep -q "lost 0, duplicated 0, unexpected 0, unacknowledged 0" "$W/q2" &&
  [[ $(grep -c "results: 0 answered queries missing, 0 there twice" "$W/q2") == 2 ]] &&
  [[ $(grep -c "\"job\":\"$j2\"" "$W/l2") -gt 5 ]] &&
  ok "qgen open loop, Poisson, two jobs: $(tail -1 "$W/q2")" || bad "qgen open: $(cat "$W/q2" "$W/q2.err")"

# --- qgen's connection replaced (another connection with its client id):
# it reconnects and submits again what was unanswered ---
qgen --concurrency 8 --duration 6 --client 555 --json "$j" >"$W/q4" 2>"$W/q4.err" &
qp=$!
sleep 2.5
cl_agent 3 submit "$j" "$(head -1 <<<"$images")" --client 555 >/dev/null 2>&1
wait $qp
rc=$?
((rc == 0)) && jq -e '.jobs[0].reconnects >= 1 and .ledger.resubmitted > 0 and .ledger.lost == 0 and .ledger.duplicated == 0 and .ledger.answered == .ledger.submitted' "$W/q4" >/dev/null &&
  ok "qgen reconnected and re-submitted: $(jq -c '.jobs[0] | {reconnects, resubmitted, submitted, answered, lost, duplicated}' "$W/q4")" ||
  bad "reconnect: rc $rc $(cat "$W/q4" "$W/q4.err")"
# --- qgen stopped by SIGINT long before its --duration: it stops
# submitting, drains and reports as at a normal end ---
"$CL_BIN/qgen" --agent "$(cl_addr 2)" --key-file "$CL_KEY" --concurrency 8 --duration 600 --json \
  --check-results "$j" >"$W/q5" 2>"$W/q5.err" & # (not the function: $! is qgen itself)
qp=$!
sleep 2
kill -INT $qp
wait $qp
rc=$?
# (elapsed: far below the 600 s it was given, not a timing)
((rc == 0)) && jq -e '.ledger.submitted > 0 and .ledger.lost == 0 and .ledger.duplicated == 0 and .ledger.answered == .ledger.submitted and .jobs[0].results_missing == 0 and .elapsed_s < 300' "$W/q5" >/dev/null &&
  ok "qgen --duration 600 stopped by SIGINT: drained and checked: $(jq -c '.ledger | {submitted, answered, lost, duplicated}' "$W/q5")" ||
  bad "qgen SIGINT: rc $rc $(cat "$W/q5" "$W/q5.err")"
# every query of qgen's ledger is in the job's results, each once
$PY - "$W/l1" <(cl_agent 1 results "$j" --json) <<'PY' && ok "qgen's ledger: each answered query in agent results once" || bad "ledger vs results"
import json, sys
led = [json.loads(l) for l in open(sys.argv[1])]
res = [json.loads(l)["query"] for l in open(sys.argv[2])]
assert len(res) == len(set(res))
s = set(res)
assert all(x["query"] in s for x in led if "query" in x), "a ledger query not in the results"
PY

# --- a worker killed with -9 while qgen runs ---
qgen --concurrency 12 --duration 7 --json --check-results "$j2" >"$W/q3" 2>"$W/q3.err" &
qp=$!
sleep 3
cl_kill 4
wait $qp
rc=$?
((rc == 0)) && jq -e '(.ledger | .lost == 0 and .duplicated == 0 and .unexpected == 0 and .answered == .submitted) and .jobs[0].results_missing == 0 and .jobs[0].results_twice == 0' "$W/q3" >/dev/null &&
  ok "node 4 killed with -9 mid-run: $(jq -c .ledger "$W/q3")" || bad "kill: rc $rc $(cat "$W/q3" "$W/q3.err")"
line=$(grep -m1 "worker 127.0.0.4:$CL_PORT removed" "$CL_DIR/node1/agent.log") &&
  ok "the coordinator: ${line#*coordinator: }" || bad "no removal of node 4 logged"

# --- errors ---
out=$(qgen --rate 5 --count 3 nojob 2>&1)
rc=$?
((rc != 0)) && [[ $(wc -l <<<"$out") == 1 && $out == *"no job nojob"* ]] && ok "qgen on a bad job: exit $rc, '$out'" || bad "qgen bad job: rc $rc '$out'"
out=$("$CL_BIN/qgen" --agent 127.0.0.1:1 --key-file "$CL_KEY" --rate 5 --count 3 "$j" 2>&1)
rc=$?
((rc != 0)) && [[ $(wc -l <<<"$out") == 1 && $out == *"cannot reach"* ]] && ok "qgen, no cluster: exit $rc, '$out'" || bad "qgen unreachable: rc $rc '$out'"
out=$(qgen --rate 5 "$j" 2>&1)
rc=$?
((rc == 2)) && [[ $(wc -l <<<"$out") == 1 ]] && ok "qgen, bad arguments: exit 2, '$out'" || bad "qgen args: rc $rc '$out'"

for k in "$j" "$j2"; do
  cl_agent 1 results "$k" --json >"$W/r.$k"
  n=$(wc -l <"$W/r.$k")
  u=$(grep -o '"query":[0-9]*' "$W/r.$k" | sort -u | wc -l)
  q=$(cl_agent 1 qinfo "$k" --json | jq .queries)
  ((n > 0 && n == u && n == q)) && ok "results $k: $n entries, each query once, = qinfo's count" || bad "results $k: $n lines, $u distinct, qinfo $q"
done
st=$(cl_agent 1 stats)
[[ $(awk '$1 == "coord_record_errors" { print $2 }' <<<"$st") == 0 && $(awk '$1 == "coord_submit_busy" { print $2 }' <<<"$st") -gt 0 ]] &&
  ok "coordinator: $(grep -E '^coord_(submit|records)' <<<"$st" | tr '\n' ' ')" || bad "stats: $(grep coord_ <<<"$st" | tr '\n' ' ')"

checks_end
echo "all checks passed in $SECONDS s"
