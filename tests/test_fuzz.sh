#!/usr/bin/env bash
# Description: the libFuzzer targets (tests/fuzz/, one per decoder a peer
# or a file reaches) build with clang, ASan and UBSan; every saved
# regression input runs clean; each target runs FUZZ_CI_SECONDS (default
# 5) from its committed seed corpus with no crash (`make fuzz` runs them
# longer).  The sanitizer pass of `make test` has the same fuzz binaries
# (they are always built with ASan and UBSan): it runs every regression
# and corpus input once (FUZZ_CI_SECONDS=0), not a second search.
# Skipped when clang or its libFuzzer runtime is missing.
# Timeout: 900
set -u
cd "$IDUNNO_ROOT" || exit 1
command -v clang >/dev/null || { echo "SKIP: clang is not installed (make deps installs it)"; exit 77; }
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return 0; }\n' >"$probe/p.c"
clang -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" 2>"$probe/err" ||
  { echo "SKIP: clang cannot link a libFuzzer target: $(head -1 "$probe/err")"; exit 77; }
nice make -j2 --no-print-directory fuzz-build >"$probe/build" 2>&1 ||
  { tail -20 "$probe/build"; echo "FAIL make fuzz-build"; exit 1; }
echo "ok   every fuzz target builds"
secs=5
[[ ${IDUNNO_BIN:-} == *san/bin ]] && secs=0
secs=${FUZZ_CI_SECONDS:-$secs}
FUZZ_SECONDS=$secs nice bash tests/fuzz/run || { echo "FAIL a fuzz target crashed"; exit 1; }
((secs > 0)) && echo "ok   every target ran $secs s with no crash" ||
  echo "ok   every target ran each of its corpus inputs once with no crash"
