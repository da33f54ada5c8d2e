# tests/cluster_jobs.sh - what the tests that run jobs on a local cluster
# share.  Source it after tests/cluster.sh:
#
#   fails, ok TEXT, bad TEXT   a check passed / failed (bad counts it)
#   checks_end                 exits 1, saying how many, if any check failed
#   W, PY                      a work folder in the cluster's; Debian's python3
#   cj_images N SEED DIR       N generated JPEGs (bench/mkdataset) in DIR, or
#                              the test is skipped (exit 77) saying why
#   job_field I JOB FIELD      a field of JOB in node I's `job ls --json`
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
checks_end() { ((fails == 0)) || { echo "$fails check(s) failed"; exit 1; }; }
W=$CL_DIR/work
mkdir -p "$W"
PY=/usr/bin/python3

cj_images() {
  $PY -c 'import PIL, numpy' 2>/dev/null || { echo "skip: python3-pil/numpy not installed"; exit 77; }
  "$IDUNNO_ROOT/bench/mkdataset" --count "$1" --seed "$2" --out "$3" >/dev/null 2>"$W/mk.err" ||
    { echo "skip: bench/mkdataset: $(cat "$W/mk.err")"; exit 77; }
}

job_field() { cl_agent "$1" job ls --json | $PY -c 'import json,sys; print(next(j[sys.argv[2]] for j in json.load(sys.stdin) if j["job"] == sys.argv[1]))' "$2" "$3"; }
