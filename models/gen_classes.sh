#!/bin/sh
# Turns models/imagenet_classes.txt (one class name a line, 1000 lines) into
# a C array.  The names carry no quotes or backslashes; this checks that.
set -eu
n=$(wc -l < "$1")
[ "$n" -eq 1000 ] || { echo "gen_classes: $1 has $n lines, want 1000" >&2; exit 1; }
if grep -q '["\\]' "$1"; then echo "gen_classes: quote or backslash in $1" >&2; exit 1; fi
echo '/* Generated from models/imagenet_classes.txt by models/gen_classes.sh. */'
echo '#include "model.h"'
echo 'const char *const model_imagenet_classes[1000] = {'
sed 's/.*/\t"&",/' "$1"
echo '};'
