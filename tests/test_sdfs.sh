#!/usr/bin/env bash
# Description: SDFS on 6 real agents: round trips of 0 B, 1 B and 24 MB
# files (sha256 equal, read through other nodes); versions, get-versions
# and its delimiters; ls and store against the files really on disk; 4
# replicas of everything; delete, also one a holder missed while down;
# bad names refused by the CLI and, sent
# authenticated straight to an agent, by the agent, with nothing written
# anywhere; forged and truncated chunk streams leave nothing; two clients
# putting one name at once get two versions, in one order, everywhere; a
# flipped byte in the replica a get reads first is never served, the get
# returns the right bytes, and the replica is repaired; one in a replica
# nobody reads is found by the background scrub and repaired.
# Timeout: 240
set -u
source "$IDUNNO_ROOT/tests/cluster.sh"
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
sha() { sha256sum "$1" | cut -d' ' -f1; }
W=$CL_DIR/work
mkdir -p "$W"

export IDUNNO_SDFS_SCRUB_MS=200 # every agent checks one of its replicas every 0.2 s
cl_start 6
cl_wait_converged 6 20 && ok "6 agents joined" || bad "no convergence"

# --- round trips ---
: >"$W/zero"
printf x >"$W/one"
head -c 24000000 /dev/urandom >"$W/large"
for f in zero one large; do
  cl_agent 1 put "$W/$f" "rt/$f" >"$W/put.out" 2>&1 || { bad "put $f: $(cat "$W/put.out")"; continue; }
  grep -q "^put rt/$f version [0-9]* ($(stat -c %s "$W/$f") bytes) on \(127[^ ]* \)\{3\}127[^ ]*$" "$W/put.out" ||
    bad "put $f said: $(cat "$W/put.out")"
  for n in 2 5; do
    rm -f "$W/back"
    cl_agent "$n" get --force "rt/$f" "$W/back" >/dev/null 2>"$W/err" || bad "get $f through node $n: $(cat "$W/err")"
    [[ -f $W/back && $(sha "$W/back") == "$(sha "$W/$f")" ]] || bad "get $f through node $n: content differs"
  done
  [[ $(cl_holders "rt/$f" | wc -l) == 4 ]] || bad "rt/$f on $(cl_holders "rt/$f" | wc -l) nodes, not 4"
done
((fails == 0)) && ok "0 B, 1 B and 24 MB round trips, sha256 equal, 4 replicas each"
cl_agent 3 get --force rt/missing "$W/nothing" 2>"$W/err" && bad "get of a missing file succeeded"
grep -q "no such file" "$W/err" && [[ ! -e $W/nothing ]] && ok "a missing file: 'no such file', no local file" ||
  bad "missing file: $(cat "$W/err")"

# --- versions ---
for v in 1 2 3; do
  echo "content $v" >"$W/v$v"
  cl_agent $((v + 1)) put "$W/v$v" ver/f >/dev/null || bad "put version $v"
done
cl_agent 6 get --force ver/f "$W/vback" >/dev/null && cmp -s "$W/vback" "$W/v3" && ok "get returns the newest version" ||
  bad "get did not return version 3"
cl_agent 5 get-versions --force ver/f 2 "$W/gv" >/dev/null || bad "get-versions failed"
want=$(printf '%s\n' "$(cat "$W/v3")" "" "$(cat "$W/v2")" "")
got=$(sed -E 's/^==> ver\/f version [0-9]+ \(10 bytes\) <==$/DELIM/' "$W/gv")
[[ $(grep -c '^DELIM$' <<<"$got") == 2 && $(grep -v '^DELIM$' <<<"$got") == "$(printf 'content 3\n\ncontent 2\n')" ]] &&
  ok "get-versions 2: the newest two, newest first, each after a delimiter line" || bad "get-versions output: $(cat "$W/gv")"
vs=$(grep -o 'version [0-9]*' "$W/gv" | awk '{print $2}')
[[ $(sort -rn <<<"$vs") == "$vs" ]] || bad "versions not in descending order: $vs"
cl_agent 5 get-versions --force ver/f 9 "$W/gv" >/dev/null && [[ $(grep -c '^==> ' "$W/gv") == 3 ]] &&
  ok "get-versions 9 of 3 gives the 3" || bad "get-versions 9"
cl_agent 5 get-versions --force ver/f 0 "$W/gv" 2>/dev/null && bad "get-versions with N=0 accepted"

# --- ls and store against the disk ---
agree=1
for name in rt/zero rt/one rt/large ver/f; do
  ls_nodes=$(cl_agent 1 holders "$name" | awk '{print $1}' | sed 's/^127\.0\.0\.\([0-9]*\):.*/\1/' | sort -n)
  [[ $ls_nodes == "$(cl_holders "$name")" ]] || { agree=0; bad "ls $name says $ls_nodes, disk says $(cl_holders "$name")"; }
  [[ $(cl_agent 1 holders "$name" | awk '{print $2}' | sort -u) == "$([[ $name == ver/f ]] && echo 3 || echo 1)" ]] ||
    { agree=0; bad "ls $name: version counts $(cl_agent 1 holders "$name" | awk '{print $2}' | sort -u | tr '\n' ' ')"; }
done
for i in $(seq 6); do
  listed=$(cl_agent "$i" store | awk '{print $1, $3}' | sort)
  ondisk=$(ls "$(cl_store_dir "$i")" | grep '^[0-9a-f]*\.[0-9]\{20\}$' | while read -r f; do
    printf '%s %d\n' "$(printf "$(sed 's/../\\x&/g' <<<"${f%.*}")")" "$((10#${f##*.}))"; done | sort)
  [[ $listed == "$ondisk" ]] || { agree=0; bad "node $i: store lists [$listed], disk has [$ondisk]"; }
done
((agree)) && ok "ls and store agree with the replica files on every node"

# --- delete ---
cl_agent 2 delete ver/f >/dev/null || bad "delete failed"
cl_agent 3 get --force ver/f "$W/x" 2>/dev/null && bad "a deleted file is still readable"
[[ -z $(cl_holders ver/f) ]] && ! cl_agent 1 holders ver/f 2>/dev/null && ok "delete removes every version from every node" ||
  bad "after delete: held by $(cl_holders ver/f)"
cl_agent 2 delete ver/f 2>/dev/null && bad "deleting a missing file succeeded"

# a delete that a holder misses (it is down) stays a delete when it returns
echo "to be deleted" >"$W/d1"
cl_agent 1 put "$W/d1" del/f >/dev/null || bad "put del/f"
down=$(cl_holders del/f | grep -v '^1$' | head -1)
cl_kill "$down"
cl_agent 1 delete del/f >/dev/null || bad "delete with node $down down"
cl_start_node "$down" 1
cl_wait_converged 6 20 || bad "node $down did not rejoin"
deadline=$((SECONDS + 20))
while ((SECONDS < deadline)) && [[ -n $(cl_holders del/f) ]]; do sleep 0.3; done
[[ -z $(cl_holders del/f) ]] && ! cl_agent 3 get --force del/f "$W/x" 2>/dev/null &&
  ok "node $down missed the delete while down; back, it dropped its copy (nothing resurrected)" ||
  bad "del/f came back: held by $(cl_holders del/f)"
echo "put again" >"$W/d2"
cl_agent 2 put "$W/d2" del/f >/dev/null && cl_agent 4 get --force del/f "$W/x" >/dev/null && cmp -s "$W/x" "$W/d2" &&
  [[ $(cl_holders del/f | wc -l) == 4 ]] && ok "a put after the delete makes the name live again" ||
  bad "put after delete"

# --- bad names ---
before=$(find "$CL_DIR" -newer "$W/v3" -type f | sort)
for name in ../escape /abs/path a//b a/./b a/../../b "a b" "$(printf 'x%.0s' $(seq 101))" ""; do
  cl_agent 1 put "$W/one" "$name" 2>"$W/err"
  rc=$?
  [[ $rc == 2 ]] && grep -q "bad name" "$W/err" || bad "put to '$name': exit $rc: $(cat "$W/err")"
done
cl_agent 1 get --force ../x "$W/x" 2>/dev/null && bad "get of ../x accepted"
/usr/bin/python3 "$IDUNNO_ROOT/tests/sdfs_rogue.py" 127.0.0.1 "$CL_PORT" "$CL_KEY" >"$W/rogue" 2>&1 || bad "rogue: $(cat "$W/rogue")"
grep -q "^refused 8 bad names$" "$W/rogue" || bad "rogue names: $(cat "$W/rogue")"
grep -q "^forged chunk refused$" "$W/rogue" || bad "forged chunk: $(cat "$W/rogue")"
grep -q "^stream 25 answered 16$" "$W/rogue" || bad "25 streams: $(cat "$W/rogue")"
sleep 0.5
after=$(find "$CL_DIR" -newer "$W/v3" -type f | grep -v -e '/agent.log$' -e '/stdout$' -e "^$W/" | sort)
new=$(comm -13 <(echo "$before") <(echo "$after"))
[[ -z $new ]] && ok "bad names, forged and cut streams refused, a 25th stream told EBUSY; no file written anywhere" ||
  bad "files appeared: $new"
for r in rogue/forged rogue/cut rogue/hold0 rogue/one-too-many; do [[ -z $(cl_holders "$r") ]] || bad "$r stored"; done
[[ $(cl_agent 1 stats | awk '$1 == "sdfs_bad_chunks" {print $2}') -ge 1 ]] || bad "no bad chunk counted"
[[ $(cl_running | wc -l) == 6 ]] || bad "an agent died"

# --- two clients, one name, at once ---
head -c 3000000 /dev/urandom >"$W/c1"
head -c 3000000 /dev/urandom >"$W/c2"
cl_agent 2 put "$W/c1" race/f >"$W/r1" 2>&1 &
p1=$!
cl_agent 5 put "$W/c2" race/f >"$W/r2" 2>&1 &
p2=$!
wait $p1 && wait $p2 || bad "a concurrent put failed: $(cat "$W/r1" "$W/r2")"
v1=$(awk '/^put / {print $4}' "$W/r1")
v2=$(awk '/^put / {print $4}' "$W/r2")
[[ -n $v1 && -n $v2 && $v1 != "$v2" ]] || bad "versions '$v1' and '$v2'"
orders=$(for i in $(cl_holders race/f); do ls "$(cl_store_dir "$i")" | grep "^$(cl_hex race/f)\." | sort | tr '\n' ' '; echo; done | sort -u)
[[ $(cl_holders race/f | wc -l) == 4 && $(wc -l <<<"$orders") == 1 && $(wc -w <<<"$orders") == 2 ]] &&
  ok "two concurrent puts: versions $v1 and $v2, both on the same 4 nodes$(grep -h -v "^put " "$W/r1" "$W/r2" | sed "s/^/; /" | tr -d "\n")" || bad "replica sets differ: $orders"
newest=c1
((v2 > v1)) && newest=c2 || newest=c1
cl_agent 3 get --force race/f "$W/rback" >/dev/null && cmp -s "$W/rback" "$W/$newest" && ok "get returns the later of the two" ||
  bad "get after the race"
cl_agent 3 get-versions --force race/f 2 "$W/rgv" >/dev/null
[[ $(grep -a -c '^==> race/f version' "$W/rgv") == 2 ]] || bad "get-versions after the race"

# --- a flipped byte ---
first=$(cl_agent 1 holders rt/large | head -1 | sed 's/^127\.0\.0\.\([0-9]*\):.*/\1/')
file=$(ls "$(cl_store_dir "$first")"/"$(cl_hex rt/large)".*)
printf '\xff' | dd of="$file" bs=1 seek=5000000 conv=notrunc status=none
cmp -s <(head -c 24000000 "$file") "$W/large" && bad "the flip did not change the replica"
cl_agent 4 get --force rt/large "$W/fback" >/dev/null 2>"$W/err" && [[ $(sha "$W/fback") == "$(sha "$W/large")" ]] &&
  ok "the corrupt replica (node $first, read first) was not served: get returned the right bytes" ||
  bad "get with a corrupt replica: $(cat "$W/err")"
# the get found it (and went on with another replica), or, rarely, node
# $first's scrub found it first: either way it was never served
grep -q "stopped at byte" "$W/err" || grep -q "check of rt/large.*corrupt" "$CL_DIR/node$first/agent.log" ||
  bad "neither the client nor the scrub met the corrupt replica: $(cat "$W/err")"
[[ $(cl_agent "$first" stats | awk '$1 == "sdfs_corrupt_replicas" {print $2}') == 1 ]] ||
  bad "node $first did not count the corrupt replica"
deadline=$((SECONDS + 20))
while ((SECONDS < deadline)); do
  f=$(ls "$(cl_store_dir "$first")"/"$(cl_hex rt/large)".* 2>/dev/null)
  [[ -n $f ]] && cmp -s <(head -c 24000000 "$f") "$W/large" && break
  sleep 0.5
done
((SECONDS < deadline)) && ok "node $first's replica repaired with the right bytes in $((20 - deadline + SECONDS)) s" ||
  bad "node $first's replica not repaired"
# exactly 4 again: copies made while node $down was away are dropped by the
# rounds after it came back, which may still be under way
deadline=$((SECONDS + 20))
while ((SECONDS < deadline)) && [[ $(cl_holders rt/large | wc -l) != 4 ]]; do sleep 0.3; done
[[ $(cl_holders rt/large | wc -l) == 4 ]] || bad "rt/large on $(cl_holders rt/large | wc -l) nodes"

# a flipped byte in a replica no get reads (the last in rank order): the
# scrub finds it and it is repaired
last=$(cl_agent 1 holders rt/one | tail -1 | sed 's/^127\.0\.0\.\([0-9]*\):.*/\1/')
file=$(ls "$(cl_store_dir "$last")"/"$(cl_hex rt/one)".*)
printf 'y' | dd of="$file" bs=1 seek=0 conv=notrunc status=none
deadline=$((SECONDS + 30))
while ((SECONDS < deadline)); do
  f=$(ls "$(cl_store_dir "$last")"/"$(cl_hex rt/one)".* 2>/dev/null)
  [[ -n $f ]] && [[ $(head -c 1 "$f") == x ]] && break
  sleep 0.3
done
((SECONDS < deadline)) && grep -q "check of rt/one.*corrupt" "$CL_DIR/node$last/agent.log" &&
  ok "a corrupt replica nobody read (node $last) found by the scrub and repaired in $((30 - deadline + SECONDS)) s" ||
  bad "node $last's corrupt rt/one not found or not repaired"
[[ $(cl_agent "$last" stats | awk '$1 == "sdfs_replicas_checked" {print $2}') -gt 0 ]] || bad "no replica checked"

[[ $(cl_running | wc -l) == 6 ]] || bad "an agent died"
ls "$CL_DIR"/node*/sdfs/.tmp-* 2>/dev/null && bad "temporary files left behind"
exit $((fails > 0))
