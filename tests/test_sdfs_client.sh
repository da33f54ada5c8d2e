#!/usr/bin/env bash
# Description: the in-loop SDFS client (agent/sdfs/sdfs_client.c), which
# the tasks layer uses for models, dataset shards and results, against 5
# real agents: puts from a file and from a buffer (0 B, 1 B, 3.5 MB) are
# read back byte for byte by the CLI and by the client itself into a file
# and into a buffer; a get asks for a named older version; a missing name
# is -ENOENT, a bad name is refused, a file above a get's size limit is
# -EFBIG; and with two of a file's holders killed the client still reads
# it from the others.
# Timeout: 120
set -u
source "$IDUNNO_ROOT/tests/cluster.sh"
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
sha() { sha256sum "$1" | cut -d' ' -f1; }
P=$CL_BIN/tests/probe_sdfs_client
W=$CL_DIR/work
mkdir -p "$W"

cl_start 5
cl_wait_converged 5 20 && ok "5 agents joined" || bad "no convergence"
members=$(for i in 1 2 3 4 5; do printf '%s,' "$(cl_addr "$i")"; done)
members=${members%,}
probe() { "$P" "$CL_KEY" "$members" "$@"; }

: >"$W/zero"
printf x >"$W/one"
head -c 3500000 /dev/urandom >"$W/big"
for f in zero one big; do
  for how in put putbuf; do
    out=$(probe "$how" "c/$f-$how" "$W/$f")
    [[ $out == "ok "*" $(stat -c %s "$W/$f") "* ]] || { bad "$how $f: $out"; continue; }
    rm -f "$W/back"
    cl_agent 2 get --force "c/$f-$how" "$W/back" >/dev/null 2>&1 && [[ $(sha "$W/back") == "$(sha "$W/$f")" ]] &&
      ok "$how $f: the CLI reads the same bytes" || bad "$how $f: the CLI read differs"
    for g in get getbuf; do
      rm -f "$W/back"
      out=$(probe "$g" "c/$f-$how" "$W/back")
      [[ $out == "ok "* && -f $W/back && $(sha "$W/back") == "$(sha "$W/$f")" ]] &&
        ok "$how $f, $g: same bytes ($out)" || bad "$how $f, $g: $out"
    done
  done
done

# versions: an older one by number, the newest by default
v1=$(probe put c/ver "$W/one" | awk '{print $2}')
probe put c/ver "$W/big" >/dev/null
out=$(probe get c/ver "$W/back" "$v1")
# the get's CRC32C of "x", computed here bit by bit
crc_x=$(/usr/bin/python3 -c '
c = 0xFFFFFFFF
for b in b"x":
    c ^= b
    for _ in range(8):
        c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
print("%08x" % (c ^ 0xFFFFFFFF))')
[[ $out == "ok $v1 1 $crc_x" && $(cat "$W/back") == x ]] && ok "an older version by number, its CRC32C $crc_x" || bad "version $v1: $out (crc want $crc_x)"
out=$(probe get c/ver "$W/back")
[[ $(sha "$W/back") == "$(sha "$W/big")" ]] && ok "the newest by default" || bad "newest: $out"

out=$(probe get c/none "$W/back")
[[ $out == "error: No such file or directory" ]] && ok "missing name: $out" || bad "missing name: $out"
out=$(probe get ../etc/passwd "$W/back")
[[ $out == "error: Invalid argument" ]] && ok "bad name refused: $out" || bad "bad name: $out"
out=$(probe getbuf c/big-put "$W/back" 1000)
[[ $out == "error: File too large" ]] && ok "size limit: $out" || bad "size limit: $out"

# two holders of c/big-put killed: read from the others
mapfile -t holders < <(cl_holders c/big-put)
((${#holders[@]} == 4)) || bad "c/big-put on ${#holders[@]} nodes"
cl_kill "${holders[0]}"
cl_kill "${holders[1]}"
rm -f "$W/back"
out=$(probe getbuf c/big-put "$W/back")
[[ $out == "ok "* && $(sha "$W/back") == "$(sha "$W/big")" ]] &&
  ok "holders ${holders[0]} and ${holders[1]} killed: read from the others ($out)" || bad "after kills: $out"

((fails == 0)) || { echo "$fails check(s) failed"; exit 1; }
echo "all checks passed"
