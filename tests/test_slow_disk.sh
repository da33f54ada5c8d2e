#!/usr/bin/env bash
# Description: a slow disk does not stall the agent's event loop.  5 real
# agents; nodes 2 and 3 run with tests/slowio.c preloaded on their data
# folder, so every write, pwrite, writev, fsync, fdatasync and
# sync_file_range through libc on a file there sleeps 200 ms: one such
# call from the loop thread holds the loop past SWIM's 40 ms probe
# timeout.  For 15 s, SDFS puts and deletes go through every node: every
# put and delete must succeed, no node may be declared failed (counted in
# the logs as test_cluster_faults does), and, from the shim's record, the
# loop thread of a slowed agent must make no such call after the cluster
# formed (each one is listed; the few in KNOWN_STALLS, reported and not
# yet fixed, are listed as KNOWN instead of failing).  The shim cannot
# slow io_uring operations (the kernel runs them: SDFS file writes and
# fsyncs, the log's writes) nor stdio's internal writes: this proves the
# loop makes no synchronous write or sync call on its data, not that the
# kernel side of io_uring copes with a slow disk.  Skips when LD_PRELOAD
# cannot reach the agent.
# Timeout: 120
set -u
source "$IDUNNO_ROOT/tests/cluster.sh"
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
SHIM=$(realpath -m "$CL_BIN/tests/libslowio.so")
SLOW_MS=200
SLOW_NODES="2 3"
# Slowed calls from the loop thread already reported and not yet fixed
# (CALL FILE, as listed below), shown as KNOWN instead of failing.  Remove
# an entry once fixed.  (SDFS's folder fsyncs after a delete went to
# io_uring in issue 11.)
KNOWN_STALLS=()
W=$CL_DIR/work
mkdir -p "$W"

[[ -f $SHIM ]] || { echo "SKIP: $SHIM is not built (make all)"; exit 77; }
ldd "$CL_BIN/agent" >/dev/null 2>&1 || { echo "SKIP: bin/agent is not dynamically linked: LD_PRELOAD cannot reach it"; exit 77; }
# The shim must really slow a write here (not refused, e.g. in secure mode).
mkdir -p "$W/probe"
t0=$(date +%s%N)
LD_PRELOAD=$SHIM SLOWIO_DIR=$W/probe SLOWIO_MS=$SLOW_MS SLOWIO_LOG=$W/probe.log \
  dd if=/dev/zero of="$W/probe/f" bs=512 count=1 conv=fsync status=none 2>/dev/null
ms=$((($(date +%s%N) - t0) / 1000000))
[[ $(grep -c ' fsync ' "$W/probe.log" 2>/dev/null) == 1 ]] && ((ms >= 2 * SLOW_MS)) ||
  { echo "SKIP: LD_PRELOAD of $SHIM has no effect here (write + fsync took $ms ms)"; exit 77; }
ok "the shim works: one write and one fsync under the slow folder took $ms ms"

# Nodes 1..5, the slowed ones with the shim (a sanitizer build's runtime
# insists on coming first in the process; the shim does not need to).
start_node() {
  if [[ " $SLOW_NODES " == *" $1 "* ]]; then
    LD_PRELOAD=$SHIM SLOWIO_DIR=$CL_DIR/node$1 SLOWIO_MS=$SLOW_MS SLOWIO_LOG=$CL_DIR/slowio.$1 \
      ASAN_OPTIONS=verify_asan_link_order=0 cl_start_node "$@"
  else
    cl_start_node "$@"
  fi
}
CL_N=5
start_node 1
sleep 0.2
for i in 2 3 4 5; do start_node "$i" 1; done
cl_wait_converged 5 30 && ok "5 agents joined, nodes $SLOW_NODES on a ${SLOW_MS} ms disk" || bad "no convergence"
for i in $SLOW_NODES; do
  grep -q libslowio "/proc/${CL_PID[$i]}/maps" 2>/dev/null && continue
  echo "SKIP: the shim is not loaded in node $i's agent (pid ${CL_PID[$i]})"; exit 77
done

# From here on, every slowed call an agent's main thread (the loop) makes
# is a stall of the loop: remember where each record file stands.
declare -A mark
for i in $SLOW_NODES; do mark[$i]=$(wc -l <"$CL_DIR/slowio.$i"); done
failed0=$(cat "$CL_DIR"/node*/agent.log | grep -c -- '-> failed')
sus0=$(cat "$CL_DIR"/node*/agent.log | grep -c -- '-> suspect')

head -c 200000 /dev/urandom >"$W/data"
puts=0 put_fail=0 dels=0 del_fail=0 k=0
t0=$SECONDS
while ((SECONDS - t0 < 15)); do
  k=$((k + 1)) n=$((k % 5 + 1))
  if cl_agent "$n" put "$W/data" "slow/f$k" >"$W/out" 2>&1; then puts=$((puts + 1)); else
    put_fail=$((put_fail + 1)); echo "put slow/f$k through node $n: $(cat "$W/out")"; fi
  if ((k % 2 == 0)); then
    if cl_agent "$(((k + 2) % 5 + 1))" delete "slow/f$((k - 1))" >"$W/out" 2>&1; then dels=$((dels + 1)); else
      del_fail=$((del_fail + 1)); echo "delete slow/f$((k - 1)): $(cat "$W/out")"; fi
  fi
done
secs=$((SECONDS - t0))
sleep 2 # a suspicion raised at the end has time to become a failure
((puts > 0 && put_fail == 0)) && ok "$puts puts in $secs s, all acknowledged" || bad "$put_fail of $((puts + put_fail)) puts failed"
((dels > 0 && del_fail == 0)) && ok "$dels deletes, all done" || bad "$del_fail of $((dels + del_fail)) deletes failed"

failed=$(cat "$CL_DIR"/node*/agent.log | grep -c -- '-> failed')
sus=$(($(cat "$CL_DIR"/node*/agent.log | grep -c -- '-> suspect') - sus0))
((failed == failed0)) && ok "no node declared failed ($sus suspicions, all refuted)" ||
  bad "$((failed - failed0)) failure declarations: $(grep -h -- '-> failed' "$CL_DIR"/node*/agent.log | tail -5)"

for i in $SLOW_NODES; do
  # shim records "MONO_MS TID PID CALL PATH": the loop is the thread whose
  # TID is the PID.  Summed up as "KNOWN|NEW<tab>CALL FILE<tab>COUNT", the
  # file relative to the data folder.
  sum=$(tail -n +$((mark[$i] + 1)) "$CL_DIR/slowio.$i" |
    awk -v p="${CL_PID[$i]}" -v known="$(IFS='|'; echo "${KNOWN_STALLS[*]}")" '
      BEGIN { n = split(known, k, "|"); for (j = 1; j <= n; j++) isknown[k[j]] = 1 }
      $2 == p && $3 == p {
        f = $5; sub(".*/node[0-9]+/", "", f); sub("[.][0-9]+$", ".VERSION", f)
        call = $4 " " f; c[(call in isknown ? "KNOWN" : "NEW") "\t" call]++ }
      END { for (x in c) print x "\t" c[x] }')
  known=$(awk -F'\t' '$1 == "KNOWN" { printf "%s%d x %s", s, $3, $2; s = "; " }' <<<"$sum")
  new=$(awk -F'\t' '$1 == "NEW" { printf "%s%d x %s", s, $3, $2; s = "; " }' <<<"$sum")
  [[ -z $known ]] || echo "KNOWN node $i: the loop thread stalled ${SLOW_MS} ms each on: $known"
  [[ -z $new ]] && ok "node $i: no other synchronous write or sync on its data folder from the loop thread" ||
    bad "node $i: the loop thread stalled ${SLOW_MS} ms each on: $new"
done
((fails == 0)) || { echo "$fails check(s) failed"; exit 1; }
