#!/usr/bin/env bash
# Description: every C source and header in git follows the committed
# .clang-format (make format fixes it); a file that does not is named.
# Timeout: 60
set -u
cd "$IDUNNO_ROOT" || exit 1
command -v clang-format >/dev/null || { echo "skip: clang-format is not installed"; exit 77; }
files=$(git ls-files --cached --others --exclude-standard '*.c' '*.h' 2>/dev/null)
[[ -n $files ]] || { echo "skip: not a git checkout, no file list"; exit 77; }
bad=0
for f in $files; do
  [[ -e $f ]] || continue
  if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
    echo "FAIL $f is not clang-formatted (run: make format)"; bad=$((bad + 1))
  fi
done
# The check must be able to fail: a badly formatted file is caught.
tmp=$(mktemp --suffix=.c)
printf 'int  main( void ){return 0;}\n' > "$tmp"
if clang-format --style=file:.clang-format --dry-run -Werror "$tmp" >/dev/null 2>&1; then
  echo "FAIL clang-format accepted a badly formatted file"; bad=$((bad + 1))
fi
rm -f "$tmp"
((bad == 0)) || exit 1
echo "ok   $(wc -w <<<"$files") files formatted"
