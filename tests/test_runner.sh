#!/usr/bin/env bash
# Description: the test runner counts pass, fail, skip (exit 77, with its
# reason) and timeout (counted as failed, and named so), and ends with the
# exact summary line.
# Timeout: 60
set -u
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
mkdir "$d/t"
printf '#!/bin/sh\nexit 0\n' >"$d/t/test_ok"
printf '#!/bin/sh\necho boom\nexit 1\n' >"$d/t/test_bad"
printf '#!/bin/sh\necho "SKIP: no widget here"\nexit 77\n' >"$d/t/test_skipme"
printf '#!/bin/sh\n# Timeout: 1\nsleep 30\n' >"$d/t/test_slow"
printf 'not a test\n' >"$d/t/helper.txt"
chmod +x "$d"/t/*

out=$(IDUNNO_TEST_LOGS="$d/logs" bash "$IDUNNO_ROOT/tests/run" --dir "$d/t")
rc=$?
echo "$out"
fail() { echo "FAIL: $*"; exit 1; }
[[ $rc != 0 ]] || fail "runner exited 0 with failing tests"
[[ $(tail -n1 <<<"$out") == "1 passed, 2 failed, 1 skipped" ]] || fail "summary line wrong"
grep -q '^SKIP .*test_skipme.*(no widget here)' <<<"$out" || fail "skip reason not shown"
grep -q '^TIMEOUT .*test_slow' <<<"$out" || fail "timeout not named"
grep -q '^FAIL .*test_bad' <<<"$out" || fail "failure not named"

out=$(IDUNNO_TEST_LOGS="$d/logs" bash "$IDUNNO_ROOT/tests/run" --dir "$d/t" --only ok)
rc=$?
[[ $rc == 0 && $(tail -n1 <<<"$out") == "1 passed, 0 failed, 0 skipped" ]] || fail "--only did not select one passing test"
echo ok
