#!/usr/bin/env bash
# bench/cluster-deploy.sh [ROUNDS]: deploy regions/local-cluster.json
# (3 regions x 2 hosts, 3 shards with 2 replicas each: 9 nodes) from
# nothing to a verified cluster, against forming the same nodes with
# `redis-cli --cluster create`, in the same run, rounds interleaved
# (meridian, baseline, meridian, ...).  Prints the median and min/max of
# each, the ratio meridian / baseline, and in every round the regions of
# the masters each tool chose.
#
#   meridian: `meridian deploy` of a copy of local-cluster.json on PORT_BASE
#     (nodes PORT_BASE + i, bus PORT_BASE + 10000 + i, agents
#     PORT_BASE + 1000), from an empty state dir until the command exits
#     after its "deployed and verified" line: cluster_state ok on every
#     node, all 16384 slots served, 6 replicas linked, agents ready.  It
#     starts the 6 agents, which start the 9 nodes.  Then `status --json`
#     (not timed) says where the masters are, and `destroy --yes`.
#   baseline: the same 9 nodes (addresses, ports, bus ports from
#     `meridian plan --json`) started by this script as plain redis-server
#     processes (pids recorded; stopped by pid at the end of the round),
#     with the same redis.conf essentials as meridian's template (bind and
#     bind-source-addr, cluster-enabled, cluster-port and the announce
#     addresses, node timeout, no persistence, diskless sync, backlog,
#     masteruser/masterauth, the same four ACL users with the default user
#     off).  Then `redis-cli --cluster create ADDR... --cluster-replicas 2
#     --cluster-yes --user admin` (the password through REDISCLI_AUTH), the
#     nodes given in the topology's host order, ports ascending.  Then
#     every node is polled (CLUSTER INFO + CLUSTER NODES + INFO replication,
#     one redis-cli per node) until all nine say cluster_state:ok,
#     cluster_slots_assigned:16384 and the same slot map (master address ->
#     slot ranges): the time stops there.  When the 6 replicas also report
#     master_link_status:up is recorded too (meridian's verification
#     includes it) and printed as "linked".
#
# redis-cli knows hosts by IP only: it interleaves the nodes of distinct
# IPs (in argument order) and takes the first S as masters, so it cannot
# keep masters in distinct regions; the report shows where it put them.
#
# Target: meridian median <= baseline median, and meridian's masters in 3
# distinct regions in every round.
#
# Parameters (environment): PORT_BASE (16100), POLL_MS (50: the baseline's
# polling period), TIMEOUT_S (60: per round).
BUILD=${BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
SRC=${SRC:-$(cd "$(dirname "$0")/.." && pwd)}
export BUILD SRC
source "$SRC/tests/integration/lib.sh"

ROUNDS=${1:-5}
BASE=${PORT_BASE:-16100}
POLL_MS=${POLL_MS:-50}
TIMEOUT_S=${TIMEOUT_S:-60}
NAME=benchcluster
TOPO="$T_DIR/cluster.json"

BENCH=cluster-deploy
source "$SRC/bench/lib.sh"

jq --arg n "$NAME" --argjson p "$BASE" '.name = $n | .store.port = $p | .agent.port = ($p + 1000)' \
    "$SRC/regions/local-cluster.json" >"$TOPO" || die "could not write the topology copy"
"$MERIDIAN" plan "$TOPO" --json >"$T_DIR/plan.json" 2>"$T_DIR/plan.err" ||
    { cat "$T_DIR/plan.err"; die "meridian plan refused the topology"; }
SHARDS=$(jq -r '.shard_count' "$T_DIR/plan.json")
REPLICAS=$(jq -r '.replicas_per_shard' "$T_DIR/plan.json")

# The nodes, in the topology's host order, ports ascending:
# "HOST REGION ADDRESS PORT BUS" per line.
jq -r '.hosts[] | . as $h | (.nodes | sort_by(.port))[] |
    "\($h.host) \($h.region) \($h.address) \(.port) \(.bus_port)"' "$T_DIR/plan.json" >"$T_DIR/nodes"
NNODES=$(wc -l <"$T_DIR/nodes")
((NNODES == SHARDS * (REPLICAS + 1))) || die "the plan has $NNODES nodes, not $((SHARDS * (REPLICAS + 1)))"

# where ADDRESS:PORT...: "host:port (region)" for each, comma-separated.
where() {
    local a out=()
    for a in "$@"; do
        out+=("$(awk -v a="${a%:*}" -v p="${a#*:}" '$3 == a && $4 == p { printf "%s:%s (%s)", $1, $4, $2 }' "$T_DIR/nodes")")
    done
    local IFS=,
    local joined="${out[*]}"
    echo "${joined//,/, }"
}
# regions_of ADDRESS:PORT...: the number of distinct regions among them.
distinct_regions() {
    local a
    for a in "$@"; do awk -v a="${a%:*}" -v p="${a#*:}" '$3 == a && $4 == p { print $2 }' "$T_DIR/nodes"; done |
        sort -u | wc -l
}

# ---------------------------------------------------------------- meridian
# meridian_round I: one deploy from nothing; sets m_ms and m_masters
# (ADDRESS:PORT of each shard's master, from status --json).
meridian_round() {
    local state="$T_DIR/m-$1" t0 t1
    track "$TOPO" "$state"
    t0=$(now_ms)
    "$MERIDIAN" deploy "$TOPO" --state "$state" >"$T_DIR/deploy.out" 2>&1 ||
        { cat "$T_DIR/deploy.out"; die "meridian deploy failed (round $1)"; }
    t1=$(now_ms)
    record_pids
    grep -q '^deployed and verified' "$T_DIR/deploy.out" ||
        { cat "$T_DIR/deploy.out"; die "meridian deploy did not say 'deployed and verified' (round $1)"; }
    m_ms=$((t1 - t0))
    m_line=$(grep '^deployed and verified' "$T_DIR/deploy.out")
    m_form=$(sed -n 's/^ *cluster *[0-9]* MEETs.*(\([0-9.]*\) s)$/\1/p' "$T_DIR/deploy.out")
    "$MERIDIAN" status "$TOPO" --state "$state" --json >"$T_DIR/status.json" 2>/dev/null
    mapfile -t m_masters < <(jq -r '.shards[] | "\(.master.address):\(.master.port)"' "$T_DIR/status.json")
    "$MERIDIAN" destroy "$TOPO" --state "$state" --yes >"$T_DIR/destroy.out" 2>&1 ||
        { cat "$T_DIR/destroy.out"; die "meridian destroy failed (round $1)"; }
}

# ---------------------------------------------------------------- baseline
# The same ACL users as meridian's template, with this run's passwords.
ADMIN_PASS=$(pw)
REPL_PASS=$(pw)
SENT_PASS=$(pw)
APP_PASS=$(pw)
adm() { rcli_as admin "$ADMIN_PASS" "$@"; }


# node_view ADDRESS PORT: one line "STATE ASSIGNED LINK SLOTMAP" of that
# node (LINK: up, down or - for a master; SLOTMAP: "addr:port=ranges;..."
# sorted), from one redis-cli call.
node_view() {
    printf 'CLUSTER INFO\nCLUSTER NODES\nINFO replication\n' |
        adm -h "$1" -p "$2" 2>/dev/null | tr -d '\r' | awk '
        /^cluster_state:/ { split($0, f, ":"); st = f[2]; next }
        /^cluster_slots_assigned:/ { split($0, f, ":"); as = f[2]; next }
        /^role:/ { split($0, f, ":"); role = f[2]; next }
        /^master_link_status:/ { split($0, f, ":"); link = f[2]; next }
        NF >= 8 && $3 ~ /master/ && NF >= 9 {
            a = $2; sub(/[@,].*/, "", a); s = ""
            for (i = 9; i <= NF; i++) if ($i !~ /^\[/) s = s (s == "" ? "" : ",") $i
            m[a] = s
        }
        END {
            n = 0; for (a in m) k[++n] = a
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (k[j] < k[i]) { t = k[i]; k[i] = k[j]; k[j] = t }
            map = ""; for (i = 1; i <= n; i++) map = map k[i] "=" m[k[i]] ";"
            printf "%s %s %s %s\n", (st == "" ? "?" : st), (as == "" ? "?" : as),
                (role == "slave" ? (link == "" ? "down" : link) : "-"), (map == "" ? "?" : map)
        }'
}

# all_agree: 0 when every node says ok, 16384 slots and the same map;
# sets all_linked=1 when, besides, every replica's link is up.
all_agree() {
    local addr port map0="" st as link map n_up=0
    all_linked=0
    while read -r _ _ addr port _; do
        read -r st as link map < <(node_view "$addr" "$port")
        [[ $st == ok && $as == 16384 && $map != "?" ]] || return 1
        [[ -z $map0 ]] && map0=$map
        [[ $map == "$map0" ]] || return 1
        [[ $link == up ]] && n_up=$((n_up + 1))
    done <"$T_DIR/nodes"
    ((n_up == SHARDS * REPLICAS)) && all_linked=1
    return 0
}

B_PIDS=()
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

# baseline_round I: sets b_ms (until all nine agree), b_link_ms (until the
# replicas are linked too, or "?"), b_phases (where the time went),
# b_masters (ADDRESS:PORT).
baseline_round() {
    local root="$T_DIR/b-$1" t0 t_agree="" t_link="" deadline host addr port bus pid addrs=()
    while read -r host _ addr port bus; do
        write_cluster_conf "$root/$host-$port" "$addr" "$port" "$bus" 1 256mb
        addrs+=("$addr:$port")
    done <"$T_DIR/nodes"

    t0=$(now_ms)
    deadline=$((t0 + TIMEOUT_S * 1000))
    while read -r host _ addr port _; do
        redis-server "$root/$host-$port/redis.conf" </dev/null >/dev/null 2>&1 &
        pid=$!
        B_PIDS+=("$pid")
        T_PIDS+=("$pid")
    done <"$T_DIR/nodes"
    while read -r host _ addr port _; do
        until [[ $(adm -h "$addr" -p "$port" ping </dev/null 2>/dev/null) == PONG ]]; do
            (($(now_ms) >= deadline)) && die "baseline: $host:$port does not answer (round $1)"
            sleep 0.01
        done
    done <"$T_DIR/nodes"
    t_up=$(now_ms)
    REDISCLI_AUTH=$ADMIN_PASS redis-cli --no-auth-warning --user admin --cluster create "${addrs[@]}" \
        --cluster-replicas "$REPLICAS" --cluster-yes >"$T_DIR/create-$1.out" 2>&1 ||
        { cat "$T_DIR/create-$1.out"; die "redis-cli --cluster create failed (round $1)"; }
    t_created=$(now_ms)
    until [[ -n $t_link ]]; do
        if all_agree; then
            [[ -z $t_agree ]] && t_agree=$(now_ms)
            ((all_linked)) && t_link=$(now_ms)
        fi
        if (($(now_ms) >= deadline)); then
            [[ -n $t_agree ]] && break
            die "baseline: the nodes do not agree on an ok cluster after $TIMEOUT_S s (round $1)"
        fi
        [[ -z $t_link ]] && sleep "$(awk -v ms="$POLL_MS" 'BEGIN { print ms / 1000 }')"
    done
    b_ms=$((t_agree - t0))
    b_phases="nodes up $((t_up - t0)), create $((t_created - t_up)), then agree $((t_agree - t_created))"
    b_link_ms=${t_link:+$((t_link - t0))}
    b_link_ms=${b_link_ms:-?}
    # the masters: slot owners in the first node's view
    read -r _ _ addr port _ <"$T_DIR/nodes"
    mapfile -t b_masters < <(adm -h "$addr" -p "$port" cluster nodes 2>/dev/null | tr -d '\r' |
        awk '$3 ~ /master/ && NF >= 9 { a = $2; sub(/[@,].*/, "", a); print a }' | sort -t. -k3,3n -k4,4n)
    stop_baseline
    rm -rf "$root"
}

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
minmax() { printf '%s\n' "$@" | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo "-" hi }'; }

echo "# cluster deploy: $NNODES nodes ($SHARDS shards x $((REPLICAS + 1)) copies) on ports $BASE.., $ROUNDS rounds, interleaved"
M=() B=() BL=() m_ok=1 rounds_txt=()
for ((i = 1; i <= ROUNDS; i++)); do
    meridian_round "$i"
    M+=("$m_ms")
    mr=$(distinct_regions "${m_masters[@]}")
    ((mr == SHARDS)) || m_ok=0
    baseline_round "$i"
    B+=("$b_ms")
    BL+=("$b_link_ms")
    br=$(distinct_regions "${b_masters[@]}")
    rounds_txt+=("  round $i: meridian $m_ms ms (forming ${m_form:-?} s of it), masters $(where "${m_masters[@]}") -> $mr regions"
        "           redis-cli $b_ms ms ($b_phases; replicas linked $b_link_ms), masters $(where "${b_masters[@]}") -> $br regions")
    printf '# round %d: meridian %s ms (%s regions), redis-cli %s ms (%s regions)\n' "$i" "$m_ms" "$mr" "$b_ms" "$br"
done
mm=$(median "${M[@]}")
bm=$(median "${B[@]}")
blm=$(median "${BL[@]}")
echo "cluster deploy, $NNODES nodes from nothing to cluster_state:ok on every node ($ROUNDS rounds, ms)"
echo "  meridian deploy (to 'deployed and verified'):        ${M[*]} -> median $mm, min-max $(minmax "${M[@]}")"
echo "  redis-server x$NNODES + redis-cli --cluster create (all agree): ${B[*]} -> median $bm, min-max $(minmax "${B[@]}")"
echo "    (same, until the $((SHARDS * REPLICAS)) replicas also report their link up: ${BL[*]} -> median $blm)"
printf '%s\n' "${rounds_txt[@]}"
echo "  last meridian line: $m_line"
awk -v m="$mm" -v b="$bm" -v ok="$m_ok" -v s="$SHARDS" 'BEGIN {
    r = (b > 0 ? m / b : 0)
    printf "  ratio meridian / redis-cli: %.2f (target <= 1); meridian masters in %s distinct regions every round: %s\n",
        r, s, (ok ? "yes" : "no")
    printf "  target %s\n", (r <= 1 && ok ? "met" : "not met")
}'
