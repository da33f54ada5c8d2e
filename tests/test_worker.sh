#!/usr/bin/env bash
# Description: a worker (a real agent with its engine, SDFS on 4 agents),
# driven by a stand-in coordinator (tests/probe_coord.c): ResNet18 and
# AlexNet weights and a dataset of generated JPEGs put into SDFS; every
# query answered exactly once, its top-5 the same as `engine classify` on
# the same image and weights; the engine SIGKILLed mid-batch three times
# (restarted, every query still answered once) and SIGSTOPped past its
# deadline (killed, restarted, the batches complete); the worker's agent
# killed and restarted (its cache reused: nothing fetched again, no
# half-written file used); an express DISPATCH run before the batches
# waiting on the worker; a corrupted cached shard found and fetched
# again; a lower epoch refused; an unknown model, dataset or image
# refused with the reason; a corrupt image failing only its own query; a
# truncated weights file (put around `model put`) never loaded.
# Timeout: 300
set -u
source "$IDUNNO_ROOT/tests/cluster.sh"
source "$IDUNNO_ROOT/tests/cluster_jobs.sh"
P=$CL_BIN/tests/probe_coord

cj_images 24 7 "$W/img"

CL_ENGINE=1    # every node, restarts too, runs an engine
CL_NO_COORD=1 # the stand-in is the only coordinator
cl_start 4
cl_wait_converged 4 20 && ok "4 agents with engines joined" || bad "no convergence"
members=$(for i in 1 2 3 4; do printf '%s,' "$(cl_addr "$i")"; done)
members=${members%,}
coord() { "$P" "$CL_KEY" "$(cl_addr 2)" "$members" "$@"; }
engine_pid() { pgrep -f "engine serve --ring idunno-7f000002-$CL_PORT" | head -1; }
stat2() { cl_agent 2 stats | awk -v k="$1" '$1 == k { print $2 }'; }

"$CL_BIN/engine" weights --model resnet18 --seed 1 --out "$W/r18.st" >/dev/null
"$CL_BIN/engine" weights --model alexnet --seed 2 --out "$W/alex.st" >/dev/null
cl_agent 1 model put r18 "$W/r18.st" >/dev/null && cl_agent 1 model put alex "$W/alex.st" >/dev/null &&
  ok "both models put" || bad "model put"
cl_agent 1 dataset put d24 "$W/img" >/dev/null && ok "dataset of 24 JPEGs put" || bad "dataset put"

# answers: "answer ID STATUS SERVICE WAIT C0 P0 .. C4 P4"; the reference:
# classify's "  k. name   CLASS  PROB" lines per image.
check_answers() { # check_answers OUT MODEL WEIGHTS N
  local out=$1 model=$2 weights=$3 n=$4
  "$CL_BIN/engine" classify --model "$model" --weights "$weights" "$W"/img/*.jpg >"$W/ref.$model" 2>/dev/null
  /usr/bin/python3 - "$out" "$W/ref.$model" "$n" <<'PY'
import re, sys
out, ref, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
refs, cur = [], None
for line in open(ref):
    if not line.startswith(" "):
        cur = []
        refs.append(cur)
    else:
        m = re.match(r"\s*\d\.\s.*?\s(\d+)\s+([0-9.]+)$", line.rstrip())
        cur.append((int(m.group(1)), float(m.group(2))))
seen = {}
for line in open(out):
    f = line.split()
    if f[0] != "answer":
        continue
    q, st = int(f[1]), int(f[2])
    seen[q] = seen.get(q, 0) + 1
    if st != 0:
        sys.exit(f"query {q} failed: {st}")
    got = [(int(f[5 + 2 * k]), float(f[6 + 2 * k])) for k in range(5)]
    want = refs[q % len(refs)]
    for (gc, gp), (wc, wp) in zip(got, want):
        if abs(gp - wp) > 1e-3 or (wp >= 1e-3 and gc != wc):
            sys.exit(f"query {q}: {got} but classify gives {want}")
missing = [q for q in range(n) if seen.get(q) != 1]
if missing:
    sys.exit(f"queries not answered exactly once: {missing[:10]}")
PY
}

for m in "r18 resnet18 r18.st" "alex alexnet alex.st"; do
  set -- $m
  if coord 5 run "$1" d24 48 8 >"$W/run.$1" 2>&1 && check_answers "$W/run.$1" "$2" "$W/$3" 48; then
    ok "$2: 48 queries in batches of 8, each answered once, top-5 as engine classify"
  else
    bad "$2: $(tail -3 "$W/run.$1")"
  fi
done

# --- an express DISPATCH overtakes the batches waiting on the worker ---
# 6 batches of 4 sent at once (beyond the 2 slots), then 1 express query:
# one batch is in the engine at a time, so the express one runs next
# (FIFO behind all six before the worker kept them back).
if coord 5 express r18 d24 24 4 >"$W/express.out" 2>&1 && check_answers "$W/express.out" resnet18 "$W/r18.st" 25; then
  xb=$(awk '$1 == "express" { print $2 }' "$W/express.out")
  pos=$(awk -v x="$xb" '$1 == "result" { n++; if ($2 == x) print n }' "$W/express.out")
  ((pos >= 1 && pos <= 3)) &&
    ok "an express batch sent after 6 waiting ones came back ${pos}th of 7, every query answered once" ||
    bad "the express batch came back ${pos}th of 7: $(awk '$1 == "result" { printf "%s ", $2 }' "$W/express.out")"
else
  bad "express: $(tail -3 "$W/express.out")"
fi

# --- the engine killed mid-batch, three times ---
coord 6 run r18 d24 400 8 >"$W/kill.out" 2>&1 &
probe=$!
for k in 1 2 3; do
  for _ in $(seq 50); do (($(stat2 engine_batches) > 0)) && break; sleep 0.1; done
  sleep 0.5
  kill -9 "$(engine_pid)" 2>/dev/null
  for _ in $(seq 50); do [[ $(stat2 engine_state) == running ]] && break; sleep 0.1; done
done
wait "$probe" && check_answers "$W/kill.out" resnet18 "$W/r18.st" 400 &&
  ok "engine SIGKILLed 3 times mid-run: restarted ($(stat2 engine_crashes) crashes), 400 queries answered once" ||
  bad "engine kills: $(tail -3 "$W/kill.out") crashes=$(stat2 engine_crashes)"

# --- the engine stopped past its deadline ---
coord 7 run r18 d24 64 8 >"$W/stop.out" 2>&1 &
probe=$!
sleep 0.3
kill -STOP "$(engine_pid)"
wait "$probe" && check_answers "$W/stop.out" resnet18 "$W/r18.st" 64 &&
  ok "engine SIGSTOPped: killed after its deadline ($(stat2 engine_hangs) hang), batches complete" ||
  bad "engine stop: $(tail -3 "$W/stop.out") hangs=$(stat2 engine_hangs)"

# --- refusals ---
out=$(coord 8 stale r18 d24)
[[ $out == *"refuse 1 -5001 stale epoch 7: this worker has seen 8"* ]] && ok "a DISPATCH from a lower epoch is refused: ${out##*refuse }" || bad "stale: $out"
out=$(coord 3 run r18 d24 1 1)
[[ $out == *"welcome -5001 8 "* ]] && ok "a HELLO from a lower epoch is refused (welcome -5001, epoch 8)" || bad "stale hello: $out"
out=$(coord 9 one nosuch 1 d24 0)
[[ $out == *"refuse"*"model nosuch"*"not in SDFS"* ]] && ok "unknown model: ${out##*refuse }" || bad "unknown model: $out"
out=$(coord 9 run r18 nods 1 1)
[[ $out == *"lookup of datasets/nods/index"* ]] && ok "the stand-in cannot even look up an unknown dataset" || bad "no dataset: $out"
out=$(coord 9 one r18 0 d24 9999 2>&1)
[[ $out == *"refuse"*"has no image 9999"* ]] && ok "an image not in the dataset: ${out##*refuse }" || bad "image 9999: $out"

# --- a corrupt image fails only its own query ---
mkdir -p "$W/img2"
cp "$W"/img/img-0000[0-3].jpg "$W/img2/"
head -c 2000 "$W/img/img-00004.jpg" >"$W/img2/img-00002.jpg" # a JPEG cut short
cl_agent 1 dataset put d4 "$W/img2" >/dev/null || bad "dataset put d4"
coord 10 run r18 d4 4 4 >"$W/corrupt.out" 2>&1
[[ $(awk '$1 == "answer" && $3 != 0' "$W/corrupt.out" | wc -l) == 1 &&
  $(awk '$1 == "answer" && $2 == 2 { print $3 }' "$W/corrupt.out") == -74 &&
  $(awk '$1 == "answer" && $3 == 0' "$W/corrupt.out" | wc -l) == 3 ]] &&
  ok "a corrupt image fails only its query (-EBADMSG), the other 3 answered" ||
  bad "corrupt image: $(cat "$W/corrupt.out")"

# --- a truncated weights file, stored around model put, is never loaded ---
head -c 1000000 "$W/r18.st" >"$W/trunc.st"
cl_agent 1 model put bad "$W/trunc.st" >/dev/null 2>&1 && bad "model put took a truncated file"
cl_agent 1 put "$W/trunc.st" models/bad.safetensors >/dev/null
out=$(coord 11 run bad d24 4 4)
[[ $out == *"refuse"*"-5006"* ]] && ok "truncated weights refused by the engine: ${out##*refuse }" ||
  bad "truncated weights: $out"

# --- the worker's agent killed and restarted: its cache is reused ---
old=$(engine_pid)
cl_kill 2
for _ in $(seq 50); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
kill -0 "$old" 2>/dev/null && bad "the engine of a killed agent is still running" ||
  ok "the engine of a killed agent exits by itself"
cl_start_node 2 1
for _ in $(seq 50); do [[ $(stat2 engine_state 2>/dev/null) == running ]] && break; sleep 0.2; done
ls "$CL_DIR/node2/cache" | grep -q '\.part$' && bad "a .part file survived the restart"
coord 12 run r18 d24 24 8 >"$W/restart.out" 2>&1 && check_answers "$W/restart.out" resnet18 "$W/r18.st" 24 &&
  [[ $(stat2 cache_bytes_fetched) == 0 && $(stat2 cache_checks) -ge 1 ]] &&
  ok "after a restart the cache is used again (nothing fetched, $(stat2 cache_checks) shard checked)" ||
  bad "restart: fetched $(stat2 cache_bytes_fetched) checks $(stat2 cache_checks): $(tail -2 "$W/restart.out")"

# --- a corrupted cached shard is found and fetched again ---
cl_kill 2
shard=$(ls "$CL_DIR/node2/cache" | grep "^$(cl_hex datasets/d24/shard-00000)\." | head -1)
printf 'XXXX' | dd of="$CL_DIR/node2/cache/$shard" bs=1 seek=5000 conv=notrunc 2>/dev/null
cl_start_node 2 1
for _ in $(seq 50); do [[ $(stat2 engine_state 2>/dev/null) == running ]] && break; sleep 0.2; done
coord 13 run r18 d24 24 8 >"$W/bad.out" 2>&1 && check_answers "$W/bad.out" resnet18 "$W/r18.st" 24 &&
  [[ $(stat2 cache_bad) -ge 1 && $(stat2 cache_bytes_fetched) -gt 0 ]] &&
  ok "a corrupted cached shard was detected and fetched again" ||
  bad "corrupt shard: bad=$(stat2 cache_bad) fetched=$(stat2 cache_bytes_fetched): $(tail -2 "$W/bad.out")"

# --- self reports the engine; an engine that dies at start is not restarted in a loop ---
self=$(cl_agent 2 self --json)
/usr/bin/python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["engine"] == "running" and d["latency_source"] == "ring" and d["epoch"] >= 13' "$self" &&
  ok "self --json: $self" || bad "self: $self"
mkdir -p "$CL_DIR/node5"
"$CL_BIN/agent" run --bind "$(cl_addr 5)" --join "$(cl_addr 1)" --data-dir "$CL_DIR/node5" \
  --key-file "$CL_KEY" --engine /bin/false >"$CL_DIR/node5/stdout" 2>&1 &
CL_PID[5]=$!
for _ in $(seq 100); do cl_agent 5 self 2>/dev/null | grep -q '^engine crashloop' && break; sleep 0.1; done
cl_agent 5 self | grep -q '^engine crashloop' && grep -q 'engine crashes at start' "$CL_DIR/node5/agent.log" &&
  ok "an engine that exits at once is reported (self: crashloop, after $(cl_agent 5 self | awk '$1 == "engine_restarts" {print $2}') tries), not restarted in a loop" ||
  bad "crash loop: $(cl_agent 5 self 2>&1 | tr '\n' ' ')"

checks_end
echo "all checks passed"
