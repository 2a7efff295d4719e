#!/usr/bin/env bash
# shellcheck disable=SC2317 # on_exit, agreed: called through trap and wait_until
# bench/cluster-scale.sh: grow a loaded Redis Cluster from 3 to 5 shards
# and shrink it back to 3, under an application's writes, two ways in the
# same run on the same machine and the same data (issue 13's benchmark).
# For each step: its time, the loaded keys it moved (and per second), the
# writer's acknowledged writes lost (target 0) and its longest gap, and
# where the slot-owning masters are afterwards (masters per region, and
# whether losing any one region leaves a majority of them: "safe").
# Target: meridian's time <= the redis-cli baseline's, and its masters
# spread safely after every step.
#
# Hosts: regions/local-cluster.json's six loopback hosts in three regions
# (us-east 127.0.1.1/.2, eu-west 127.0.2.1/.2, ap-south 127.0.3.1/.2).
# Every process binds its host's address only; nothing leaves 127.0.0.0/8.
#
#   1. baseline (what an operator does with redis-cli), on BASE_PORT..:
#      the 9 nodes of the 3-shard plan (`meridian plan --json` of a copy
#      of local-cluster.json: addresses, ports, bus ports), started by this
#      script as plain redis-server processes (pids recorded, stopped by
#      pid) with the essentials of meridian's redis.conf: cluster-enabled,
#      explicit cluster-port and announce addresses, node timeout 5000,
#      `save ""`, `appendonly no`, min-replicas-to-write 1 (the topology's
#      consistency), replica migration off, and the same ACL users with the
#      default user off (auth: `--user admin`, the password through
#      REDISCLI_AUTH; the writer authenticates as `app`).  Formed, not
#      timed, by `redis-cli --cluster create ... --cluster-replicas 2`, the
#      nodes listed region-interleaved (use-a1, euw-a1, aps-a1, use-b1,
#      ...): redis-cli knows hosts only by IP and makes masters of the
#      first nodes of distinct IPs in argument order, so this order is the
#      operator's best chance of masters in three regions (the report
#      prints where they went).
#      out (timed): start 6 new nodes, on the hosts meridian's 5-shard plan
#        gives shards 4 and 5 (next free port on each host), so both
#        methods run the same processes on the same hosts, with
#        min-replicas-to-write 0 (`add-node` writes the cluster's functions
#        into a new master with FUNCTION RESTORE, which a master without a
#        replica refuses with NOREPLICAS under min-replicas-to-write 1);
#        `redis-cli --cluster add-node` each new master, then `add-node
#        --cluster-slave --cluster-master-id` each replica (its master as
#        the existing node: through another node, the REPLICATE redis-cli
#        sends 1 s after the MEET fails with "Unknown node" when gossip
#        has not told the new node of its master yet), after each one
#        polling (50 ms) until the seed knows the node and every node has
#        the same slot map (the next add-node refuses nodes that "don't
#        agree about configuration", and --cluster-slave looks its master
#        up in the seed's view); then until every node says
#        cluster_state:ok, knows every node and the replicas are linked (a
#        rebalance into a master that still says fail is refused by the
#        target: CLUSTERDOWN); CONFIG SET min-replicas-to-write 1 + CONFIG
#        REWRITE on the new masters; `redis-cli --cluster rebalance
#        --cluster-use-empty-masters`; wait until every node agrees again.
#      in (timed): `redis-cli --cluster rebalance --cluster-weight ID=0`
#        for the two new masters (every slot moves off them), then
#        `--cluster del-node` for their replicas and for them (redis-cli
#        sends CLUSTER FORGET everywhere and SHUTDOWN to the node); wait
#        until the 9 nodes left agree.
#   2. meridian, on MERIDIAN_PORT.. (agents MERIDIAN_PORT + 1000):
#      `meridian deploy` of a copy of local-cluster.json (not timed), then
#      out: the copy edited to "shards": 5, `meridian deploy` timed until
#      it exits and every node agrees; in: edited back to 3, the same.
#      A build that cannot scale (it says "needs a new plan ... not
#      applied" and keeps 3 shards) is detected from the live cluster's
#      slot-owning masters after the deploy, and reported as "meridian:
#      scale not supported by this build" instead of figures.
#
# Load (each method, not timed): KEYS keys key:1..KEYS of VALUE_BYTES
# incompressible bytes over all 16384 slots, `cluster-keys resp RANGE` |
# `redis-cli --pipe` per slot range of each master, in parallel, until
# every replica holds its master's keys.
# Writer (each step): `cluster-keys acked RATE ...` (bench/cluster-keys.c),
# a cluster-aware client writing RATE SETs/s of new distinct keys one at a
# time, following MOVED and ASK and retrying transient errors, that logs
# each acknowledged write; started SETTLE_S before the step, stopped
# SETTLE_S after it, then `cluster-keys verify` reads every acknowledged
# key back: lost, and the longest time between two acknowledgements (the
# writer paces every 20 ms, so ~20 ms is its floor).
# Keys moved: the loaded keys whose slot changed owner between before and
# after the step (slot owners from CLUSTER NODES; `cluster-keys count`);
# the writer's own keys are not counted.
#
# Parameters (environment): KEYS (1000000), VALUE_BYTES (180), RATE (1000),
# BASE_PORT (13000: baseline nodes BASE_PORT + i, bus + 10000),
# MERIDIAN_PORT (11000: meridian's store.port, bus + 10000, agents + 1000),
# MAXMEMORY (256mb, per node), SETTLE_S (2), STEP_TIMEOUT_S (1800: each
# step, and each wait inside it), AGREE_TIMEOUT_S (60: how long after
# meridian's deploy exits the nodes may take to agree), METHODS ("baseline
# meridian": which halves to run).
# Exits 1 when something failed to run (a tool's error, a timeout), 0
# otherwise, whether the targets are met or not.
set -euo pipefail
BUILD=${BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
SRC=${SRC:-$(cd "$(dirname "$0")/.." && pwd)}
export BUILD SRC
source "$SRC/tests/integration/lib.sh"

KEYS=${KEYS:-1000000}
VALUE_BYTES=${VALUE_BYTES:-180}
RATE=${RATE:-1000}
BBASE=${BASE_PORT:-13000}
MBASE=${MERIDIAN_PORT:-11000}
MAXMEMORY=${MAXMEMORY:-256mb}
SETTLE_S=${SETTLE_S:-2}
STEP_TIMEOUT_S=${STEP_TIMEOUT_S:-1800}
AGREE_TIMEOUT_S=${AGREE_TIMEOUT_S:-60}
METHODS=${METHODS:-baseline meridian}
KEYGEN="$BUILD/cluster-keys"
NAME=benchcscale
WRITER_MAX_S=86400 # stopped by SIGTERM after its step
T0_RUN=$(now_ms)

BENCH=cluster-scale
source "$SRC/bench/lib.sh"

[[ -x $KEYGEN ]] || die "$KEYGEN is missing: build the project (bench/CMakeLists.txt builds it)"
for c in redis-server redis-cli jq; do
    command -v "$c" >/dev/null || die "$c is missing (scripts/install-deps.sh installs it)"
done
for p in "$BBASE" "$MBASE"; do
    ((p + 10000 + 16 < 32768)) || die "port $p: its cluster bus ports (+10000) must stay below 32768"
done
((BBASE + 16 <= MBASE || MBASE + 1000 + 16 <= BBASE)) ||
    die "BASE_PORT $BBASE and MERIDIAN_PORT $MBASE (agents +1000) overlap"
# nothing may listen on this run's ports yet (any address: 0.0.0.0 would
# take them too): nodes BASE..BASE+3, their bus ports, meridian's agents
busy=$(ss -ltnH 2>/dev/null | awk -v b="$BBASE" -v m="$MBASE" '{
    n = split($4, a, ":"); p = a[n]
    for (i = 0; i < 4; i++) if (p == b + i || p == b + 10000 + i || p == m + i || p == m + 10000 + i) print $4
    if (p == m + 1000) print $4 }')
[[ -z $busy ]] || die "ports of this run are in use: $(echo "$busy" | tr '\n' ' ')(set BASE_PORT / MERIDIAN_PORT)"

# Stopped on every exit: the writer, the baseline's nodes (by pid), then
# lib.sh's cleanup (meridian destroy, then every recorded pid, T_DIR).
W_PID="" B_PIDS=()
on_exit() {
    local rc=$?
    set +e
    [[ -n $W_PID ]] && pid_alive "$W_PID" && kill "$W_PID" 2>/dev/null
    stop_baseline
    (exit "$rc")
    cleanup
}
trap on_exit EXIT

# ---------------------------------------------------------------- cluster views
# Every view below is one redis-cli per node; AUTH through the environment.
# cli PASSFILE ARGS...: redis-cli as admin.
cli() {
    local pf=$1
    shift
    REDISCLI_AUTH=$(cat "$pf") redis-cli --no-auth-warning --user admin "$@"
}

# The long commands run in the background, pid recorded, and are waited
# for: a signal then runs the exit trap at once, which stops them by pid.
# bg_wait PID: its exit code.
bg_wait() {
    local rc=0
    T_PIDS+=("$1")
    wait "$1" || rc=$?
    return "$rc"
}
# bg_cli OUT PASSFILE ARGS...: redis-cli as admin (as cli), output to OUT.
bg_cli() {
    local out=$1 pf=$2
    shift 2
    REDISCLI_AUTH=$(cat "$pf") redis-cli --no-auth-warning --user admin "$@" >"$out" 2>&1 &
    bg_wait $!
}

# live_nodes PASSFILE ADDR PORT: "ID ADDR PORT ROLE MASTER_ID NSLOTS" per node
# that node knows (ROLE master|replica; MASTER_ID - for a master).
live_nodes() {
    cli "$1" -h "$2" -p "$3" cluster nodes 2>/dev/null | tr -d '\r' | awk '
        NF >= 8 {
            a = $2; sub(/@.*/, "", a); n = split(a, hp, ":"); port = hp[n]; addr = substr(a, 1, length(a) - length(port) - 1)
            role = ($3 ~ /master/ ? "master" : "replica"); s = 0
            for (i = 9; i <= NF; i++) {
                if ($i ~ /^\[/) continue
                if (split($i, r, "-") == 2) s += r[2] - r[1] + 1; else s++
            }
            print $1, addr, port, role, $4, s
        }'
}

# slot_owners PASSFILE ADDR PORT: "SLOT ADDR:PORT" for every assigned slot,
# as that node sees them.
slot_owners() {
    cli "$1" -h "$2" -p "$3" cluster nodes 2>/dev/null | tr -d '\r' | awk '
        NF >= 9 && $3 ~ /master/ {
            a = $2; sub(/@.*/, "", a)
            for (i = 9; i <= NF; i++) {
                if ($i ~ /^\[/) continue
                if (split($i, r, "-") != 2) r[2] = r[1] = $i
                for (s = r[1]; s <= r[2]; s++) print s, a
            }
        }' | sort -n
}

# master_ranges PASSFILE ADDR PORT: "ADDR PORT FIRST LAST" per slot range of
# every master.
master_ranges() {
    cli "$1" -h "$2" -p "$3" cluster nodes 2>/dev/null | tr -d '\r' | awk '
        NF >= 9 && $3 ~ /master/ {
            a = $2; sub(/@.*/, "", a); n = split(a, hp, ":"); port = hp[n]; addr = substr(a, 1, length(a) - length(port) - 1)
            for (i = 9; i <= NF; i++) {
                if ($i ~ /^\[/) continue
                if (split($i, r, "-") != 2) r[2] = r[1] = $i
                print addr, port, r[1], r[2]
            }
        }'
}

# node_view PASSFILE ADDR PORT: "STATE ASSIGNED KNOWN OPEN LINK SLOTMAP" of
# one node (OPEN: slots it has migrating or importing; LINK up|down for a
# replica, - for a master; SLOTMAP "addr:port=ranges;" sorted), from one
# redis-cli call (as bench/cluster-deploy.sh).
node_view() {
    printf 'CLUSTER INFO\nCLUSTER NODES\nINFO replication\n' |
        cli "$1" -h "$2" -p "$3" 2>/dev/null | tr -d '\r' | awk '
        /^cluster_state:/ { split($0, f, ":"); st = f[2]; next }
        /^cluster_slots_assigned:/ { split($0, f, ":"); as = f[2]; next }
        /^cluster_known_nodes:/ { split($0, f, ":"); kn = f[2]; next }
        /^role:/ { split($0, f, ":"); role = f[2]; next }
        /^master_link_status:/ { split($0, f, ":"); link = f[2]; next }
        NF >= 9 && $3 ~ /master/ {
            a = $2; sub(/[@,].*/, "", a); s = ""
            for (i = 9; i <= NF; i++) if ($i !~ /^\[/) s = s (s == "" ? "" : ",") $i; else if ($3 ~ /myself/) open++
            m[a] = s
        }
        END {
            n = 0; for (a in m) k[++n] = a
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (k[j] < k[i]) { t = k[i]; k[i] = k[j]; k[j] = t }
            map = ""; for (i = 1; i <= n; i++) map = map k[i] "=" m[k[i]] ";"
            printf "%s %s %s %d %s %s\n", (st == "" ? "?" : st), (as == "" ? "?" : as), (kn == "" ? "?" : kn), open,
                (role == "slave" ? (link == "" ? "down" : link) : "-"), (map == "" ? "?" : map)
        }'
}

# agreed PASSFILE ADDR PORT NODES REPLICAS: the seed knows NODES nodes, of
# which REPLICAS replicas; every one of them says cluster_state:ok, 16384
# slots assigned and NODES known, has the same slot map and no slot open
# (migrating/importing); each has the role the seed says, and every
# replica is linked.
agreed() {
    local pf=$1 n map0="" st as kn open link map addr port role
    live_nodes "$pf" "$2" "$3" >"$T_DIR/agree.nodes"
    n=$(wc -l <"$T_DIR/agree.nodes")
    ((n == $4)) && (($(grep -c ' replica ' "$T_DIR/agree.nodes") == $5)) || return 1
    while read -r _ addr port role _ _; do
        read -r st as kn open link map < <(node_view "$pf" "$addr" "$port")
        [[ $st == ok && $as == 16384 && $kn == "$n" && $open == 0 && $map != "?" ]] || return 1
        [[ -n $map0 ]] || map0=$map
        [[ $map == "$map0" ]] || return 1
        if [[ $role == master ]]; then [[ $link == - ]] || return 1; else [[ $link == up ]] || return 1; fi
    done <"$T_DIR/agree.nodes"
    return 0
}

# maps_agree PASSFILE ADDR PORT ADDR:PORT: the seed knows the node at
# ADDR:PORT, and every node it knows has its slot map.
maps_agree() {
    local pf=$1 map0="" map addr port
    live_nodes "$pf" "$2" "$3" >"$T_DIR/agree.nodes"
    grep -q " ${4%:*} ${4##*:} " "$T_DIR/agree.nodes" || return 1
    while read -r _ addr port _ _ _; do
        read -r _ _ _ _ _ map < <(node_view "$pf" "$addr" "$port")
        [[ $map != "?" ]] || return 1
        [[ -n $map0 ]] || map0=$map
        [[ $map == "$map0" ]] || return 1
    done <"$T_DIR/agree.nodes"
    return 0
}

# wait_until SECONDS COMMAND...: COMMAND every 50 ms until it succeeds;
# false after SECONDS.
wait_until() {
    local deadline=$(($(now_ms) + $1 * 1000))
    shift
    until "$@"; do
        (($(now_ms) >= deadline)) && return 1
        sleep 0.05
    done
    return 0
}

# all_loaded PASSFILE ADDR PORT: every replica holds as many keys as its master.
all_loaded() {
    local pf=$1 id addr port role mid
    declare -A size=()
    live_nodes "$pf" "$2" "$3" >"$T_DIR/load.nodes"
    while read -r id addr port role mid _; do
        size[$id]=$(cli "$pf" -h "$addr" -p "$port" dbsize 2>/dev/null)
    done <"$T_DIR/load.nodes"
    while read -r id _ _ role mid _; do
        [[ $role == replica ]] || continue
        [[ ${size[$id]} =~ ^[0-9]+$ && ${size[$id]} == "${size[$mid]:-x}" ]] || return 1
    done <"$T_DIR/load.nodes"
    return 0
}

# load PASSFILE ADDR PORT LABEL: KEYS keys over every master's ranges, until
# every replica holds its master's keys.
load() {
    local pf=$1 seed_addr=$2 seed_port=$3 label=$4 addr port first last t0 p total=0 n out
    local lpids=()
    master_ranges "$pf" "$seed_addr" "$seed_port" >"$T_DIR/$label.ranges"
    progress "$label: load $KEYS keys of $VALUE_BYTES B: cluster-keys resp | redis-cli --pipe per master slot range ($(wc -l <"$T_DIR/$label.ranges") ranges), in parallel"
    t0=$(now_ms)
    while read -r addr port first last; do
        { "$KEYGEN" resp "$first-$last" "$KEYS" "$VALUE_BYTES" |
            cli "$pf" -h "$addr" -p "$port" --pipe >"$T_DIR/$label.pipe-$addr-$port-$first.out" 2>&1; } &
        lpids+=($!)
    done <"$T_DIR/$label.ranges"
    for p in "${lpids[@]}"; do wait "$p" || true; done
    while read -r addr port first last; do
        out="$T_DIR/$label.pipe-$addr-$port-$first.out"
        grep -q 'errors: 0, replies' "$out" || { cat "$out"; die "$label: the load into $addr:$port failed"; }
        n=$(sed -n 's/.*errors: 0, replies: \([0-9]*\).*/\1/p' "$out")
        total=$((total + n))
    done <"$T_DIR/$label.ranges"
    ((total == KEYS)) || die "$label: the masters acknowledged $total SETs, not $KEYS"
    wait_until "$STEP_TIMEOUT_S" all_loaded "$pf" "$seed_addr" "$seed_port" ||
        die "$label: the replicas do not hold their masters' keys $STEP_TIMEOUT_S s after the load"
    progress "$label: loaded in $(secs $(($(now_ms) - t0))) s (every replica holds its master's keys)"
}

# ---------------------------------------------------------------- writer
# writer_start LABEL SEED_ADDR SEED_PORT APP_PASSFILE: the acked writer,
# logging to $T_DIR/LABEL.acked; waits until it has acknowledged writes.
writer_start() {
    W_LOG="$T_DIR/$1.acked" W_ERR="$T_DIR/$1.writer.err"
    "$KEYGEN" acked "$RATE" "$WRITER_MAX_S" "$W_LOG" "$2:$3" app "$4" 2>"$W_ERR" &
    W_PID=$!
    T_PIDS+=("$W_PID")
    has_acked() { (($(wc -l 2>/dev/null <"$W_LOG" || echo 0) > 1)); }
    wait_until 10 has_acked || { cat "$W_ERR"; die "$1: the writer acknowledged nothing in 10 s"; }
    sleep "$SETTLE_S"
}
# writer_stop: SIGTERM, then its exit code must be 0.
writer_stop() {
    local rc=0
    sleep "$SETTLE_S"
    kill "$W_PID" 2>/dev/null || true
    wait "$W_PID" || rc=$?
    W_PID=""
    sed 's/^/#   /' "$W_ERR"
    ((rc == 0)) || die "the writer exited $rc (see above)"
}
# writer_verify LOG SEED_ADDR SEED_PORT APP_PASSFILE: sets v_acked, v_lost, v_gap.
writer_verify() {
    local out rc=0
    out=$("$KEYGEN" verify "$1" "$2:$3" app "$4" 2>"$T_DIR/verify.err") || rc=$?
    ((rc == 0 || rc == 3)) || { cat "$T_DIR/verify.err"; die "cluster-keys verify $1 failed ($rc)"; }
    [[ -s $T_DIR/verify.err ]] && sed 's/^/#   /' "$T_DIR/verify.err"
    out=${out//acked=/}
    out=${out//lost=/}
    read -r v_acked v_lost v_gap <<<"${out//longest_gap_ms=/}"
}

# ---------------------------------------------------------------- measures
# keys_moved BEFORE AFTER: loaded keys (key:1..KEYS) whose slot changed owner.
keys_moved() {
    local ranges
    ranges=$(awk 'NR == FNR { a[$1] = $2; next } a[$1] != $2 { print $1 }' "$1" "$2" | sort -n | awk '
        NR == 1 { f = l = $1; next }
        $1 == l + 1 { l = $1; next }
        { print f "-" l; f = l = $1 }
        END { if (NR) print f "-" l }')
    # shellcheck disable=SC2086 # one argument per range
    "$KEYGEN" count "$KEYS" $ranges
}

# spread REGION_FILE < "ADDR" lines (one per slot-owning master): prints
# "SPREAD|SAFE", SPREAD "us-east 2, eu-west 2, ap-south 1" in the regions'
# order, SAFE yes when losing any one region leaves a majority of them.
# REGION_FILE: "ADDRESS REGION" lines, hosts in topology order.
spread() {
    awk 'NR == FNR { reg[$1] = $2; if (!($2 in seen)) { seen[$2] = 1; order[++nr] = $2 }; next }
        { c[reg[$1] == "" ? "?" : reg[$1]]++; m++ }
        END {
            need = int(m / 2) + 1; safe = (m > 0 ? "yes" : "no"); s = ""
            for (i = 1; i <= nr; i++) { r = order[i]; s = s (s == "" ? "" : ", ") r " " c[r] + 0; if (m - c[r] < need) safe = "no" }
            if (c["?"]) { s = s ", unknown " c["?"]; safe = "no" }
            printf "%s|%s\n", s, safe
        }' "$1" -
}

# one row of the table per (method, direction); RESULTS holds them.
RESULTS=()
add_row() { RESULTS+=("$*"); }

# ---------------------------------------------------------------- topology
jq --arg n "$NAME" --argjson p "$MBASE" --arg mm "$MAXMEMORY" \
    '.name = $n | .store.port = $p | .agent.port = ($p + 1000) | .store.maxmemory = $mm' \
    "$SRC/regions/local-cluster.json" >"$T_DIR/m3.json" || die "could not write the topology copy"
jq '.cluster.shards = 5' "$T_DIR/m3.json" >"$T_DIR/m5.json"
jq --argjson p "$BBASE" '.store.port = $p | .agent.port = ($p + 1000)' "$T_DIR/m3.json" >"$T_DIR/b3.json"
jq '.cluster.shards = 5' "$T_DIR/b3.json" >"$T_DIR/b5.json"
for f in m3 m5 b3 b5; do
    "$MERIDIAN" plan "$T_DIR/$f.json" --json >"$T_DIR/$f.plan" 2>"$T_DIR/plan.err" ||
        { cat "$T_DIR/plan.err"; die "meridian plan refused $f.json"; }
done
jq -r '.hosts[] | "\(.address) \(.region)"' "$T_DIR/m3.plan" >"$T_DIR/regions"

# ================================================================ baseline
B_SECRETS="$T_DIR/b-secrets"
B_ADMIN="$B_SECRETS/admin.pass"
B_APP="$B_SECRETS/app.pass"


# start_node HOST ADDR PORT BUS MIN_REPLICAS: one baseline redis-server,
# pid recorded; returns once it answers.
start_node() {
    local dir="$T_DIR/b/$1-$3" pid
    write_cluster_conf "$dir" "$2" "$3" "$4" "$5" "$MAXMEMORY"
    redis-server "$dir/redis.conf" </dev/null >/dev/null 2>&1 &
    pid=$!
    B_PIDS+=("$pid")
    T_PIDS+=("$pid")
    answers() { [[ $(cli "$B_ADMIN" -h "$1" -p "$2" ping 2>/dev/null) == PONG ]]; }
    wait_until 30 answers "$2" "$3" || die "baseline: $1:$3 ($2) does not answer 30 s after its start"
}

stop_baseline() {
    local pid n
    for pid in "${B_PIDS[@]}"; do pid_alive "$pid" && kill "$pid" 2>/dev/null; done
    for pid in "${B_PIDS[@]}"; do
        n=0
        while pid_alive "$pid" && ((++n < 250)); do sleep 0.02; done
        pid_alive "$pid" && kill -9 "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    B_PIDS=()
}

baseline() {
    mkdir -m 0700 "$B_SECRETS"
    local f
    for f in admin app replication; do (umask 077 && pw >"$B_SECRETS/$f.pass"); done
    ADMIN_PASS=$(cat "$B_ADMIN") APP_PASS=$(cat "$B_APP")
    REPL_PASS=$(cat "$B_SECRETS/replication.pass")

    # The 3-shard plan's nodes, region-interleaved (see the header):
    # "HOST REGION ADDRESS PORT BUS".
    jq -r '.hosts[] | . as $h | ($h.nodes | sort_by(.port))[] |
        "\($h.host) \($h.region) \($h.address) \(.port) \(.bus_port)"' "$T_DIR/b3.plan" |
        awk '{ if (!($2 in ri)) ri[$2] = ++nr; if (!($1 in rank)) rank[$1] = ++inreg[$2]; print rank[$1], ri[$2], $4, $0 }' |
        sort -n -k1,1 -k2,2 -k3,3 | cut -d' ' -f4- >"$T_DIR/b.nodes"
    (($(wc -l <"$T_DIR/b.nodes") == 9)) || die "baseline: the 3-shard plan has $(wc -l <"$T_DIR/b.nodes") nodes, not 9"
    # The new nodes: shards 4 and 5 of the 5-shard plan, by host, each on
    # its host's next free port: "SHARD ROLE HOST REGION ADDRESS PORT BUS".
    jq -r '.hosts[] | "\(.host) \(.region) \(.address)"' "$T_DIR/b5.plan" >"$T_DIR/b.hosts"
    jq -r '.shards[3:][] | (.name | sub(".*-"; "")) as $s | .nodes[] | "\($s) \(.role) \(.host)"' "$T_DIR/b5.plan" >"$T_DIR/b.new.plan"
    awk -v base="$BBASE" -v f1="$T_DIR/b.hosts" -v f2="$T_DIR/b.nodes" '
        FILENAME == f1 { reg[$1] = $2; ad[$1] = $3; next }
        FILENAME == f2 { if ($4 + 1 > next_port[$1]) next_port[$1] = $4 + 1; next }
        { h = $3; p = (h in next_port ? next_port[h] : base); next_port[h] = p + 1
          print $1, $2, h, reg[h], ad[h], p, p + 10000 }' "$T_DIR/b.hosts" "$T_DIR/b.nodes" "$T_DIR/b.new.plan" >"$T_DIR/b.new"
    (($(wc -l <"$T_DIR/b.new") == 6)) || { cat "$T_DIR/b.new"; die "baseline: expected 6 new nodes (2 shards x 3)"; }

    local host addr port bus shard role addrs=() seed_addr seed_port
    progress "baseline: 9 redis-server on ports $BBASE.. (pids recorded), redis-cli --cluster create --cluster-replicas 2"
    while read -r host _ addr port bus; do
        start_node "$host" "$addr" "$port" "$bus" 1
        addrs+=("$addr:$port")
    done <"$T_DIR/b.nodes"
    read -r _ _ seed_addr seed_port _ <"$T_DIR/b.nodes"
    bg_cli "$T_DIR/b.create.out" "$B_ADMIN" --cluster create "${addrs[@]}" --cluster-replicas 2 --cluster-yes ||
        { cat "$T_DIR/b.create.out"; die "baseline: redis-cli --cluster create failed"; }
    wait_until 60 agreed "$B_ADMIN" "$seed_addr" "$seed_port" 9 6 || die "baseline: the 9 nodes do not agree 60 s after create"
    live_nodes "$B_ADMIN" "$seed_addr" "$seed_port" >"$T_DIR/b.layout0"
    progress "baseline: formed; masters $(awk '$4 == "master" && $6 > 0 { printf "%s%s:%s", (n++ ? ", " : ""), $2, $3 }' "$T_DIR/b.layout0")"
    b_layout=$(awk 'NR == FNR { reg[$1] = $2; next } { n++; id[n] = $2 ":" $3; r[n] = reg[$2]; role[n] = $4; nid[n] = $1; m[n] = $5 }
        END { for (i = 1; i <= n; i++) if (role[i] == "master") {
                  s = id[i] " (" r[i] "), replicas"; for (j = 1; j <= n; j++) if (m[j] == nid[i]) s = s " " id[j] " (" r[j] ")"
                  print "    master " s } }' "$T_DIR/regions" "$T_DIR/b.layout0")
    printf '%s\n' "$b_layout"

    load "$B_ADMIN" "$seed_addr" "$seed_port" baseline

    # ---- out: 3 -> 5
    local t0 t1 t_up t_masters t_replicas t_joined t_reb m_ids=() ids
    slot_owners "$B_ADMIN" "$seed_addr" "$seed_port" >"$T_DIR/b.out.before"
    writer_start baseline-out "$seed_addr" "$seed_port" "$B_APP"
    t0=$(now_ms)
    progress "baseline out: start 6 nodes, add-node 2 masters + 4 replicas, wait joined, rebalance --cluster-use-empty-masters (at unix ms $t0)"
    while read -r _ _ host _ addr port bus; do start_node "$host" "$addr" "$port" "$bus" 0; done <"$T_DIR/b.new"
    t_up=$(now_ms)
    declare -A mid=() maddr=()
    # join_wait ADDR:PORT: until the seed knows the node and every node it
    # knows has the same slot map: the next add-node refuses nodes that
    # "don't agree about configuration", and --cluster-slave looks the
    # master up in the seed's view.  Logs how long add-node and the wait took.
    join_wait() {
        local t
        t=$(now_ms)
        wait_until "$STEP_TIMEOUT_S" maps_agree "$B_ADMIN" "$seed_addr" "$seed_port" "$1" ||
            die "baseline out: the nodes do not agree $STEP_TIMEOUT_S s after add-node $1"
        b_adds+="$1 $(secs $((t - t_add))) + $(secs $(($(now_ms) - t))) s; "
    }
    b_adds=""
    while read -r shard role host _ addr port _; do
        [[ $role == master ]] || continue
        t_add=$(now_ms)
        bg_cli "$T_DIR/b.add-$port-$addr.out" "$B_ADMIN" --cluster add-node "$addr:$port" "$seed_addr:$seed_port" ||
            { cat "$T_DIR/b.add-$port-$addr.out"; die "baseline: add-node $addr:$port failed"; }
        join_wait "$addr:$port"
        mid[$shard]=$(cli "$B_ADMIN" -h "$addr" -p "$port" cluster myid | tr -d '\r')
        maddr[$shard]=$addr:$port
        m_ids+=("${mid[$shard]}")
    done <"$T_DIR/b.new"
    t_masters=$(now_ms)
    while read -r shard role host _ addr port _; do
        [[ $role == master ]] && continue
        t_add=$(now_ms)
        bg_cli "$T_DIR/b.add-$port-$addr.out" "$B_ADMIN" --cluster add-node "$addr:$port" "${maddr[$shard]}" \
            --cluster-slave --cluster-master-id "${mid[$shard]}" ||
            { cat "$T_DIR/b.add-$port-$addr.out"; die "baseline: add-node $addr:$port --cluster-slave failed"; }
        join_wait "$addr:$port"
    done <"$T_DIR/b.new"
    t_replicas=$(now_ms)
    wait_until "$STEP_TIMEOUT_S" agreed "$B_ADMIN" "$seed_addr" "$seed_port" 15 10 ||
        die "baseline out: the 15 nodes do not agree $STEP_TIMEOUT_S s after add-node"
    # the new masters have their replicas now: the topology's consistency
    while read -r _ role _ _ addr port _; do
        [[ $role == master ]] || continue
        [[ $(cli "$B_ADMIN" -h "$addr" -p "$port" config set min-replicas-to-write 1 | tr -d '\r') == OK &&
            $(cli "$B_ADMIN" -h "$addr" -p "$port" config rewrite | tr -d '\r') == OK ]] ||
            die "baseline out: CONFIG SET min-replicas-to-write 1 on $addr:$port failed"
    done <"$T_DIR/b.new"
    t_joined=$(now_ms)
    bg_cli "$T_DIR/b.rebalance-out.out" "$B_ADMIN" --cluster rebalance "$seed_addr:$seed_port" --cluster-use-empty-masters ||
        { tail -20 "$T_DIR/b.rebalance-out.out"; die "baseline out: redis-cli --cluster rebalance failed"; }
    t_reb=$(now_ms)
    wait_until "$STEP_TIMEOUT_S" agreed "$B_ADMIN" "$seed_addr" "$seed_port" 15 10 ||
        die "baseline out: the nodes do not agree $STEP_TIMEOUT_S s after the rebalance"
    t1=$(now_ms)
    writer_stop
    writer_verify "$W_LOG" "$seed_addr" "$seed_port" "$B_APP"
    b_out_log=$W_LOG
    slot_owners "$B_ADMIN" "$seed_addr" "$seed_port" >"$T_DIR/b.out.after"
    live_nodes "$B_ADMIN" "$seed_addr" "$seed_port" >"$T_DIR/b.layout1"
    local moved sp
    moved=$(keys_moved "$T_DIR/b.out.before" "$T_DIR/b.out.after")
    sp=$(awk '$4 == "master" && $6 > 0 { print $2 }' "$T_DIR/b.layout1" | spread "$T_DIR/regions")
    b_out_ms=$((t1 - t0))
    b_out_phases="nodes up $(secs $((t_up - t0))), add-node masters $(secs $((t_masters - t_up))), replicas $(secs $((t_replicas - t_masters))), all agree + CONFIG SET $(secs $((t_joined - t_replicas))), rebalance $(secs $((t_reb - t_joined))), agreed $(secs $((t1 - t_reb))) s"
    add_row "baseline out $b_out_ms $moved $v_acked $v_lost $v_gap $sp"
    progress "baseline out: $(secs "$b_out_ms") s ($b_out_phases); $moved keys moved; writer acked $v_acked lost $v_lost longest gap $v_gap ms; masters ${sp%|*} (safe ${sp#*|})"

    # ---- in: 5 -> 3
    slot_owners "$B_ADMIN" "$seed_addr" "$seed_port" >"$T_DIR/b.in.before"
    writer_start baseline-in "$seed_addr" "$seed_port" "$B_APP"
    local weights=() id
    for id in "${m_ids[@]}"; do weights+=("$id=0"); done
    t0=$(now_ms)
    progress "baseline in: rebalance --cluster-weight ${weights[*]}, then del-node the 4 replicas and the 2 masters (at unix ms $t0)"
    bg_cli "$T_DIR/b.rebalance-in.out" "$B_ADMIN" --cluster rebalance "$seed_addr:$seed_port" --cluster-weight "${weights[@]}" ||
        { tail -20 "$T_DIR/b.rebalance-in.out"; die "baseline in: redis-cli --cluster rebalance (weights 0) failed"; }
    t_reb=$(now_ms)
    ids=$(awk -v p="$(printf '%s ' "${m_ids[@]}")" 'BEGIN { n = split(p, a, " "); for (i = 1; i <= n; i++) w[a[i]] = 1 }
        $4 == "replica" && ($5 in w) { print $1 }' "$T_DIR/b.layout1")
    for id in $ids "${m_ids[@]}"; do
        bg_cli "$T_DIR/b.del-$id.out" "$B_ADMIN" --cluster del-node "$seed_addr:$seed_port" "$id" ||
            { cat "$T_DIR/b.del-$id.out"; die "baseline in: del-node $id failed"; }
    done
    t_del=$(now_ms)
    wait_until "$STEP_TIMEOUT_S" agreed "$B_ADMIN" "$seed_addr" "$seed_port" 9 6 ||
        die "baseline in: the nodes left do not agree $STEP_TIMEOUT_S s after del-node"
    t1=$(now_ms)
    writer_stop
    writer_verify "$W_LOG" "$seed_addr" "$seed_port" "$B_APP"
    local in_acked=$v_acked in_lost=$v_lost in_gap=$v_gap
    writer_verify "$b_out_log" "$seed_addr" "$seed_port" "$B_APP"
    b_out_relost=$v_lost
    slot_owners "$B_ADMIN" "$seed_addr" "$seed_port" >"$T_DIR/b.in.after"
    live_nodes "$B_ADMIN" "$seed_addr" "$seed_port" >"$T_DIR/b.layout2"
    (($(wc -l <"$T_DIR/b.layout2") == 9)) || die "baseline in: $(wc -l <"$T_DIR/b.layout2") nodes known after del-node, not 9"
    moved=$(keys_moved "$T_DIR/b.in.before" "$T_DIR/b.in.after")
    sp=$(awk '$4 == "master" && $6 > 0 { print $2 }' "$T_DIR/b.layout2" | spread "$T_DIR/regions")
    b_in_ms=$((t1 - t0))
    b_in_phases="rebalance $(secs $((t_reb - t0))), del-node x6 $(secs $((t_del - t_reb))), agreed $(secs $((t1 - t_del))) s"
    add_row "baseline in $b_in_ms $moved $in_acked $in_lost $in_gap $sp"
    progress "baseline in: $(secs "$b_in_ms") s ($b_in_phases); $moved keys moved; writer acked $in_acked lost $in_lost longest gap $in_gap ms; masters ${sp%|*} (safe ${sp#*|}); the out step's writes lost after it: $b_out_relost"

    progress "baseline: stop its nodes (by pid)"
    stop_baseline
}

# ================================================================ meridian
T_TOPO="$T_DIR/cluster.json" # lib.sh's cleanup destroys it with T_STATE
M_ADMIN="$T_STATE/secrets/admin.pass"
M_APP="$T_STATE/secrets/app.pass"
m_note=""

# m_deploy LABEL: meridian deploy of T_TOPO; sets m_rc.
m_deploy() {
    m_rc=0
    "$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout "$STEP_TIMEOUT_S" >"$T_DIR/m.$1.deploy.out" 2>&1 &
    bg_wait $! || m_rc=$?
    record_pids
    sed 's/^/#   /' "$T_DIR/m.$1.deploy.out"
}

# m_seed: m_seed_addr, m_seed_port from connect-info (a master of now).
m_seed() {
    "$MERIDIAN" connect-info "$T_TOPO" --state "$T_STATE" --json >"$T_DIR/m.connect.json" 2>/dev/null ||
        die "meridian connect-info failed"
    read -r m_seed_addr m_seed_port < <(jq -r '.seeds[0] | "\(.address) \(.port)"' "$T_DIR/m.connect.json")
}

# m_live_masters: slot-owning masters the live cluster has (seed's view).
m_live_masters() { live_nodes "$M_ADMIN" "$m_seed_addr" "$m_seed_port" | awk '$4 == "master" && $6 > 0' | wc -l; }

# m_spread: m_sp "SPREAD|SAFE" from `meridian status --json` (the shards
# whose master serves slots), m_status its health and summary.
m_spread() {
    "$MERIDIAN" status "$T_TOPO" --state "$T_STATE" --json >"$T_DIR/m.status.json" 2>/dev/null || true
    m_status=$(jq -r '"\(.health): \(.summary)"' "$T_DIR/m.status.json" 2>/dev/null) || m_status="no status"
    m_sp=$(jq -r '.shards[] | select(.master != null and .slots_served > 0) | .master.address' "$T_DIR/m.status.json" 2>/dev/null |
        spread "$T_DIR/regions")
}

# m_step LABEL DIRECTION SHARDS: the timed deploy of T_TOPO with SHARDS;
# false when the build did not change the shard count.
m_step() {
    local label=$1 dir=$2 shards=$3 t0 t1 moved sp live
    jq --argjson s "$shards" '.cluster.shards = $s' "$T_DIR/m3.json" >"$T_TOPO"
    slot_owners "$M_ADMIN" "$m_seed_addr" "$m_seed_port" >"$T_DIR/m.$dir.before"
    writer_start "meridian-$dir" "$m_seed_addr" "$m_seed_port" "$M_APP"
    t0=$(now_ms)
    progress "meridian $dir: \"shards\": $shards, meridian deploy (at unix ms $t0)"
    m_deploy "$dir"
    m_seed
    if (($(m_live_masters) != shards)); then
        writer_stop
        live=$(m_live_masters)
        if grep -q 'needs a new plan' "$T_DIR/m.$dir.deploy.out" && ((live == 3 || live == 5)); then
            m_note="meridian: scale not supported by this build ($dir: deploy exited $m_rc and the cluster keeps $live shards)"
        else
            m_note="meridian $dir: deploy exited $m_rc and the cluster has $live slot-owning masters, not $shards"
            m_failed=1
        fi
        progress "$m_note"
        return 1
    fi
    # deploy verified the cluster: it agrees at once, or something is off
    if ! wait_until "$AGREE_TIMEOUT_S" agreed "$M_ADMIN" "$m_seed_addr" "$m_seed_port" $((shards * 3)) $((shards * 2)); then
        live_nodes "$M_ADMIN" "$m_seed_addr" "$m_seed_port" | sed 's/^/#   /'
        die "meridian $dir: $AGREE_TIMEOUT_S s after the deploy, the nodes above (the seed's view) are not $((shards * 3)) nodes and $((shards * 2)) linked replicas that all say cluster_state:ok over one slot map"
    fi
    t1=$(now_ms)
    writer_stop
    writer_verify "$W_LOG" "$m_seed_addr" "$m_seed_port" "$M_APP"
    ((m_rc == 0)) || { m_failed=1; progress "meridian $dir: deploy exited $m_rc (see its output above)"; }
    slot_owners "$M_ADMIN" "$m_seed_addr" "$m_seed_port" >"$T_DIR/m.$dir.after"
    moved=$(keys_moved "$T_DIR/m.$dir.before" "$T_DIR/m.$dir.after")
    m_spread
    sp=$m_sp
    add_row "meridian $dir $((t1 - t0)) $moved $v_acked $v_lost $v_gap $sp"
    progress "meridian $dir: $(secs $((t1 - t0))) s; $moved keys moved; writer acked $v_acked lost $v_lost longest gap $v_gap ms; masters ${sp%|*} (safe ${sp#*|}); status $m_status"
    return 0
}

meridian() {
    m_failed=0
    cp "$T_DIR/m3.json" "$T_TOPO"
    progress "meridian: deploy a copy of local-cluster.json (9 nodes, 3 shards) on port $MBASE"
    m_deploy initial
    ((m_rc == 0)) || die "meridian: the first deploy exited $m_rc"
    m_seed
    [[ -r $M_ADMIN && -r $M_APP ]] || die "meridian: no $M_ADMIN or $M_APP"
    load "$M_ADMIN" "$m_seed_addr" "$m_seed_port" meridian
    if m_step meridian out 5; then
        local out_log=$W_LOG
        if m_step meridian in 3; then
            writer_verify "$out_log" "$m_seed_addr" "$m_seed_port" "$M_APP"
            progress "meridian: the out step's writes lost after the in step: $v_lost"
        fi
    fi
    # whatever happened, the topology file says what runs, for destroy
    jq --argjson s "$(m_live_masters)" '.cluster.shards = $s' "$T_DIR/m3.json" >"$T_TOPO"
    progress "meridian: destroy"
    "$MERIDIAN" destroy "$T_TOPO" --state "$T_STATE" --yes >"$T_DIR/m.destroy.out" 2>&1 &
    bg_wait $! ||
        { cat "$T_DIR/m.destroy.out"; die "meridian destroy failed"; }
}

# ================================================================ run
echo "# cluster scale: 3 -> 5 -> 3 shards (2 replicas each), $KEYS keys x $VALUE_BYTES B, writer $RATE SETs/s; methods: $METHODS"
for m in $METHODS; do
    case $m in
    baseline) baseline ;;
    meridian) meridian ;;
    *) die "METHODS: unknown method '$m' (baseline, meridian)" ;;
    esac
done

# ---------------------------------------------------------------- report
echo
echo "cluster scale, 3 -> 5 shards (out) and back (in), 2 replicas each, 6 loopback hosts in 3 regions"
echo "  $KEYS keys x $VALUE_BYTES B loaded; writer: $RATE SETs/s of new keys, one at a time, cluster-routed (cluster-keys acked)"
[[ -n ${b_out_phases:-} ]] && echo "  baseline out: $b_out_phases"
[[ -n ${b_adds:-} ]] && echo "    add-node + wait until the maps agree: ${b_adds%; }"
[[ -n ${b_in_phases:-} ]] && echo "  baseline in:  $b_in_phases"
[[ -n ${b_layout:-} ]] && { echo "  baseline layout after redis-cli --cluster create:"; echo "$b_layout"; }
echo
printf '%-9s %-4s %9s %11s %9s %7s %5s %8s  %-34s %s\n' method dir seconds "keys moved" keys/s acked lost "gap ms" "masters per region" safe
for r in "${RESULTS[@]}"; do
    read -r method dir ms moved acked lost gap rest <<<"$r"
    awk -v m="$method" -v d="$dir" -v ms="$ms" -v k="$moved" -v a="$acked" -v l="$lost" -v g="$gap" -v sp="${rest%|*}" -v s="${rest#*|}" 'BEGIN {
        printf "%-9s %-4s %9.2f %11d %9.0f %7d %5d %8d  %-34s %s\n", m, d, ms / 1000, k, (ms > 0 ? k / (ms / 1000) : 0), a, l, g, sp, s }'
done
[[ -n $m_note ]] && echo "  $m_note"
echo
# ratios meridian / baseline, and the targets
row_ms() { local r; for r in "${RESULTS[@]}"; do read -r a b c _ <<<"$r"; [[ $a == "$1" && $b == "$2" ]] && echo "$c"; done; return 0; }
for dir in out in; do
    bm=$(row_ms baseline "$dir") mm=$(row_ms meridian "$dir")
    if [[ -n $bm && -n $mm ]]; then
        awk -v m="$mm" -v b="$bm" -v d="$dir" 'BEGIN { r = (b > 0 ? m / b : 0)
            printf "  time meridian/baseline, %s: %.2f (target <= 1: %s)\n", d, r, (r <= 1 ? "met" : "not met") }'
    fi
done
for r in "${RESULTS[@]}"; do
    [[ $r == meridian* ]] || continue
    read -r _ dir _ _ _ lost _ rest <<<"$r"
    echo "  meridian $dir: masters spread safely: ${rest#*|}; acknowledged writes lost: $lost (target 0)"
done
progress "done"
exit "${m_failed:-0}"
