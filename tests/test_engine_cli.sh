#!/usr/bin/env bash
# Description: the engine command line: weights are generated
# deterministically (same seed, same bytes); classify prints top-5 with the
# ImageNet names; the three backends (ref included, on a whole ResNet18)
# agree on the top-5; bad usage exits 2 and bad input exits 1, each with a
# clear message and nothing written (a JPEG of only its start marker, a raw
# tensor holding a NaN).  check names the architecture from the
# file's metadata (or --model for a file without one) and refuses truncated,
# mismatched and non-finite weights naming the tensor.
# Timeout: 300
set -u
E=$IDUNNO_BIN/engine
d=$(mktemp -d /tmp/idunno-cli-XXXXXX)
trap 'rm -rf "$d"' EXIT
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
# expect CODE NEEDLE CMD...: exit code CODE and NEEDLE on stderr
expect() {
  local code=$1 needle=$2; shift 2
  "$@" >"$d/out" 2>"$d/err"; local rc=$?
  if [[ $rc == "$code" ]] && grep -qF -- "$needle" "$d/err"; then ok "$* -> $rc: $(head -c 150 "$d/err")"
  else bad "$* -> exit $rc (want $code), stderr: $(cat "$d/err")"; fi
}

$E weights --model resnet18 --seed 4 --out "$d/a.st" >/dev/null &&
  $E weights --model resnet18 --seed 4 --out "$d/b.st" >/dev/null &&
  $E weights --model resnet18 --seed 5 --out "$d/c.st" >/dev/null || bad "weights failed"
cmp -s "$d/a.st" "$d/b.st" && ok "same seed, same bytes" || bad "same seed gave different files"
cmp -s "$d/a.st" "$d/c.st" && bad "different seeds gave the same file" || ok "different seed, different bytes"

/usr/bin/python3 -c "import numpy as np; np.random.default_rng(1).standard_normal((3,224,224)).astype(np.float32).tofile('$d/x.raw')" 2>/dev/null ||
  head -c 602112 /dev/urandom >"$d/x.raw"
for b in onednn blas ref; do
  $E classify --model resnet18 --weights "$d/a.st" --backend $b --raw "$d/x.raw" >"$d/top.$b" 2>"$d/err" ||
    bad "classify on $b: $(cat "$d/err")"
done
if [[ $(wc -l <"$d/top.onednn") == 6 ]] && grep -qE '^  1\. .+ +[0-9]+  [01]\.[0-9]{4}$' "$d/top.onednn"; then
  ok "classify prints 5 ranked classes: $(sed -n 2p "$d/top.onednn")"
else bad "classify output: $(cat "$d/top.onednn")"; fi
# the class indices (not the printed probabilities' last digit) must agree
idx() { awk 'NR > 1 { print $(NF - 1) }' "$1"; }
[[ $(idx "$d/top.onednn") == $(idx "$d/top.ref") && $(idx "$d/top.blas") == $(idx "$d/top.ref") ]] &&
  ok "onednn, blas and ref agree on the top-5" || bad "backends disagree: $(paste "$d/top.onednn" "$d/top.ref")"

expect 2 "unknown model 'vgg16'" $E classify --model vgg16 --weights "$d/a.st" "$d/x.raw"
expect 2 "unknown backend 'cuda'" $E classify --model resnet18 --backend cuda --weights "$d/a.st" "$d/x.raw"
expect 2 "--weights is required" $E classify --model resnet18 "$d/x.raw"
expect 2 "--batch wants" $E classify --model resnet18 --weights "$d/a.st" --batch 0 "$d/x.raw"
expect 2 "unknown command" $E frobnicate
head -c 1000000 "$d/a.st" >"$d/trunc.st"
expect 1 "truncated" $E classify --model resnet18 --weights "$d/trunc.st" "$d/x.raw"
expect 1 "alexnet weights: tensor features.0.weight is missing" \
  $E classify --model alexnet --weights "$d/a.st" "$d/x.raw"
printf 'hello' >"$d/hello.jpg"
expect 1 "not a JPEG" $E classify --model resnet18 --weights "$d/a.st" "$d/hello.jpg"
expect 1 "a raw 3x224x224 float32 tensor has 602112" \
  $E classify --model resnet18 --weights "$d/a.st" --raw "$d/hello.jpg"
printf '\xff\xd8' >"$d/soi.jpg" # a JPEG of its start marker alone
expect 1 "soi.jpg: truncated or corrupt JPEG: its header gives no image size" \
  $E classify --model resnet18 --weights "$d/a.st" "$d/soi.jpg"
/usr/bin/python3 -c 'import struct, sys
v = [0.0] * (3 * 224 * 224); v[1234] = float("nan")
open(sys.argv[1], "wb").write(struct.pack("<%df" % len(v), *v))' "$d/nan.raw"
expect 1 "nan.raw: element 1234 is NaN: an input must hold finite numbers" \
  $E classify --model resnet18 --weights "$d/a.st" --raw "$d/nan.raw"
rm -f "$d/l.bin"
expect 1 "hello.jpg: 5 bytes" $E classify --model resnet18 --weights "$d/a.st" --raw --logits "$d/l.bin" "$d/x.raw" "$d/hello.jpg"
[[ ! -e $d/l.bin ]] && ok "no logits file written when an input fails" || bad "a partial logits file was written"
expect 1 "No such file" $E weights --model resnet18 --seed 1 --out "$d/no/such/dir/w.st"

# check: the architecture from the file's metadata, or --model for a file without one
$E weights --model alexnet --seed 4 --out "$d/alex.st" >/dev/null || bad "alexnet weights failed"
[[ $($E check --weights "$d/a.st") == "resnet18 122 $(stat -c %s "$d/a.st")" &&
  $($E check --weights "$d/alex.st") == "alexnet 16 $(stat -c %s "$d/alex.st")" ]] &&
  ok "check: 'ARCH TENSORS BYTES' from the metadata's arch, for both models" ||
  bad "check printed: $($E check --weights "$d/a.st" 2>&1) / $($E check --weights "$d/alex.st" 2>&1)"
expect 1 "truncated" $E check --weights "$d/trunc.st"
expect 1 "alexnet weights: tensor features.0.weight is missing" $E check --weights "$d/a.st" --model alexnet
expect 2 "usage: engine check" $E check
/usr/bin/python3 - "$d" <<'PY' || bad "could not write the metadata-less and NaN files"
import json, struct, sys
d = sys.argv[1]
b = bytearray(open(f"{d}/a.st", "rb").read())
hl = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + hl])
del h["__metadata__"]
hj = json.dumps(h, separators=(",", ":")).encode()
hj += b" " * (-len(hj) % 8)
open(f"{d}/nometa.st", "wb").write(struct.pack("<Q", len(hj)) + hj + bytes(b[8 + hl:]))
at = 8 + hl + h["layer3.1.bn1.running_var"]["data_offsets"][0] + 4 * 5
b[at:at + 4] = struct.pack("<f", float("inf"))
open(f"{d}/inf.st", "wb").write(b)
PY
expect 1 "names no architecture" $E check --weights "$d/nometa.st"
[[ $($E check --weights "$d/nometa.st" --model resnet18) == "resnet18 122 "* ]] &&
  ok "check --model: a file without metadata still loads" || bad "check --model on a file without metadata"
expect 1 "tensor layer3.1.bn1.running_var has a non-finite value (inf at element 5)" \
  $E check --weights "$d/inf.st"

# serve --warm: bad lists are refused before anything is attached
for w in 0 257 4,x "" 1,2,3,4,5,6,7,8,9 ,; do
  expect 2 "engine: --warm wants 'none' or up to 8 batch sizes 1..256" $E serve --ring idunno-none --warm "$w"
done
for n in -1 20 x; do expect 2 "engine: --nice wants 0..19" $E serve --ring idunno-none --nice "$n"; done
expect 1 "cannot attach to ring" $E serve --ring idunno-cli-no-such-ring --warm 1,4,16
expect 1 "cannot attach to ring" $E serve --ring idunno-cli-no-such-ring --warm none

((fails == 0)) || { echo "$fails check(s) failed"; exit 1; }
