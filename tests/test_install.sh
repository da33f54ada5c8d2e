#!/usr/bin/env bash
# Description: `make install` and docs/deploy.md, on loopback.  A staged
# install (DESTDIR, PREFIX=/usr) puts every file under DESTDIR (the
# configuration in its etc/), nothing elsewhere; an install into a
# temporary PREFIX holds the programs, links, man pages (made from --help,
# one section per agent subcommand), the units (systemd-analyze verify
# passes without a warning, and warns on a broken copy; the installed
# exporter runs as nobody with exactly its unit's capabilities, and exits 3
# without them), the example configuration (fully uncommented, the agent
# accepts it).  Then the deployment guide's steps
# with the installed files only: a key (mode 0600) handed over as a
# credential (0400), agent.env and agent.conf edited, four agents started
# by the unit's own ExecStart line (STATE_DIRECTORY, CREDENTIALS_DIRECTORY
# as systemd sets them), one bound to 0.0.0.0 with --advertise, the seeds
# given by host name; the CLI through IDUNNO_AGENT; a model and a dataset
# put, a job run to completion with a node restarted in the middle (the
# upgrade step), each image answered once.  make uninstall removes it all
# but an edited configuration and the key.
# Timeout: 400
set -u
source "$IDUNNO_ROOT/tests/cluster.sh"
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
PY=/usr/bin/python3
ROOT=$IDUNNO_ROOT
W=$CL_DIR/work
mkdir -p "$W"

[[ $(realpath "$IDUNNO_BIN") == $(realpath "$ROOT/bin") ]] ||
  { echo "skip: installs the release build (bin/), not $IDUNNO_BIN"; exit 77; }
$PY -c 'import PIL, numpy' 2>/dev/null || { echo "skip: python3-pil/numpy not installed"; exit 77; }
"$ROOT/bench/mkdataset" --count 12 --seed 7 --out "$W/img" >/dev/null 2>"$W/mk.err" ||
  { echo "skip: bench/mkdataset: $(cat "$W/mk.err")"; exit 77; }
minstall() { make -C "$ROOT" --no-print-directory "$@" >"$W/make.out" 2>&1 || { cat "$W/make.out"; return 1; }; }

# --- a staged install: everything under DESTDIR ---
STAGE=$W/stage
outside() { ls -ld --time-style=+%s.%N /etc/idunno /usr/libexec/idunno /usr/bin/idunno-agent /usr/lib/systemd/system/idunno-agent.service 2>&1; }
before=$(outside)
minstall install DESTDIR="$STAGE" PREFIX=/usr && [[ $(outside) == "$before" ]] &&
  ok "make install DESTDIR=... PREFIX=/usr, nothing written to /usr or /etc" || bad "staged install: $(outside)"
for f in usr/libexec/idunno/agent usr/libexec/idunno/engine usr/libexec/idunno/qgen usr/bin/idunno-agent \
  usr/share/man/man1/idunno-agent.1 usr/lib/systemd/system/idunno-agent.service usr/lib/sysusers.d/idunno.conf \
  etc/idunno/agent.conf etc/idunno/agent.env usr/share/doc/idunno/deploy.md; do
  [[ -e $STAGE/$f ]] || bad "staged install lacks /$f"
done
grep -q '^ExecStart=/usr/libexec/idunno/agent run ' "$STAGE/usr/lib/systemd/system/idunno-agent.service" &&
  grep -q '^EnvironmentFile=/etc/idunno/agent.env' "$STAGE/usr/lib/systemd/system/idunno-agent.service" &&
  ok "staged: /usr/libexec, /usr/bin, /etc/idunno, the unit naming /usr and /etc" ||
  bad "staged unit: $(grep -E '^(ExecStart|EnvironmentFile)' "$STAGE/usr/lib/systemd/system/idunno-agent.service")"
minstall uninstall DESTDIR="$STAGE" PREFIX=/usr && [[ -z $(find "$STAGE" -type f -o -type l) ]] &&
  ok "make uninstall DESTDIR=...: no file left" || bad "staged uninstall left: $(find "$STAGE" -type f -o -type l)"

# --- an install into a prefix the test then runs from ---
P=$W/prefix ETC=$W/prefix/etc/idunno
minstall install PREFIX="$P" && ok "make install PREFIX=$P" || { bad "install"; exit 1; }
progs="agent engine qgen $([[ -x $ROOT/bin/exporter ]] && echo exporter)"
for p in $progs; do
  [[ -x $P/libexec/idunno/$p && $(readlink "$P/bin/idunno-$p") == ../libexec/idunno/$p && -s $P/share/man/man1/idunno-$p.1 ]] ||
    bad "$p: program, link or man page missing"
done
"$P/bin/idunno-agent" --version | grep -q '^agent (IDunno)' && ok "programs and links: $progs" || bad "idunno-agent --version"
man=$(MANWIDTH=100 man -l "$P/share/man/man1/idunno-agent.1" 2>/dev/null)
subs=$("$P/bin/idunno-agent" --help | awk '/^subcommands:/ {on = 1; next} on && !NF {exit} on {n++} END {print n}')
[[ $(grep -c '^   agent ' <<<"$man") == "$subs" ]] && grep -q -- '--advertise HOST' <<<"$man" &&
  grep -q 'exit 0 when no query was lost' "$P/share/man/man1/idunno-qgen.1" &&
  ok "man pages from --help: idunno-agent(1) with its $subs subcommands" ||
  bad "man page: $(grep -c '^   agent ' <<<"$man") subcommand sections of $subs"

U=$P/lib/systemd/system
if command -v systemd-analyze >/dev/null; then
  # verify: 0 and not a word (it only warns about a value it ignores)
  (cd "$U" && MANPATH=$P/share/man systemd-analyze verify ./idunno-*.service) >"$W/verify" 2>&1 && [[ ! -s $W/verify ]] &&
    ok "systemd-analyze verify: $(cd "$U" && echo idunno-*.service), no warning" || bad "verify: $(cat "$W/verify")"
  mkdir -p "$W/broken" && sed 's/^ProtectSystem=strict/ProtectSystem=sometimes/' "$U/idunno-agent.service" >"$W/broken/idunno-agent.service"
  (cd "$W/broken" && MANPATH=$P/share/man systemd-analyze verify ./idunno-agent.service) >"$W/verify" 2>&1
  grep -q "protect system value" "$W/verify" && ok "verify warns about a copy with ProtectSystem=sometimes" ||
    bad "verify passed a broken unit: $(cat "$W/verify")"
else
  echo "skip part: systemd-analyze is not installed (the units are not verified)"
fi
grep -q '^CapabilityBoundingSet=$' "$U/idunno-agent.service" && grep -q '^NoNewPrivileges=yes' "$U/idunno-agent.service" &&
  grep -q '^User=idunno' "$U/idunno-agent.service" && grep -q '^ReadWritePaths=/var/lib/idunno' "$U/idunno-agent.service" &&
  ok "agent unit: user idunno, no capability, ProtectSystem=strict but /var/lib/idunno" || bad "agent unit hardening"
# The exporter's unit: run it as an unprivileged user with exactly the
# unit's capabilities (setpriv), its pin folder made as ExecStartPre makes it
if [[ -e $U/idunno-exporter.service ]]; then
  caps=$(sed -n 's/^AmbientCapabilities=//p' "$U/idunno-exporter.service")
  [[ $caps == "$(sed -n 's/^CapabilityBoundingSet=//p' "$U/idunno-exporter.service")" && $caps == *CAP_BPF* ]] &&
    ok "exporter unit: ambient = bounding capabilities = $caps" || bad "exporter unit capabilities: '$caps'"
  X=$(mktemp -d /tmp/idunno-xp-XXXXXX) pin=/sys/fs/bpf/idunno-install-test-$$
  cp "$P/libexec/idunno/exporter" "$P/libexec/idunno/engine" "$X/" && chmod 755 "$X"
  sp=$(tr 'A-Z ' 'a-z\n' <<<"$caps" | sed -n 's/^cap_/+/p' | paste -sd,)
  run_as() { timeout 30 setpriv --reuid=65534 --regid=65534 --clear-groups --no-new-privs "$@" -- "$X/exporter" --once --seconds 1 --pin-dir "$pin"; }
  if [[ $(id -u) != 0 ]] || ! command -v setpriv >/dev/null; then
    echo "skip part: not root, or no setpriv (the exporter's capabilities are not tried)"
  elif ! timeout 30 "$X/exporter" --once --seconds 0.1 --pin-dir "$pin" >/dev/null 2>&1; then
    echo "skip part: the exporter does not run here even as root (no BPF)"
  else
    install -d -o 65534 -g 65534 -m 0700 "$pin"
    run_as --inh-caps="-all,$sp" --ambient-caps="-all,$sp" --bounding-set="-all,$sp" >"$W/xp" 2>&1 &&
      ok "the exporter runs as an unprivileged user with the unit's $caps" || bad "exporter with $caps: $(cat "$W/xp")"
    run_as --inh-caps=-all --bounding-set=-all >"$W/xp" 2>&1
    [[ $? == 3 ]] && ok "... and without them exits 3 (BPF unavailable)" || bad "exporter without capabilities: $(cat "$W/xp")"
    rmdir "$pin" 2>/dev/null
  fi
  rm -rf "$X"
fi

# --- the deployment guide's steps, on 127.0.0.1-4 ---
# the key: made once, mode 0600, copied to every machine
"$P/bin/idunno-agent" keygen "$ETC/cluster.key" >/dev/null && [[ $(stat -c %a "$ETC/cluster.key") == 600 ]] &&
  ok "cluster key written, mode 0600" || bad "key mode $(stat -c %a "$ETC/cluster.key")"
# a loaded machine (four engines on two cores): the tuning agent.conf describes
sed -i -e 's/^#probe_interval_ms = 100$/probe_interval_ms = 200/' -e 's/^#probe_timeout_ms = 40$/probe_timeout_ms = 150/' \
  -e 's/^#suspicion_mult = 3$/suspicion_mult = 8/' "$ETC/agent.conf"
P2=$((CL_PORT + 1))
host=$(hostname)
[[ $(getent ahostsv4 "$host" | awk 'NR == 1 {print $1}') == 127.0.0.1 ]] || host=127.0.0.1
seeds="$host:$CL_PORT,127.0.0.2:$CL_PORT,127.0.0.3:$CL_PORT"
unit_exec=$(sed -n 's/^ExecStart=//p' "$U/idunno-agent.service")
# start_node I OPTS: as systemd would start the unit: its environment file
# (agent.env; here one per node, as on one machine each), its state and
# credentials folders, its ExecStart line
start_node() {
  local i=$1 opts=$2
  mkdir -p "$W/state$i" "$W/cred$i" && chmod 700 "$W/state$i"
  install -m 0400 "$ETC/cluster.key" "$W/cred$i/cluster.key"
  printf 'IDUNNO_AGENT_OPTS="%s --engine-threads 1"\n' "$opts" >"$W/agent$i.env"
  (
    set -a && source "$W/agent$i.env" && set +a
    export STATE_DIRECTORY=$W/state$i CREDENTIALS_DIRECTORY=$W/cred$i
    eval "exec $unit_exec" >>"$W/node$i.out" 2>&1
  ) &
  CL_PID[$i]=$!
}
# stop_node I: SIGTERM as systemctl stop sends it; after 30 s, kill -9
# (the test never waits unbounded); its exit status
stop_node() {
  local p=${CL_PID[$1]} st
  kill -TERM "$p" 2>/dev/null
  for _ in $(seq 300); do
    st=$(ps -o stat= -p "$p" 2>/dev/null)
    [[ -z $st || $st == Z* ]] && break
    sleep 0.1
  done
  [[ -z $st || $st == Z* ]] || { echo "node $1 ignored SIGTERM for 30 s: killed"; kill -9 "$p"; }
  wait "$p"
}
for i in 1 2 3; do start_node $i "--bind 127.0.0.$i:$CL_PORT --join $seeds"; done
start_node 4 "--bind 0.0.0.0:$P2 --advertise 127.0.0.4 --join $seeds"
export IDUNNO_AGENT=$host:$CL_PORT IDUNNO_KEY_FILE=$ETC/cluster.key
A="$P/bin/idunno-agent"
members() { "$A" members --json 2>/dev/null | $PY -c 'import json,sys; print(" ".join(sorted(m["addr"] for m in json.load(sys.stdin) if m["status"] == "alive")))'; }
want="127.0.0.1:$CL_PORT 127.0.0.2:$CL_PORT 127.0.0.3:$CL_PORT 127.0.0.4:$P2"
for _ in $(seq 100); do [[ $(members) == "$want" ]] && break; sleep 0.2; done
[[ $(members) == "$want" ]] && ok "4 agents from the unit's ExecStart, seeds by name ($host), node 4 on 0.0.0.0:$P2 as 127.0.0.4:$P2" ||
  { bad "members: '$(members)' want '$want'; $(tail -n 3 "$W"/node*.out)"; exit 1; }
# Every setting of the example agent.conf, uncommented, is one the agent
# takes: it gets past the config to the bind (of node 1's address, in use).
sed -n 's/^#\([a-z_]* = [0-9]*\)$/\1/p' "$P/share/doc/idunno/examples/agent.conf" >"$W/all.conf"
out="node 1 is not running"
[[ $("$A" self --agent "127.0.0.1:$CL_PORT" 2>/dev/null | head -1) == 127.0.0.1:* ]] &&
  out=$(timeout 20 "$A" run --bind "127.0.0.1:$CL_PORT" --data-dir "$W/cfgcheck" --key-file "$ETC/cluster.key" --config "$W/all.conf" 2>&1)
[[ $(wc -l <"$W/all.conf") -ge 12 && $out == *"cannot bind 127.0.0.1:$CL_PORT"* ]] &&
  ok "the example agent.conf, all $(wc -l <"$W/all.conf") settings uncommented, is accepted" ||
  bad "example config: $out ($(wc -l <"$W/all.conf") settings)"
"$A" self --agent "127.0.0.4:$P2" | grep -Eq "^127.0.0.4:$P2 +alive " && ok "the agent on 0.0.0.0 answers at its advertised address" ||
  bad "self at 127.0.0.4: $("$A" self --agent "127.0.0.4:$P2" 2>&1 | head -2)"
"$A" self --agent "127.0.0.1:$P2" >/dev/null 2>"$W/err"
[[ $? == 3 ]] && grep -q -- "--advertise, else --bind" "$W/err" && ok "... and not at another of its addresses (exit 3)" ||
  bad "self at 127.0.0.1:$P2: $(cat "$W/err")"

"$P/bin/idunno-engine" weights --model resnet18 --seed 1 --out "$W/r18.st" >/dev/null &&
  "$A" model put r18 "$W/r18.st" >/dev/null && "$A" dataset put d12 "$W/img" >/dev/null &&
  ok "model and dataset put through IDUNNO_AGENT" || bad "model or dataset put"
for _ in $(seq 50); do "$A" self | grep -q '^role coordinator' && break; sleep 0.1; done
job=$("$A" job launch r18 --dataset d12 --batch 2)
[[ $job =~ ^[a-z0-9-]+$ ]] && ok "job $job launched" || bad "launch: '$job'"
# the upgrade step: one worker (not the coordinator, node 1) stopped as
# systemd stops it (SIGTERM: it leaves), then started again
sleep 1
stop_node 3
rc3=$?
start_node 3 "--bind 127.0.0.3:$CL_PORT --join $seeds"
state() { "$A" job ls --json | $PY -c 'import json,sys; print(next(j["state"] for j in json.load(sys.stdin) if j["job"] == sys.argv[1]))' "$job"; }
for _ in $(seq 240); do [[ $(state 2>/dev/null) == done ]] && break; sleep 0.5; done
[[ $rc3 == 0 && $(state) == done ]] && ok "job done; node 3 left on SIGTERM (exit 0) and came back mid-job" ||
  bad "job $(state), node 3 exit $rc3: $("$A" job ls)"
"$A" results "$job" --json >"$W/res" && $PY - "$W/res" "$W/img" <<'PY' && ok "results: each of the 12 images once, top-5 named" || bad "results: $(head -2 "$W/res")"
import json, os, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert sorted(r["image"] for r in lines) == sorted(os.listdir(sys.argv[2])), "images not each once"
assert all(r["status"] == 0 and len(r["top5"]) == 5 and r["top5"][0]["name"] for r in lines)
PY
for _ in $(seq 50); do [[ $(members) == "$want" ]] && break; sleep 0.2; done
[[ $(members) == "$want" ]] && ok "node 3 back in the membership" || bad "members after restart: $(members)"

# --- stop (SIGTERM, as systemctl stop) and uninstall ---
for i in 1 2 3 4; do stop_node $i; done
pgrep -f "$P/libexec" >/dev/null && bad "processes left: $(pgrep -af "$P/libexec")" || ok "every agent and engine stopped"
minstall uninstall PREFIX="$P" && left=$(cd "$P" && find . -type f -o -type l | sort | tr '\n' ' ') &&
  [[ $left == "./etc/idunno/agent.conf ./etc/idunno/cluster.key " ]] && grep -q "kept .*agent.conf" "$W/make.out" &&
  ok "make uninstall: only the edited agent.conf and the key are left, and named" || bad "uninstall left: $left"
((fails == 0))
