#!/usr/bin/env bash
# Description: SDFS with a full disk.  Node 5 of 5 keeps its store on a
# 6 MiB tmpfs.  First its space check refuses what does not fit, and puts
# land on other nodes; then, restarted with the check off, it runs out of
# space partway through 7 MB writes.  Every put either succeeds (4 readable
# replicas) or fails with a clear error and leaves no trace: not in ls, not
# on any disk, no temporary file; node 5 keeps running and its store
# listing matches its disk.  Skips without the privilege to mount a tmpfs.
# Timeout: 180
set -u
source "$IDUNNO_ROOT/tests/cluster.sh"
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
sha() { sha256sum "$1" | cut -d' ' -f1; }
W=$CL_DIR/work
mkdir -p "$W" "$CL_DIR/node5"
mount -t tmpfs -o size=6m tmpfs "$CL_DIR/node5" 2>/dev/null ||
  { echo "SKIP: cannot mount a tmpfs: needs root"; exit 77; }
cleanup() {
  kill -9 "${CL_PID[@]}" 2>/dev/null
  wait 2>/dev/null
  [[ -n ${CL_KEEP:-} ]] && cp -r "$CL_DIR/node5" "$CL_DIR/node5.kept"
  umount -l "$CL_DIR/node5"
  cl_cleanup
}
trap cleanup EXIT
export IDUNNO_SDFS_RESERVE_KB=0

cl_start 5
cl_wait_converged 5 20 && ok "5 agents joined, node 5 on a 6 MiB tmpfs" || bad "no convergence"

# six puts of 2.5 MB at once: node 5 cannot hold them all
for ((f = 0; f < 6; f++)); do
  head -c 2500000 /dev/urandom >"$W/c$f"
  cl_agent $((f % 4 + 1)) put "$W/c$f" "full/c$f" >"$W/put$f" 2>&1 &
  pids[f]=$!
done
for ((f = 0; f < 6; f++)); do wait "${pids[f]}"; rc[f]=$?; done
# then six more, one at a time, of 1.5 MB
for ((f = 6; f < 12; f++)); do
  head -c 1500000 /dev/urandom >"$W/c$f"
  cl_agent 1 put "$W/c$f" "full/c$f" >"$W/put$f" 2>&1
  rc[f]=$?
done
stored=0 refused=0
for ((f = 0; f < 12; f++)); do
  if ((rc[f] == 0)); then
    stored=$((stored + 1))
    cl_agent 2 get --force "full/c$f" "$W/back" >/dev/null 2>&1 && [[ $(sha "$W/back") == "$(sha "$W/c$f")" ]] ||
      bad "c$f was acknowledged but does not read back"
    [[ $(cl_holders "full/c$f" | wc -l) == 4 ]] || bad "c$f acknowledged on $(cl_holders "full/c$f" | wc -l) nodes"
  else
    refused=$((refused + 1))
    grep -q -e "No space left" -e "could take the file" "$W/put$f" || bad "c$f failed unclearly: $(cat "$W/put$f")"
    [[ -z $(cl_holders "full/c$f") ]] || bad "failed put c$f left replicas on $(cl_holders "full/c$f")"
    cl_agent 1 holders "full/c$f" >/dev/null 2>&1 && bad "failed put c$f shows in holders"
  fi
done
((fails == 0)) && ok "$stored puts stored with 4 readable replicas, $refused failed cleanly with no trace"
for ((f = 6; f < 12; f++)); do ((rc[f] == 0)) || bad "c$f (after node 5 filled) did not land elsewhere: $(cat "$W/put$f")"; done
elsewhere=$(grep -h -c "127.0.0.5:$CL_PORT refused" "$CL_DIR"/node{1,2,3,4}/agent.log | awk '{ s += $1 } END { print s }')
((elsewhere > 0)) && ok "node 5 refused $elsewhere writes; those puts landed on other nodes" || bad "node 5 never refused a write"

# node 5 again, with no space check: 7 MB writes run out of space partway
cl_kill 5
IDUNNO_SDFS_RESERVE_KB=off cl_start_node 5 1
cl_wait_converged 5 20 || bad "node 5 did not rejoin"
for ((f = 12; f < 17; f++)); do
  head -c 7000000 /dev/urandom >"$W/c$f"
  cl_agent 1 put "$W/c$f" "full/c$f" >"$W/put$f" 2>&1
  rc[f]=$?
done
stored=0 refused=0
for ((f = 12; f < 17; f++)); do
  if ((rc[f] == 0)); then
    stored=$((stored + 1))
    [[ $(cl_holders "full/c$f" | grep -c -v '^5$') == 4 ]] || bad "c$f acknowledged but not on 4 other nodes"
  else
    refused=$((refused + 1))
    grep -q "No space left on device" "$W/put$f" || bad "c$f failed unclearly: $(cat "$W/put$f")"
    [[ -z $(cl_holders "full/c$f") ]] || bad "failed put c$f left replicas on $(cl_holders "full/c$f")"
    cl_agent 1 holders "full/c$f" >/dev/null 2>&1 && bad "failed put c$f shows in holders"
  fi
done
((refused > 0)) && grep -q "No space left" "$CL_DIR/node5/agent.log" &&
  ok "out of space partway: $refused of 5 puts failed with 'No space left on device' and left nothing; $stored stored" ||
  bad "no write ran out of space partway ($stored stored)"
ls -a "$(cl_store_dir 5)" | grep -q '^\.tmp-' && bad "temporary files left on node 5"
[[ $(cl_agent 5 store | awk '{print $1}' | sort) == \
   "$(for f in $(ls "$(cl_store_dir 5)" | grep '^[0-9a-f]*\.[0-9]\{20\}$'); do printf "$(sed 's/../\\x&/g' <<<"${f%.*}")\n"; done | sort)" ]] ||
  bad "node 5's store listing differs from its disk"
kill -0 "${CL_PID[5]}" && cl_agent 5 self >/dev/null && ok "node 5 still running and answering" || bad "node 5 died"
exit $((fails > 0))
