#!/usr/bin/env bash
# shellcheck disable=SC2317 # is_master, follows, all_loaded, answers: called through wait_for
# bench/cluster-rebuild.sh: rebuild a lost replica of a loaded Redis
# Cluster under a steady write load, two ways in the same run, and compare
# what it costs the shard's master (issue 11's cluster-rebuild benchmark).
#
# SKELETON: the baseline half and the load are complete; the meridian half
# (meridian_rebuild below) runs `meridian-agent check --heal` for the lost
# node's host and measures what it did, but the agent's cluster self-heal
# is not written yet (branch cluster-heal), so today it reports that the
# agent did not restore the node and the meridian targets read "not met".
#
#   1. meridian: `meridian-agent check --heal` should restore the node
#      from a snapshot of its same-region peer, then Redis asks the master
#      only for the writes since that snapshot (a partial resync).
#   2. baseline (what other tools do, as `redis-cli --cluster del-node` +
#      `add-node --cluster-slave` would): FORGET the lost node's id on every
#      node, start a fresh redis-server with the node's own redis.conf on an
#      empty data dir (a new node id), CLUSTER MEET the master, CLUSTER
#      REPLICATE its id: the master sends the whole shard (a full sync).
#
# Layout (regions/local-cluster.json: 3 regions x 2 hosts, 3 shards with 2
# replicas each).  The planner puts each shard's first replica in another
# region than its master and the second in the master's region, so no
# replica has a same-region peer replica while its master is elsewhere: a
# replica's only same-region copy is its master.  The scenario the issue
# asks for (the master in another region than the lost replica and its
# peer) is made by one manual failover before the load: for the shard
# whose master is use-a1 (us-east), `CLUSTER FAILOVER` on its eu-west
# replica (euw-b1:PORT_BASE) makes it the master; then the lost replica is
# use-b1:PORT_BASE+1 (us-east) and its peer is use-a1:PORT_BASE, now a
# replica (us-east).  The script picks this from `status --json` (any
# shard with a replica in its master's region and one outside it); a
# layout that already has two replicas of a shard in a region other than
# its master's is used as it is, without a failover.
#
# Load: KEYS keys key:1..KEYS of VALUE_BYTES incompressible bytes, spread
# over all 16384 slots: `cluster-keys resp FIRST-LAST` (bench/cluster-keys.c,
# CRC16 slots) per shard master, the three `redis-cli --pipe` in parallel;
# timed until every node of every shard holds its shard's keys.
# Writer: RATE SETs/s over existing keys, across the three shards
# (`cluster-keys write`, one fifo and one redis-cli per shard master).
#
# Loss: the lost node's redis-server killed with SIGKILL (by its pid file,
# checked to be redis-server) and its data dir (with nodes.conf) removed;
# for meridian its host's agent loop is stopped first (--agent-only), so
# the heal is the one `check --heal` measured here.
#
# Measures, from the shard master's INFO just before and just after each
# rebuild (as bench/rebuild.sh):
#   * master bytes = delta total_net_repl_output_bytes - N x delta
#     master_repl_offset, N = the master's other connected replicas (the
#     live stream to them); cross-check: the rebuilt node's own
#     total_net_repl_input_bytes (a fresh process in both methods).
#   * the master's sync_full and sync_partial_ok deltas.
#   * time from the start of the rebuild until the node is ready: a replica
#     of the shard's master, master_link_status up, no sync in progress,
#     slave_repl_offset within 1 MiB of the master's master_repl_offset.
# Targets: master bytes meridian/baseline <= 1 %, sync_full +0 for meridian;
# with WAN, time meridian/baseline <= 0.3.
#
# Parameters (environment): KEYS (1000000), VALUE_BYTES (180), RATE (1000),
# WRITER_MAX_S (300), BACKLOG (256mb), MAXMEMORY (1gb), PORT_BASE (16100:
# nodes PORT_BASE + i, bus + 10000, agents + 1000), READY_TIMEOUT_S (180),
# RESTORE_GRACE_S (15: how long after `check --heal` exits the node may take
# to answer before meridian's half counts as "not restored"), WAN (unset;
# RATE such as 100mbit, as root: bench/wan.sh shapes the links between
# regions, this run's ports only, from after the load until both rebuilds
# are measured), KEEP_LOGS (a folder: keep the lost node's redis.log of each
# rebuild and the check report).
BUILD=${BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
SRC=${SRC:-$(cd "$(dirname "$0")/.." && pwd)}
export BUILD SRC
source "$SRC/tests/integration/lib.sh"

KEYS=${KEYS:-1000000}
VALUE_BYTES=${VALUE_BYTES:-180}
RATE=${RATE:-1000}
WRITER_MAX_S=${WRITER_MAX_S:-300}
BACKLOG=${BACKLOG:-256mb}
MAXMEMORY=${MAXMEMORY:-1gb}
BASE=${PORT_BASE:-16100}
READY_TIMEOUT_S=${READY_TIMEOUT_S:-180}
RESTORE_GRACE_S=${RESTORE_GRACE_S:-15}
WAN=${WAN:-}
AGENT="$BUILD/meridian-agent"
KEYGEN="$BUILD/cluster-keys"
NAME=benchcrebuild
LAG_OK=$((1024 * 1024))
T_TOPO="$T_DIR/cluster.json"
T0_RUN=$(now_ms)

BENCH=cluster-rebuild
source "$SRC/bench/lib.sh"

[[ -x $KEYGEN ]] || die "$KEYGEN is missing: build the project (bench/CMakeLists.txt builds it)"
if [[ -n $WAN ]]; then
    source "$SRC/bench/wan.sh"
    wan_check || die "WAN=$WAN: cannot shape lo (see above)"
fi

jq --arg n "$NAME" --argjson p "$BASE" --arg mm "$MAXMEMORY" --arg bl "$BACKLOG" \
    '.name = $n | .store.port = $p | .agent.port = ($p + 1000) | .store.maxmemory = $mm | .store.repl_backlog = $bl' \
    "$SRC/regions/local-cluster.json" >"$T_TOPO" || die "could not write the topology copy"

progress "deploy local-cluster (9 nodes, 3 shards) on port $BASE (backlog $BACKLOG, maxmemory $MAXMEMORY)"
"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/deploy.out" 2>&1 ||
    { cat "$T_DIR/deploy.out"; die "deploy failed"; }
record_pids
ADMIN=$(cat "$T_STATE/secrets/admin.pass")
adm() { rcli_as admin "$ADMIN" "$@"; }
manifest() { echo "$T_STATE/hosts/$1/manifest.json"; }
# node_dir HOST PORT: the node's folder in the state dir.
node_dir() { if (($2 == BASE)); then echo "$T_STATE/hosts/$1/redis"; else echo "$T_STATE/hosts/$1/redis-$2"; fi; }
region_of_addr() { local r=${1#127.0.}; echo "${r%%.*}"; }

# ---------------------------------------------------------------- layout
# nodes_now: "SHARD ROLE HOST REGION ADDRESS PORT" per node, from status.
nodes_now() {
    "$MERIDIAN" status "$T_TOPO" --state "$T_STATE" --json 2>/dev/null |
        jq -r '.nodes[] | "\(.shard) \(.role) \(.host) \(.region) \(.address) \(.port)"'
}
nodes_now >"$T_DIR/nodes0"
# pick: "SHARD LOST PEER MASTER PROMOTE" (host:port each; PROMOTE "-" when
# no failover is needed), the first shard that fits (see the header).
pick=$(awk '
    { sh[NR] = $1; role[NR] = $2; reg[NR] = $4; id[NR] = $3 ":" $6; n = NR }
    END {
        for (i = 1; i <= n; i++) if (role[i] == "master") m[sh[i]] = i
        # already there: two replicas of a shard in one region, master elsewhere
        for (i = 1; i <= n; i++) for (j = 1; j <= n; j++)
            if (i != j && sh[i] == sh[j] && role[i] == "replica" && role[j] == "replica" &&
                reg[i] == reg[j] && reg[m[sh[i]]] != reg[i]) {
                print sh[i], id[i], id[j], id[m[sh[i]]], "-"; exit }
        # a replica in its master region and one outside: fail over to the latter
        for (i = 1; i <= n; i++) for (j = 1; j <= n; j++)
            if (sh[i] == sh[j] && role[i] == "replica" && role[j] == "replica" &&
                reg[i] == reg[m[sh[i]]] && reg[j] != reg[i]) {
                print sh[i], id[i], id[m[sh[i]]], id[j], id[j]; exit }
    }' "$T_DIR/nodes0")
[[ -n $pick ]] || { cat "$T_DIR/nodes0"; die "no shard has a replica with a same-region peer (see above)"; }
read -r SHARD LOST PEER MASTER PROMOTE <<<"$pick"
# addr_of HOST:PORT, region_of HOST:PORT
addr_of() { awk -v h="${1%:*}" '$3 == h { print $5; exit }' "$T_DIR/nodes0"; }
region_of() { awk -v h="${1%:*}" '$3 == h { print $4; exit }' "$T_DIR/nodes0"; }
L_HOST=${LOST%:*} L_PORT=${LOST#*:} L_ADDR=$(addr_of "$LOST")
M_ADDR=$(addr_of "$MASTER") M_PORT=${MASTER#*:}
P_ADDR=$(addr_of "$PEER") P_PORT=${PEER#*:}
L_DIR=$(node_dir "$L_HOST" "$L_PORT")
L_CONF="$L_DIR/redis.conf"
L_DATA="$L_DIR/data"
L_PIDFILE="$L_DIR/redis.pid"
progress "shard $SHARD: lost replica $LOST ($(region_of "$LOST")), peer $PEER ($(region_of "$PEER")), master $MASTER ($(region_of "$MASTER"))"

# cluster_id ADDR PORT: the node's own id (CLUSTER MYID).
cluster_id() { adm -h "$1" -p "$2" cluster myid 2>/dev/null | tr -d '\r'; }
# info_get ADDR PORT FIELD...: those INFO fields, space-separated ("-" when absent).
info_get() {
    local addr=$1 port=$2
    shift 2
    adm -h "$addr" -p "$port" info 2>/dev/null | tr -d '\r' |
        awk -F: -v want="$*" 'BEGIN { n = split(want, w, " ") }
            { v[$1] = $2 }
            END { for (i = 1; i <= n; i++) printf "%s%s", (w[i] in v ? v[w[i]] : "-"), (i < n ? " " : "\n") }'
}

if [[ $PROMOTE != - ]]; then
    pr_addr=$(addr_of "$PROMOTE")
    pr_port=${PROMOTE#*:}
    progress "manual failover: CLUSTER FAILOVER on $PROMOTE, so the master is in another region than $LOST and $PEER"
    [[ $(adm -h "$pr_addr" -p "$pr_port" cluster failover 2>&1) == OK ]] || die "CLUSTER FAILOVER on $PROMOTE refused"
    is_master() { [[ $(adm -h "$1" -p "$2" role 2>/dev/null | head -1) == master ]]; }
    wait_for 30 is_master "$pr_addr" "$pr_port" || die "$PROMOTE is not a master 30 s after CLUSTER FAILOVER"
    # the old master and the lost-to-be replica follow the new one, linked
    follows() {
        local link host
        read -r host link < <(info_get "$1" "$2" master_host master_link_status)
        [[ $host == "$pr_addr" && $link == up ]]
    }
    wait_for 30 follows "$P_ADDR" "$P_PORT" || die "$PEER does not follow $PROMOTE 30 s after the failover"
    wait_for 30 follows "$L_ADDR" "$L_PORT" || die "$LOST does not follow $PROMOTE 30 s after the failover"
    nodes_now >"$T_DIR/nodes1"
    [[ $(awk -v h="${PROMOTE%:*}" -v p="$pr_port" '$3 == h && $6 == p { print $2 }' "$T_DIR/nodes1") == master ]] ||
        die "status does not name $PROMOTE as the master of shard $SHARD after the failover"
    progress "  $PROMOTE is the master of shard $SHARD; $PEER and $LOST follow it"
fi
L_REG=$(region_of_addr "$L_ADDR")
M_REG=$(region_of_addr "$M_ADDR")
((L_REG != M_REG && L_REG == $(region_of_addr "$P_ADDR"))) ||
    die "the master ($M_ADDR) must be in another region than the lost replica ($L_ADDR) and its peer ($P_ADDR)"

# ---------------------------------------------------------------- load
# The masters now and their slot ranges: "ADDRESS PORT FIRST LAST".
"$MERIDIAN" status "$T_TOPO" --state "$T_STATE" --json >"$T_DIR/status.json" 2>/dev/null
jq -r '.shards[] | "\(.master.address) \(.master.port) \(.slot_first) \(.slot_last)"' "$T_DIR/status.json" >"$T_DIR/masters"
(($(wc -l <"$T_DIR/masters") == 3)) || { cat "$T_DIR/masters"; die "expected 3 masters with slot ranges"; }
grep -q "^$M_ADDR $M_PORT " "$T_DIR/masters" || die "status does not name $MASTER as a master"

progress "load $KEYS keys of $VALUE_BYTES B over the 16384 slots: cluster-keys resp | redis-cli --pipe, one per shard master, in parallel"
t_load=$(now_ms)
lpids=()
while read -r addr port first last; do
    { "$KEYGEN" resp "$first-$last" "$KEYS" "$VALUE_BYTES" | adm -h "$addr" -p "$port" --pipe >"$T_DIR/pipe-$addr-$port.out" 2>&1; } &
    lpids+=($!)
done <"$T_DIR/masters"
for p in "${lpids[@]}"; do wait "$p"; done
t_acked=$(now_ms)
total=0
while read -r addr port first last; do
    out="$T_DIR/pipe-$addr-$port.out"
    grep -q 'errors: 0, replies' "$out" || { cat "$out"; die "the load into $addr:$port failed"; }
    n=$(sed -n 's/.*errors: 0, replies: \([0-9]*\).*/\1/p' "$out")
    echo "$addr $port $n" >>"$T_DIR/shard-keys"
    total=$((total + n))
done <"$T_DIR/masters"
((total == KEYS)) || die "the masters acknowledged $total SETs, not $KEYS"
progress "  masters acknowledged $KEYS SETs in $(secs $((t_acked - t_load))) s ($(awk '{ printf "%s%s:%s %s", (NR > 1 ? ", " : ""), $1, $2, $3 }' "$T_DIR/shard-keys"))"
# every node holds its shard's keys: a replica's count is its master's
dbsize() { adm -h "$1" -p "$2" dbsize 2>/dev/null; }
all_loaded() {
    local role addr port want mh mp
    while read -r _ role _ _ addr port; do
        if [[ $role == master ]]; then mh=$addr mp=$port; else read -r mh mp < <(info_get "$addr" "$port" master_host master_port); fi
        want=$(awk -v a="$mh" -v p="$mp" '$1 == a && $2 == p { print $3 }' "$T_DIR/shard-keys")
        [[ -n $want && $(dbsize "$addr" "$port") == "$want" ]] || return 1
    done < <(nodes_now)
}
wait_for 180 all_loaded || die "the replicas do not hold their shard's keys 180 s after the load"
t_loaded=$(now_ms)
LOAD_S=$(secs $((t_loaded - t_load)))
read -r mem_h < <(info_get "$M_ADDR" "$M_PORT" used_memory_human)
progress "loaded in $LOAD_S s: every node holds its shard's keys (shard $SHARD master used_memory $mem_h)"

# ---------------------------------------------------------------- WAN
wan_delta() {
    awk 'NR == FNR { b[$1] = $2; next } { printf "%s%s %.2f", (n++ ? ", " : ""), $1, ($2 - b[$1]) / 1e6 }
        END { printf " MB\n" }' <(echo "$1") <(echo "$2")
}
wan_bytes() { awk -v c="$2" '$1 == c { print $2 }' <<<"$1"; }
if [[ -n $WAN ]]; then
    wan_shape "$WAN" 3 "$BASE" $((BASE + 1)) $((BASE + 1000)) $((BASE + 10000)) $((BASE + 10001)) ||
        die "WAN=$WAN: shaping failed"
    progress "WAN: lo shaped, $WAN per ordered pair of regions (ports $BASE-$((BASE + 1)), $((BASE + 1000)), bus); same-region traffic unshaped"
fi
wan_now() { [[ -n $WAN ]] && wan_stats; }

# ---------------------------------------------------------------- writer
# RATE SETs/s over existing keys, routed by slot to the three masters:
# cluster-keys write feeds one fifo per master, each read by a redis-cli.
W_CLIS=() wranges=()
while read -r addr port first last; do
    f="$T_DIR/writer-$addr-$port.fifo"
    mkfifo "$f"
    adm -h "$addr" -p "$port" <"$f" >"$T_DIR/writer-$addr-$port.out" 2>&1 &
    W_CLIS+=($!)
    wranges+=("$first-$last=$f")
done <"$T_DIR/masters"
"$KEYGEN" write "$RATE" "$KEYS" "$WRITER_MAX_S" "${wranges[@]}" 2>"$T_DIR/writer.err" &
W_GEN=$!
T_PIDS+=("$W_GEN" "${W_CLIS[@]}")
t_writer=$(now_ms)
stop_writer() {
    local p n
    pid_alive "$W_GEN" && kill "$W_GEN" 2>/dev/null
    wait "$W_GEN" 2>/dev/null
    for p in "${W_CLIS[@]}"; do
        n=0
        while pid_alive "$p" && ((++n < 250)); do sleep 0.02; done
        pid_alive "$p" && kill "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
}
writer_ok() { cat "$T_DIR"/writer-*.out | grep -c '^OK$'; }
writer_err() { cat "$T_DIR"/writer-*.out | grep -vc '^OK$'; }
progress "writer: $RATE SETs/s across the 3 masters (pids $W_GEN, ${W_CLIS[*]}); 3 s to settle"
sleep 3
(($(writer_ok) > 0)) || { cat "$T_DIR"/writer-*.out "$T_DIR/writer.err"; die "the writer gets no OK"; }

# ---------------------------------------------------------------- loss
LFIELDS=(total_net_repl_output_bytes master_repl_offset sync_full sync_partial_ok connected_slaves)
# lose_node: kill the lost node's redis-server (by its pid file, checked)
# and remove its data dir.  Returns 1 when it was not running.
lose_node() {
    local pid
    pid=$(cat "$L_PIDFILE" 2>/dev/null)
    if ! [[ $pid =~ ^[0-9]+$ ]] || ! pid_alive "$pid"; then rm -rf "$L_DATA"; return 1; fi
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == redis-server ]] || die "pid $pid ($L_PIDFILE) is not redis-server"
    T_PIDS+=("$pid")
    kill -9 "$pid"
    while pid_alive "$pid"; do sleep 0.02; done
    rm -rf "$L_DATA"
    return 0
}
# the master drops the dead replica's link at once (socket closed)
wait_dropped() {
    local n=0
    until [[ $(info_get "$M_ADDR" "$M_PORT" connected_slaves) == "$1" ]]; do
        ((++n > 250)) && die "the master still lists another number of replicas than $1, 5 s after the kill"
        sleep 0.02
    done
}
# ready: the lost node follows the master, linked, not syncing, lag <= 1 MiB.
ready() {
    local host link sync off lead
    read -r host link sync off < <(info_get "$L_ADDR" "$L_PORT" master_host master_link_status master_sync_in_progress slave_repl_offset)
    [[ $host == "$M_ADDR" && $link == up && $sync == 0 && $off =~ ^[0-9]+$ ]] || return 1
    lead=$(info_get "$M_ADDR" "$M_PORT" master_repl_offset)
    [[ $lead =~ ^[0-9]+$ ]] && ((lead - off <= LAG_OK))
}
wait_ready() {
    local deadline=$(($(now_ms) + $1 * 1000))
    until ready; do
        (($(now_ms) >= deadline)) && return 1
        sleep 0.05
    done
}
answers() { [[ $(adm -h "$L_ADDR" -p "$L_PORT" ping 2>/dev/null) == PONG ]]; }
OLD_ID=$(cluster_id "$L_ADDR" "$L_PORT")
N_OTHERS=$(($(info_get "$M_ADDR" "$M_PORT" connected_slaves) - 1))

# ---------------------------------------------------------------- meridian
# meridian_rebuild: the agent's half.  Stops the lost node's host's agent
# loop, loses the node, runs `meridian-agent check --heal` for that host and
# measures as the baseline does.  Sets m_done (1 when the node came back
# ready), m_ms, m_exit_ms, m_rc, m_events, m_note and the before/after INFO.
# Until the cluster heal lands (branch cluster-heal) the agent does not
# restore a cluster node: m_done=0 and the report says so.
meridian_rebuild() {
    m_done=0 m_note=""
    progress "meridian: stop $L_HOST's agent loop, kill $LOST, wipe its data dir"
    "$AGENT" stop --manifest "$(manifest "$L_HOST")" --agent-only || die "agent stop failed"
    lose_node || die "$LOST's redis is not running"
    wait_dropped "$N_OTHERS"
    read -r m_out0 m_off0 m_full0 m_part0 _ < <(info_get "$M_ADDR" "$M_PORT" "${LFIELDS[@]}")
    p_out0=$(info_get "$P_ADDR" "$P_PORT" total_net_repl_output_bytes)
    m_wan0=$(wan_now)
    progress "meridian: meridian-agent check --heal --manifest $(manifest "$L_HOST")"
    local t0 t_exit t1
    t0=$(now_ms)
    "$AGENT" check --manifest "$(manifest "$L_HOST")" --heal --json >"$T_DIR/check.json" 2>"$T_DIR/check.err"
    m_rc=$?
    t_exit=$(now_ms)
    record_pids
    m_exit_ms=$((t_exit - t0))
    m_events=$(jq -r '[.actions[]?.event] | join(" ")' "$T_DIR/check.json" 2>/dev/null)
    progress "meridian: check exited $m_rc after $m_exit_ms ms; events: ${m_events:-none}"
    [[ -s $T_DIR/check.err ]] && sed 's/^/# check stderr: /' "$T_DIR/check.err"
    if ! wait_for "$RESTORE_GRACE_S" answers; then
        m_note="the agent did not restore $LOST: nothing answers on $L_ADDR:$L_PORT $RESTORE_GRACE_S s after check --heal exited"
    elif ! wait_ready "$READY_TIMEOUT_S"; then
        local mh link
        read -r mh link < <(info_get "$L_ADDR" "$L_PORT" master_host master_link_status)
        m_note="the agent did not restore $LOST as a ready replica of $MASTER within $READY_TIMEOUT_S s (master_host $mh, link $link)"
    else
        t1=$(now_ms)
        m_done=1
        m_ms=$((t1 - t0))
    fi
    m_wan1=$(wan_now)
    read -r m_out1 m_off1 m_full1 m_part1 _ < <(info_get "$M_ADDR" "$M_PORT" "${LFIELDS[@]}")
    p_out1=$(info_get "$P_ADDR" "$P_PORT" total_net_repl_output_bytes)
    if ((m_done)); then
        m_recv=$(info_get "$L_ADDR" "$L_PORT" total_net_repl_input_bytes)
        m_keys=$(dbsize "$L_ADDR" "$L_PORT")
        m_snap=$(jq -r '.actions[]? | select(.event == "+snapshot-fetched") | .detail' "$T_DIR/check.json" 2>/dev/null)
        progress "meridian: $LOST ready after $m_ms ms"
    else
        progress "meridian: $m_note"
    fi
    if [[ -n ${KEEP_LOGS:-} ]]; then
        mkdir -p "$KEEP_LOGS" && cp "$T_DIR/check.json" "$KEEP_LOGS/check.json"
        [[ -f $L_DIR/redis.log ]] && cp "$L_DIR/redis.log" "$KEEP_LOGS/meridian-$L_HOST-$L_PORT.log"
    fi
}

# ---------------------------------------------------------------- baseline
# baseline_rebuild: a fresh node (new id) on the lost node's address, with
# its redis.conf and an empty data dir; FORGET the old id everywhere first
# (not timed), then MEET + REPLICATE: a full sync.
baseline_rebuild() {
    progress "baseline: lose $LOST again (kill by pid if the agent started it), wipe its data dir"
    lose_node || progress "  $LOST was not running"
    wait_dropped "$N_OTHERS"
    mkdir -m 0700 "$L_DATA"
    local addr port t0 t_meet t1 n
    if [[ -n $OLD_ID ]]; then
        while read -r _ _ _ _ addr port; do
            [[ $addr == "$L_ADDR" && $port == "$L_PORT" ]] && continue
            adm -h "$addr" -p "$port" cluster forget "$OLD_ID" >/dev/null 2>&1
        done <"$T_DIR/nodes0"
    fi
    M_ID=$(cluster_id "$M_ADDR" "$M_PORT")
    [[ -n $M_ID ]] || die "baseline: no CLUSTER MYID from the master $MASTER"
    read -r b_out0 b_off0 b_full0 b_part0 _ < <(info_get "$M_ADDR" "$M_PORT" "${LFIELDS[@]}")
    b_wan0=$(wan_now)
    progress "baseline: redis-server $L_CONF (empty dir), CLUSTER MEET $M_ADDR $M_PORT, CLUSTER REPLICATE $M_ID"
    t0=$(now_ms)
    redis-server "$L_CONF" </dev/null >/dev/null 2>&1 &
    B_PID=$!
    T_PIDS+=("$B_PID")
    wait_for 30 answers || die "baseline: the fresh node does not answer"
    [[ $(adm -h "$L_ADDR" -p "$L_PORT" cluster meet "$M_ADDR" "$M_PORT" $((M_PORT + 10000)) 2>&1) == OK ]] ||
        die "baseline: CLUSTER MEET refused"
    # REPLICATE needs the master known (handshake done)
    n=0
    until [[ $(adm -h "$L_ADDR" -p "$L_PORT" cluster replicate "$M_ID" 2>&1) == OK ]]; do
        ((++n > 3000)) && die "baseline: CLUSTER REPLICATE $M_ID refused for 30 s"
        sleep 0.01
    done
    t_meet=$(now_ms)
    wait_ready "$READY_TIMEOUT_S" || die "baseline: $LOST not ready within $READY_TIMEOUT_S s"
    t1=$(now_ms)
    b_wan1=$(wan_now)
    read -r b_out1 b_off1 b_full1 b_part1 _ < <(info_get "$M_ADDR" "$M_PORT" "${LFIELDS[@]}")
    b_recv=$(info_get "$L_ADDR" "$L_PORT" total_net_repl_input_bytes)
    b_keys=$(dbsize "$L_ADDR" "$L_PORT")
    b_ms=$((t1 - t0))
    b_meet_ms=$((t_meet - t0))
    [[ -n ${KEEP_LOGS:-} ]] && mkdir -p "$KEEP_LOGS" && cp "$L_DIR/redis.log" "$KEEP_LOGS/baseline-$L_HOST-$L_PORT.log"
    progress "baseline: ready after $b_ms ms (MEET + REPLICATE accepted after $b_meet_ms ms); stop it (pid $B_PID)"
    kill "$B_PID" 2>/dev/null
    n=0
    while pid_alive "$B_PID" && ((++n < 500)); do sleep 0.02; done
    pid_alive "$B_PID" && kill -9 "$B_PID" 2>/dev/null
    wait "$B_PID" 2>/dev/null
}

meridian_rebuild
baseline_rebuild
stop_writer
if [[ -n $WAN ]]; then
    wan_unshape || die "could not remove the shaping"
    progress "WAN: shaping removed"
fi
w_s=$(secs $(($(now_ms) - t_writer)))

# ---------------------------------------------------------------- report
shard_keys=$(awk -v a="$M_ADDR" -v p="$M_PORT" '$1 == a && $2 == p { print $3 }' "$T_DIR/shard-keys")
echo
echo "cluster rebuild of a lost replica: $LOST ($(region_of "$LOST")), shard $SHARD of 3"
echo "  $KEYS keys x $VALUE_BYTES B over 16384 slots, $shard_keys in this shard; loaded in $LOAD_S s (3 parallel --pipe, until every replica had them)"
how=""
[[ $PROMOTE != - ]] && how=" (after CLUSTER FAILOVER)"
echo "  master $MASTER ($(region_of "$MASTER"))$how; peer $PEER ($(region_of "$PEER")); master used_memory $mem_h"
if [[ -n $WAN ]]; then
    echo "  WAN: $WAN per ordered pair of regions (htb on lo, bench/wan.sh); same-region traffic unshaped"
else
    echo "  WAN: none (every link is loopback)"
fi
echo "  writer: $(writer_ok) SETs acknowledged, $(writer_err) errors, over $w_s s ($RATE/s across 3 masters)"
echo "  master bytes = delta total_net_repl_output_bytes - $N_OTHERS x delta master_repl_offset (live stream to"
echo "  the other replica(s)); recv = the rebuilt node's own total_net_repl_input_bytes (a fresh process)"
echo
printf '%-9s %10s %14s %12s %10s %13s %9s\n' method "ready s" "master MB" "recv MB" sync_full partial_ok keys
if ((m_done)); then
    awk -v t="$m_ms" -v o=$((m_out1 - m_out0)) -v f=$((m_off1 - m_off0)) -v k="$N_OTHERS" -v r="$m_recv" \
        -v fu=$((m_full1 - m_full0)) -v pa=$((m_part1 - m_part0)) -v keys="$m_keys" 'BEGIN {
        printf "%-9s %10.2f %14.2f %12.2f %10s %13s %9s\n", "meridian", t / 1000, (o - k * f) / 1e6, r / 1e6, "+" fu, "+" pa, keys }'
else
    printf '%-9s %10s %14s %12s %10s %13s %9s\n' meridian - - - "+$((m_full1 - m_full0))" "+$((m_part1 - m_part0))" -
fi
awk -v t="$b_ms" -v o=$((b_out1 - b_out0)) -v f=$((b_off1 - b_off0)) -v k="$N_OTHERS" -v r="$b_recv" \
    -v fu=$((b_full1 - b_full0)) -v pa=$((b_part1 - b_part0)) -v keys="$b_keys" 'BEGIN {
    printf "%-9s %10.2f %14.2f %12.2f %10s %13s %9s\n", "baseline", t / 1000, (o - k * f) / 1e6, r / 1e6, "+" fu, "+" pa, keys }'
echo
tt=$([[ -n $WAN ]] && echo 0.3 || echo 1)
if ((m_done)); then
    awk -v mo=$((m_out1 - m_out0)) -v mf=$((m_off1 - m_off0)) -v bo=$((b_out1 - b_out0)) -v bf=$((b_off1 - b_off0)) \
        -v k="$N_OTHERS" -v mt="$m_ms" -v bt="$b_ms" -v mfu=$((m_full1 - m_full0)) -v tt="$tt" \
        -v peer=$((p_out1 - p_out0)) -v snap="$m_snap" 'BEGIN {
        mb = mo - k * mf; bb = bo - k * bf; r = (bt > 0 ? mt / bt : 0)
        printf "  +snapshot-fetched: %s (the peer sent %.2f MB)\n", snap, peer / 1e6
        printf "  bytes meridian/baseline (master): %.2f%% (target <= 1%%: %s)\n", (bb > 0 ? 100 * mb / bb : 0), (bb > 0 && mb <= bb / 100 ? "met" : "not met")
        printf "  master sync_full: meridian +%d (target +0: %s)\n", mfu, (mfu == 0 ? "met" : "not met")
        printf "  time meridian/baseline: %.3f (target <= %s: %s)\n", r, tt, (r <= tt ? "met" : "not met")
    }'
else
    echo "  meridian: $m_note"
    echo "    (check --heal exited $m_rc after $m_exit_ms ms, events: ${m_events:-none}; the cluster heal is not in this build)"
    echo "  bytes, sync_full and time targets: not met (no meridian rebuild to measure)"
fi
wan_fail=0
if [[ -n $WAN ]]; then
    echo "  shaped bytes ($WAN links; 1 = us-east, 2 = eu-west, 3 = ap-south):"
    ((m_done)) && echo "    during meridian: $(wan_delta "$m_wan0" "$m_wan1")"
    echo "    during baseline: $(wan_delta "$b_wan0" "$b_wan1")"
    b_link=$(($(wan_bytes "$b_wan1" "$M_REG->$L_REG") - $(wan_bytes "$b_wan0" "$M_REG->$L_REG")))
    if ((b_link < b_recv * 9 / 10)); then
        echo "  FAIL: the baseline's full sync ($b_recv B) did not cross the shaped $M_REG->$L_REG link ($b_link B)"
        wan_fail=1
    fi
fi
[[ $b_keys == "$shard_keys" ]] || echo "  NOTE: the baseline's node holds $b_keys keys, not the shard's $shard_keys"
progress "done"
exit "$wan_fail"
