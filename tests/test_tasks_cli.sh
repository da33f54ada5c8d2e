#!/usr/bin/env bash
# Description: models and datasets in SDFS on 4 real agents.  bench/mkdataset
# is deterministic (same seed, same bytes); `dataset put` of 20 generated
# JPEGs stores one shard (the files back to back, byte for byte) and an
# index that an independent decoder of the documented format reads (magic,
# version, CRC32C, every shard's SDFS version, size and CRC32C, every
# image's range and name); `dataset ls` (text and --json) agrees; a folder
# holding a non-JPEG or a truncated JPEG is refused naming that file and
# nothing of it is stored anywhere; `model put` of `engine weights` output
# stores both models (the same bytes come back) and `model ls` (text and
# --json) shows their version, size and architecture; a truncated copy and
# a file naming no architecture are refused with the engine's reason and
# nothing is stored; bad names are refused.
# Timeout: 240
set -u
A=$IDUNNO_BIN/agent
E=$IDUNNO_BIN/engine
MK=$IDUNNO_ROOT/bench/mkdataset
PY=/usr/bin/python3
$PY -c 'import PIL, numpy' 2>/dev/null || { echo "SKIP: python3-pil or python3-numpy is not installed (make deps)"; exit 77; }
source "$IDUNNO_ROOT/tests/cluster.sh"
source "$IDUNNO_ROOT/tests/cluster_jobs.sh"
dirsum() { (cd "$1" && sha256sum ./*) | sha256sum | cut -d' ' -f1; }
# expect CODE NEEDLE CMD...: exit code CODE and NEEDLE on stderr
expect() {
  local code=$1 needle=$2; shift 2
  "$@" >"$W/out" 2>"$W/err"; local rc=$?
  if [[ $rc == "$code" ]] && grep -qF -- "$needle" "$W/err"; then ok "${*:2:3} ... -> $rc: $(head -c 160 "$W/err")"
  else bad "$* -> exit $rc (want $code), stderr: $(cat "$W/err")"; fi
}
# nothing under PREFIX in any running node's store
stored_under() { local i; for i in $(cl_running); do cl_agent "$i" store; done | grep -c "^$1" ; }

# --- the generator ---
if ! "$MK" --count 20 --seed 5 --out "$W/ds" >"$W/mk.out" 2>&1; then
  grep -q "no photographs" "$W/mk.out" && { echo "SKIP: $(cat "$W/mk.out")"; exit 77; }
  bad "mkdataset: $(cat "$W/mk.out")"; exit 1
fi
echo "     $(cat "$W/mk.out")"
"$MK" --count 20 --seed 5 --out "$W/ds2" >/dev/null && "$MK" --count 20 --seed 6 --out "$W/ds3" >/dev/null ||
  bad "mkdataset runs failed"
[[ $(dirsum "$W/ds") == "$(dirsum "$W/ds2")" ]] && ok "mkdataset: same seed, same sha256 ($(dirsum "$W/ds" | head -c 16))" ||
  bad "mkdataset: two runs of seed 5 differ"
[[ $(dirsum "$W/ds") != "$(dirsum "$W/ds3")" ]] && ok "mkdataset: another seed, other bytes" || bad "seeds 5 and 6 gave the same files"
$PY - "$W/ds" <<'PY' && ok "mkdataset: 20 JPEGs of ImageNet's sizes, ~110 KB on average" || bad "mkdataset output"
import os, sys
from PIL import Image
d = sys.argv[1]
files = sorted(os.listdir(d))
sizes = [os.path.getsize(os.path.join(d, f)) for f in files]
dims = [Image.open(os.path.join(d, f)).size for f in files]
assert files == [f"img-{i:05d}.jpg" for i in range(20)], files
assert all(Image.open(os.path.join(d, f)).format == "JPEG" for f in files)
assert all(250 <= min(w, h) and max(w, h) <= 800 for w, h in dims), dims
assert 60e3 <= sum(sizes) / len(sizes) <= 180e3, sum(sizes) / len(sizes)
PY

cl_start 4
cl_wait_converged 4 20 && ok "4 agents joined" || bad "no convergence"

# --- dataset put and ls ---
total=$(cat "$W"/ds/*.jpg | wc -c)
cl_agent 1 dataset put d1 "$W/ds" >"$W/put.out" 2>"$W/err" || bad "dataset put: $(cat "$W/err")"
grep -qE "^dataset d1: 20 images, 1 shard, $total bytes; index datasets/d1/index version [0-9]+$" "$W/put.out" &&
  ok "dataset put: $(cat "$W/put.out")" || bad "dataset put said: $(cat "$W/put.out")"
cl_agent 2 dataset ls >"$W/ls.out" || bad "dataset ls failed"
awk -v t="$total" '$1 == "d1" && $2 == 20 && $3 == 1 && $4 == t { f = 1 } END { exit !f }' "$W/ls.out" &&
  ok "dataset ls: $(grep '^d1 ' "$W/ls.out" | tr -s ' ')" || bad "dataset ls: $(cat "$W/ls.out")"
cl_agent 3 dataset ls --json >"$W/ls.json" && cl_agent 4 dataset ls d1 --json >"$W/ls1.json" || bad "dataset ls --json failed"
cl_agent 4 dataset ls d1 >"$W/ls1.out" || bad "dataset ls d1 failed"
$PY - "$W" "$total" <<'PY' && ok "dataset ls --json and ls d1 --json: 20 images back to back, the files' names and sizes" || bad "dataset ls json: $(cat "$W/ls.json") / $(head -c 400 "$W/ls1.json")"
import json, os, sys
w, total = sys.argv[1], int(sys.argv[2])
all_ = json.load(open(f"{w}/ls.json"))
assert [d["name"] for d in all_] == ["d1"], all_
assert all_[0]["images"] == 20 and all_[0]["shards"] == 1 and all_[0]["bytes"] == total, all_
one = json.load(open(f"{w}/ls1.json"))
assert one["name"] == "d1" and one["bytes"] == total and one["version"] == all_[0]["version"], one
assert [s["file"] for s in one["shards"]] == ["datasets/d1/shard-00000"], one["shards"]
files = sorted(os.listdir(f"{w}/ds"))
at = 0
for i, (im, f) in enumerate(zip(one["images"], files)):
    assert im["index"] == i and im["shard"] == 0 and im["name"] == f, im
    assert im["offset"] == at and im["length"] == os.path.getsize(f"{w}/ds/{f}"), im
    at += im["length"]
assert len(one["images"]) == 20 and at == total
PY
[[ $(grep -c '^[0-9]* *0 .* img-000[0-9][0-9]\.jpg$' "$W/ls1.out") == 20 ]] && ok "dataset ls d1: a line per image" ||
  bad "dataset ls d1: $(cat "$W/ls1.out")"

# --- the files in SDFS, read back and decoded independently ---
for f in index shard-00000; do
  [[ $(cl_agent 1 holders "datasets/d1/$f" | wc -l) == 4 ]] || bad "datasets/d1/$f is not on 4 agents: $(cl_agent 1 holders "datasets/d1/$f" 2>&1)"
  cl_agent 2 get --force "datasets/d1/$f" "$W/$f" >/dev/null || bad "get datasets/d1/$f"
done
cat "$W"/ds/*.jpg | cmp -s - "$W/shard-00000" && ok "the shard is the 20 files back to back, byte for byte" ||
  bad "the shard differs from the files"
shard_v=$(cl_agent 3 holders datasets/d1/shard-00000 | awk '{ print $NF }' | sort -u)
$PY - "$W" "$shard_v" <<'PY' && ok "the index decodes: magic, version 1, CRC32C, the shard's SDFS version $shard_v, size and CRC32C, 20 ranges and names" || bad "index decode"
import os, struct, sys
w, shard_v = sys.argv[1], int(sys.argv[2])
T = []
for n in range(256):  # CRC32C, reflected 0x82F63B78
    c = n
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    T.append(c)
def crc32c(b):
    c = 0xFFFFFFFF
    for x in b:
        c = T[(c ^ x) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF
ix = open(f"{w}/index", "rb").read()
shard = open(f"{w}/shard-00000", "rb").read()
assert ix[:4] == b"IDDX", ix[:4]
version, flags, nshards, nimages = struct.unpack_from("<HHII", ix, 4)
assert (version, flags, nshards, nimages) == (1, 0, 1, 20)
assert struct.unpack_from("<I", ix, len(ix) - 4)[0] == crc32c(ix[:-4]), "index checksum"
sv, size, crc = struct.unpack_from("<QII", ix, 16)
assert sv == shard_v and size == len(shard) and crc == crc32c(shard), (sv, size, crc)
at = 32
files = sorted(os.listdir(f"{w}/ds"))
for i in range(nimages):
    s, off, length, nl = struct.unpack_from("<IIIH", ix, at)
    name = ix[at + 14:at + 14 + nl].decode()
    at += 14 + nl
    assert s == 0 and name == files[i], (s, name)
    assert shard[off:off + length] == open(f"{w}/ds/{name}", "rb").read(), name
assert at == len(ix) - 4
PY

# --- bad datasets: nothing stored ---
cp -r "$W/ds" "$W/bad1" && echo "not a picture" >"$W/bad1/notes.txt"
expect 1 "bad1/notes.txt: not a JPEG" cl_agent 1 dataset put d2 "$W/bad1"
cp -r "$W/ds" "$W/bad2" && head -c 300 "$W/ds/img-00004.jpg" >"$W/bad2/img-00004b.jpg"
expect 1 "bad2/img-00004b.jpg: not a JPEG" cl_agent 1 dataset put d2 "$W/ds/img-00000.jpg" "$W/bad2"
[[ $(stored_under datasets/d2/) == 0 ]] && ! cl_agent 2 dataset ls d2 2>/dev/null &&
  ok "refused datasets left nothing under datasets/d2/ on any agent" || bad "datasets/d2/ has files: $(stored_under datasets/d2/)"
expect 2 "bad name" cl_agent 1 dataset put D2 "$W/ds"
expect 2 "bad name" cl_agent 1 dataset put "$(printf 'x%.0s' $(seq 33))" "$W/ds"
expect 4 "no such dataset" cl_agent 1 dataset ls nosuch
expect 1 "No such file" cl_agent 1 dataset put d3 "$W/nothing-here"

# --- models ---
$E weights --model resnet18 --seed 2 --out "$W/r18.st" >/dev/null && $E weights --model alexnet --seed 2 --out "$W/alex.st" >/dev/null ||
  bad "engine weights failed"
declare -A V
for m in r18:resnet18:122 alex:alexnet:16; do
  IFS=: read -r name arch tensors <<<"$m"
  bytes=$(stat -c %s "$W/$name.st")
  cl_agent 1 model put "$name" "$W/$name.st" >"$W/mput" 2>"$W/err" || bad "model put $name: $(cat "$W/err")"
  if grep -qE "^model $name: $arch, $tensors tensors, $bytes bytes, stored as models/$name.safetensors version [0-9]+$" "$W/mput"; then
    ok "model put: $(cat "$W/mput")"
  else bad "model put $name said: $(cat "$W/mput")"; fi
  V[$name]=$(awk '{ print $NF }' "$W/mput")
  cl_agent 3 get --force "models/$name.safetensors" "$W/$name.back" >/dev/null && cmp -s "$W/$name.st" "$W/$name.back" ||
    bad "models/$name.safetensors does not read back the same"
done
cl_agent 2 model ls >"$W/mls" || bad "model ls failed"
for m in r18:resnet18:122 alex:alexnet:16; do
  IFS=: read -r name arch tensors <<<"$m"
  awk -v n="$name" -v v="${V[$name]}" -v b="$(stat -c %s "$W/$name.st")" -v a="$arch" -v t="$tensors" \
    '$1 == n && $2 == v && $3 == b && $4 == a && $5 == t { f = 1 } END { exit !f }' "$W/mls" || bad "model ls: $(cat "$W/mls")"
done
cl_agent 4 model ls --json >"$W/mls.json" || bad "model ls --json failed"
$PY - "$W" "${V[r18]}" "${V[alex]}" <<'PY' && ok "model ls (text and --json): both models, version, bytes, arch, tensors" || bad "model ls --json: $(cat "$W/mls.json")"
import json, os, sys
w, vr, va = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
m = {x["name"]: x for x in json.load(open(f"{w}/mls.json"))}
assert set(m) == {"r18", "alex"}, m
assert m["r18"] == {"name": "r18", "version": vr, "bytes": os.path.getsize(f"{w}/r18.st"), "arch": "resnet18", "tensors": 122}, m
assert m["alex"] == {"name": "alex", "version": va, "bytes": os.path.getsize(f"{w}/alex.st"), "arch": "alexnet", "tensors": 16}, m
PY

# --- bad models: refused with the engine's reason, nothing stored ---
head -c 20000000 "$W/r18.st" >"$W/trunc.st"
expect 1 "trunc.st refused by engine check: tensor" cl_agent 1 model put trunc "$W/trunc.st"
grep -q "truncated file" "$W/err" || bad "the truncated file's reason: $(cat "$W/err")"
$PY - "$W" <<'PY' || bad "could not write a file without metadata"
import json, struct, sys
w = sys.argv[1]
b = open(f"{w}/r18.st", "rb").read()
hl = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + hl])
del h["__metadata__"]
hj = json.dumps(h, separators=(",", ":")).encode()
hj += b" " * (-len(hj) % 8)
open(f"{w}/nometa.st", "wb").write(struct.pack("<Q", len(hj)) + hj + b[8 + hl:])
PY
expect 1 "names no architecture" cl_agent 1 model put nometa "$W/nometa.st"
expect 1 "cannot run /nonexistent/engine" env IDUNNO_ENGINE=/nonexistent/engine "$A" model put r18b "$W/r18.st" \
  --agent "$(cl_addr 1)" --key-file "$CL_KEY"
[[ $(stored_under models/trunc) == 0 && $(stored_under models/nometa) == 0 && $(stored_under models/r18b) == 0 ]] &&
  ok "refused models left nothing under models/ on any agent" || bad "a refused model was stored"
expect 2 "bad name" cl_agent 1 model put R18 "$W/r18.st"
expect 2 "bad name" cl_agent 1 model put ../r18 "$W/r18.st"
expect 2 "bad name" cl_agent 1 model put "$(printf 'm%.0s' $(seq 33))" "$W/r18.st"
expect 2 "unknown verb 'get'" cl_agent 1 model get r18
[[ $(cl_agent 2 model ls --json | $PY -c 'import json, sys; print(len(json.load(sys.stdin)))') == 2 ]] &&
  ok "model ls still lists exactly the two models" || bad "model ls after the refusals: $(cl_agent 2 model ls)"

checks_end
echo "all checks passed"
