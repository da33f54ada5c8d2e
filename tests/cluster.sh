# tests/cluster.sh - a local IDunno cluster for tests, benchmarks and the
# demo: node i runs on 127.0.0.i with its own data folder, all on one port
# chosen per run.  Faults: kill -9, SIGSTOP/SIGCONT, and nftables rules
# (packet loss, partitions) on those addresses.  Everything started is
# removed on exit, even after a failed test: source this file, and the EXIT
# trap it installs cleans up (call cl_cleanup yourself if you replace it).
#
#   source tests/cluster.sh
#   cl_start 10                 # nodes 1..10, all joined through node 1
#   cl_wait_converged 10 20     # every node sees 10 alive, within 20 s
#   cl_kill 3; cl_stop 4; cl_cont 4; cl_restart 3
#   cl_loss 5                   # drop 5 % of packets into every node
#   cl_partition "1 2 3 4 5" "6 7 8 9 10"; cl_heal
#   cl_view 2                   # "addr status incarnation" lines, node 2's view
#   cl_agent 2 stats            # any agent subcommand against node 2
#   cl_busy_config [LINE...]    # SWIM tuned for busy engines (and CL_ENGINE=1)

CL_BIN=${IDUNNO_BIN:-bin}
CL_DIR=$(mktemp -d /tmp/idunno-cluster-XXXXXX)
# The cluster's port: below the kernel's ephemeral range (32768 up), where
# no outgoing connection can be holding it, and not in use on loopback
# now (TCP or UDP); the next few ports serve tests that need more than one.
cl_pick_port() {
  local p=$((20000 + $$ % 12000)) k
  for k in $(seq 40); do
    ss -Htanu "( sport >= :$p and sport <= :$((p + 3)) )" 2>/dev/null | grep -q . || break
    p=$((20000 + (p - 20000 + 101) % 12000))
  done
  echo "$p"
}
CL_PORT=${CL_PORT:-$(cl_pick_port)}
CL_NFT=idunno_test_$$
CL_KEY=$CL_DIR/cluster.key
declare -A CL_PID
CL_N=0
"$CL_BIN/agent" keygen "$CL_KEY" >/dev/null

cl_addr() { echo "127.0.0.$1:$CL_PORT"; }

# cl_start_node I [JOIN_NODE]: starts node I (joining through JOIN_NODE).
# Agents run no engine unless CL_ENGINE is set (CL_ENGINE_THREADS: its
# threads): membership and SDFS tests need none.  CL_NO_COORD: no agent
# coordinates (tests that drive workers with tests/probe_coord).
# CL_METRICS_PORT: node I serves /metrics on 127.0.0.I:CL_METRICS_PORT.
cl_start_node() {
  local i=$1 join=${2:-}
  mkdir -p "$CL_DIR/node$i"
  "$CL_BIN/agent" run --bind "$(cl_addr "$i")" --data-dir "$CL_DIR/node$i" --key-file "$CL_KEY" \
    ${CL_CONFIG:+--config "$CL_CONFIG"} ${join:+--join "$(cl_addr "$join")"} ${CL_NO_COORD:+--no-coordinator} \
    ${CL_METRICS_PORT:+--metrics "127.0.0.$i:$CL_METRICS_PORT"} \
    $([[ -n ${CL_ENGINE:-} ]] && echo "--engine-threads ${CL_ENGINE_THREADS:-1}" || echo --no-engine) \
    >>"$CL_DIR/node$i/stdout" 2>&1 &
  CL_PID[$i]=$!
}

cl_start() {
  CL_N=$1
  cl_start_node 1
  sleep 0.2
  for ((i = 2; i <= CL_N; i++)); do cl_start_node "$i" 1; done
}

# cl_busy_config [LINE...]: the agents' config for engines busy at once on
# this 2-core machine, with LINEs added; sets CL_CONFIG and CL_ENGINE.  Busy
# engines starve the agents' loops for hundreds of ms: a failure detector
# tuned for that (suspicion 1.1 to 4.5 s) keeps SWIM from declaring a
# loaded member failed, which would move the coordinator's role for nothing.
cl_busy_config() {
  { printf 'probe_interval_ms = 200\nprobe_timeout_ms = 150\nsuspicion_mult = 8\n'
    local l; for l in "$@"; do echo "$l"; done; } >"$CL_DIR/agent.conf"
  CL_CONFIG=$CL_DIR/agent.conf
  CL_ENGINE=1
}
# cl_agent I SUBCOMMAND [ARGS]: the options go right after the subcommand,
# so that ARGS may end the options with --
cl_agent() { local i=$1 sub=$2; shift 2; "$CL_BIN/agent" "$sub" --agent "$(cl_addr "$i")" --key-file "$CL_KEY" "$@"; }
# self_field I KEY: a field of node I's `agent self`; node_of ADDR: the
# node number of a 127.0.0.N:PORT address
self_field() { cl_agent "$1" self 2>/dev/null | awk -v k="$2" '$1 == k { print $2 }'; }
node_of() { local a=${1%:*}; echo "${a##*.}"; }
cl_view() { cl_agent "$1" members | awk 'NR > 1 { print $1, $2, $NF }'; }
# cl_status_of I J: node J's status in node I's view (empty if unknown)
cl_status_of() { cl_view "$1" | awk -v a="$(cl_addr "$2")" '$1 == a { print $2 }'; }
cl_running() { local i; for i in "${!CL_PID[@]}"; do kill -0 "${CL_PID[$i]}" 2>/dev/null && echo "$i"; done | sort -n; }

# cl_wait_converged N SECONDS: every running node sees exactly N alive.
cl_wait_converged() {
  local want=$1 deadline=$((SECONDS + ${2:-20})) i ok
  while ((SECONDS < deadline)); do
    ok=1
    for i in $(cl_running); do
      [[ $(cl_view "$i" | awk '$2 == "alive"' | wc -l) == "$want" ]] || { ok=0; break; }
    done
    ((ok)) && return 0
    sleep 0.2
  done
  cl_diagnose >&2
  return 1
}

# cl_diagnose: what each node is doing (after a convergence that did not
# come): its view of the members if it runs, its last words if it exited.
cl_diagnose() {
  local i
  for i in $(printf '%s\n' "${!CL_PID[@]}" | sort -n); do
    if kill -0 "${CL_PID[$i]}" 2>/dev/null; then
      echo "node $i: $(cl_view "$i" 2>&1 | tr '\n' ';')"
    else
      echo "node $i: not running; its output ends: $(tail -3 "$CL_DIR/node$i/stdout" 2>/dev/null | tr '\n' ';')"
    fi
  done
}

# cl_log_between FROM TO [ERE]: every node's log lines timed in [FROM, TO)
# (the logs' ISO format; TO "~" for no end) that match ERE, each with its
# node, sorted by time
cl_log_between() {
  local i
  for i in $(printf '%s\n' "${!CL_PID[@]}" | sort -n); do
    awk -v a="$1" -v b="$2" -v re="${3:-.}" -v n="node$i" '$1 >= a && $1 < b && $0 ~ re { print $1, n, $0 }' \
      "$CL_DIR/node$i/agent.log" 2>/dev/null | cut -d' ' -f1,2,5-
  done | sort
}

# kill and reap in one group whose stderr is silenced: bash's "line N: PID
# Killed ..." notices are printed to the shell's stderr whenever it reaps
cl_kill() { { kill -9 "${CL_PID[$1]}"; wait "${CL_PID[$1]}"; } 2>/dev/null; }
cl_stop() { kill -STOP "${CL_PID[$1]}"; }
cl_cont() { kill -CONT "${CL_PID[$1]}"; }
cl_restart() { cl_kill "$1"; cl_start_node "$1" "${2:-1}"; }

cl_nft_ready() {
  command -v nft >/dev/null && [[ $(id -u) == 0 ]] || return 1
  nft list table inet "$CL_NFT" >/dev/null 2>&1 && return 0
  nft add table inet "$CL_NFT" 2>/dev/null &&
    nft add chain inet "$CL_NFT" input '{ type filter hook input priority -10; policy accept; }'
}
# cl_loss PCT [NODES...]: drops PCT % of the packets arriving at each node (default: all)
cl_loss() {
  local pct=$1 i; shift
  cl_nft_ready || return 1
  for i in ${@:-$(seq "$CL_N")}; do
    nft add rule inet "$CL_NFT" input ip daddr 127.0.0.$i udp dport "$CL_PORT" \
      numgen random mod 100 '<' "$pct" drop || return 1
  done
}
# cl_partition "A..." "B...": no packet of this cluster (to or from its
# port) between the two sets, either way
cl_partition() {
  local a b p
  cl_nft_ready || return 1
  for a in $1; do for b in $2; do for p in dport sport; do
    nft add rule inet "$CL_NFT" input ip saddr 127.0.0.$a ip daddr 127.0.0.$b \
      meta l4proto '{ tcp, udp }' th $p "$CL_PORT" drop || return 1
    nft add rule inet "$CL_NFT" input ip saddr 127.0.0.$b ip daddr 127.0.0.$a \
      meta l4proto '{ tcp, udp }' th $p "$CL_PORT" drop || return 1
  done; done; done
}
cl_heal() { nft flush chain inet "$CL_NFT" input 2>/dev/null; true; }

cl_cleanup() {
  local i
  # each waited for by its PID: a bare `wait` leaves bash to print a
  # "Killed" notice for each later, outside this group's redirection
  {
    for i in "${!CL_PID[@]}"; do kill -CONT "${CL_PID[$i]}"; kill -9 "${CL_PID[$i]}"; done
    for i in "${!CL_PID[@]}"; do wait "${CL_PID[$i]}"; done
    wait
  } 2>/dev/null
  # their engines, which would end on their own once they noticed their
  # agent gone (after the batch or model load in hand)
  local engines="--ring idunno-[0-9a-f]+-$CL_PORT( |\$)"
  pkill -9 -f -- "$engines"
  for _ in $(seq 20); do pgrep -f -- "$engines" >/dev/null || break; sleep 0.1; done
  nft delete table inet "$CL_NFT" 2>/dev/null
  # the engines' rings of agents that were killed (a ring is named by its
  # agent's address and port; a stopped agent removes its own)
  rm -f /dev/shm/idunno-idunno-*-"$CL_PORT"
  [[ -n ${CL_KEEP:-} ]] && echo "cluster files kept in $CL_DIR" || rm -rf "$CL_DIR"
}
trap cl_cleanup EXIT

# SDFS on disk: node I's store folder, and the replica files of NAME there
# (the hex of the name, a dot, the 20-digit version)
cl_store_dir() { echo "$CL_DIR/node$1/sdfs"; }
cl_hex() { printf %s "$1" | od -An -tx1 | tr -d ' \n'; }
cl_replicas_on() { ls "$(cl_store_dir "$1")" 2>/dev/null | grep -c "^$(cl_hex "$2")\.[0-9]\{20\}$"; }
# cl_holders NAME: the running nodes holding NAME on disk
cl_holders() { local i; for i in $(cl_running); do (($(cl_replicas_on "$i" "$1") > 0)) && echo "$i"; done; }
