#!/usr/bin/env bash
# Description: the agent's include rules hold: each folder under agent/
# includes only the layers below it (the table below, drawn in
# docs/agent.md), the pure layers (wire, membership, the SDFS planners)
# include no loop or io_uring header and read no clock, and only the
# composition (core/agent.c) and main() see every module.  A rule broken by a new
# #include fails this test with the file and line.
# Timeout: 30
set -u
cd "$IDUNNO_ROOT/agent" || exit 1
fails=0
bad() { echo "FAIL $*"; fails=$((fails + 1)); }

# layer -> the agent layers its files may include (besides its own).
declare -A allowed=(
  [wire]=""
  [membership]="wire"
  [core]="wire membership"
  [ctl]="wire membership core"
  [sdfs]="wire membership core"
  [tasks]="wire membership core sdfs"
  [cli]="wire membership ctl sdfs tasks"
)
# Files that must stay pure: no loop, no io_uring, no clock of their own.
pure=(wire/*.c wire/*.h membership/*.c membership/*.h core/log_buffer.c core/log_buffer.h
      sdfs/place.c sdfs/place.h
      sdfs/sdfs_plan.c sdfs/sdfs_plan.h sdfs/sdfs_backoff.c sdfs/sdfs_backoff.h tasks/sched.c tasks/sched.h tasks/sched_int.h
      tasks/sched_ds.c tasks/sched_run.c tasks/sched_end.c tasks/sched_report.c
      tasks/coord_log.h tasks/coord_log_int.h tasks/coord_rec.c tasks/coord_state.c
      tasks/coord_snapshot.c tasks/coord_query.c tasks/coord_map.c tasks/roles.c tasks/roles.h
      tasks/repl_wire.c tasks/repl_wire.h tasks/repl_log.c tasks/repl_log.h
      tasks/submit_wire.c tasks/submit_wire.h
      tasks/result_part.c tasks/result_part.h tasks/result_replay.c tasks/result_replay.h
      tasks/coord_ckpt.c tasks/coord_ckpt.h
      core/prom.c core/prom.h core/http.c core/http.h)

for dir in */; do
  layer=${dir%/}
  [[ -v allowed[$layer] ]] || { bad "agent/$layer: a folder with no include rule (add it to this test)"; continue; }
  for f in "$layer"/*.[ch]; do
    [[ -e $f ]] || continue
    # The composition (core/agent.c) and the program's entry (cli/main.c,
    # and cli/cli_run.c, which starts the daemon) see every module.
    [[ $f == core/agent.c || $f == cli/main.c || $f == cli/cli_run.c ]] && continue
    while IFS=: read -r line inc; do
      dep=${inc%%/*}
      [[ $dep == "$layer" ]] && continue
      [[ " ${allowed[$layer]} " == *" $dep "* ]] || bad "agent/$f:$line includes $inc ($layer may use: ${allowed[$layer]:-none})"
    done < <(grep -n '^#include "[a-z]*/' "$f" | sed 's/^\([0-9]*\):#include "\([^"]*\)".*/\1:\2/')
  done
done

for f in "${pure[@]}"; do
  [[ -e $f ]] || continue
  grep -n 'liburing\|core/loop\.h\|core/conn\.h' "$f" | while read -r l; do echo "FAIL agent/$f: pure file includes the loop: $l"; done | grep . && fails=$((fails + 1))
  grep -n 'clock_gettime\|util_now_ns\|util_wall_ms\|gettimeofday\|[^_a-z]time(' "$f" | while read -r l; do echo "FAIL agent/$f: pure file reads a clock: $l"; done | grep . && fails=$((fails + 1))
done

# The check itself must be able to fail: a planted violation is caught.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/membership"
printf '#include "core/loop.h"\n' > "$tmp/membership/x.c"
if grep -q '^#include "core/' "$tmp/membership/x.c" && [[ " ${allowed[membership]} " != *" core "* ]]; then
  echo "ok   a planted membership -> core include is refused by the table"
else
  bad "the rule table lets membership include core"
fi

if ((fails)); then echo "$fails include-rule violations"; exit 1; fi
echo "ok   every include in agent/ follows the layer rules"
