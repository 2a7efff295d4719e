#!/usr/bin/env bash
# bench/cluster-partition.sh: how long a Redis Cluster master cut off from
# the majority of masters still accepts writes (issue 12, part 4), with the
# agent's fence (agent.fence) and without it (Redis Cluster alone).
#
# Deploys regions/local-cluster.json's layout (3 regions x 2 hosts, 3
# shards with 2 replicas each; node timeout NODE_TIMEOUT ms) on PORT_BASE,
# once per configuration of CONFIGS ("INTERVAL_MS:FENCE" pairs:
# agent.interval_ms and agent.fence), then ROUNDS times: a writer inside
# us-east (bound to 127.0.1.250, the drill's in-partition probe address)
# writes SET {tag}:<seq> + WAIT 1 200 to shard 1's master use-a1 every
# ~10 ms; an nftables table drops every TCP packet between us-east's
# addresses (and the writer's) and the rest, on this deployment's ports
# only (nodes, cluster bus, agent); the script records when the isolated
# master first refuses a write, what it refused with, and how many writes
# it acknowledged meanwhile (each one lost: the majority side promotes
# shard 1's eu-west replica; counted again after the heal as the
# acknowledged keys the cluster no longer has).  The table is removed in a
# trap on every exit.  Then the partition heals, the old master turns into
# a replica of the new one, and a manual failover back puts shard 1's
# master on use-a1 for the next round.
#
#   BUILD=build SRC=. bench/cluster-partition.sh
#   ROUNDS=3 PORT_BASE=14400 CONFIGS="500:true 500:false 1000:true 1000:false"
#   MIN_REPLICAS=N sets consistency.min_replicas_to_write (default 1).
set -u
BUILD=${BUILD:-build}
SRC=${SRC:-.}
source "$SRC/tests/integration/lib.sh"
BASE=${PORT_BASE:-14400}
ROUNDS=${ROUNDS:-3}
NODE_TIMEOUT=${NODE_TIMEOUT:-3000}
MIN_REPLICAS=${MIN_REPLICAS:-1}
CONFIGS=${CONFIGS:-500:true 500:false 1000:true 1000:false}
T_TOPO="$T_DIR/cluster.json"
TABLE=meridian_itcpart
trap 'unpartition; cleanup' EXIT # partition, unpartition: lib.sh
# topo INTERVAL FENCE
topo() {
    jq --argjson p "$BASE" --argjson t "$NODE_TIMEOUT" --argjson m "$MIN_REPLICAS" \
        --argjson i "$1" --argjson f "$2" '
        .name = "itcpart" | .store.port = $p | .agent.port = ($p + 1000)
        | .store.maxmemory = "64mb" | .store.repl_backlog = "16mb"
        | .cluster.node_timeout_ms = $t | .agent.interval_ms = $i | .agent.fence = $f
        | .consistency.min_replicas_to_write = $m' "$SRC/regions/local-cluster.json" >"$T_TOPO"
}

# bounded: our own connections leave from 127.0.0.1, cut off from us-east
adm() { timeout 5 env REDISCLI_AUTH="$ADMIN" redis-cli --no-auth-warning --user admin "$@"; }


median() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : int((a[NR / 2] + a[NR / 2 + 1]) / 2)}'; }
SUMMARY=()
for cfg in $CONFIGS; do
    INTERVAL=${cfg%:*} FENCE=${cfg#*:}
    topo "$INTERVAL" "$FENCE"
    "$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/deploy.out" 2>&1 ||
        { cat "$T_DIR/deploy.out"; exit 1; }
    record_pids
    ADMIN=$(cat "$T_STATE/secrets/admin.pass")
    APP=$(cat "$T_STATE/secrets/app.pass")
    tag=""
    for i in $(seq 0 200); do
        s=$(adm -h 127.0.2.1 -p "$BASE" cluster keyslot "t$i")
        ((s <= 5460)) && { tag=t$i; break; }
    done
    say "agent.interval_ms $INTERVAL, agent.fence $FENCE"
    WINDOWS=() ACCEPTED=() LOST=()
    for r in $(seq 1 "$ROUNDS"); do
        say "round $r: shard 1's master $(adm -h 127.0.1.1 -p "$BASE" role | head -1) on use-a1"
        inside_writer "$T_DIR/w$r.log" $((NODE_TIMEOUT / 1000 + 8)) &
        wpid=$!
        T_PIDS+=("$wpid")
        sleep 1
        t_part=$(now_ms)
        partition
        wait "$wpid"
        refused=$(awk -v t="$t_part" '$1 > t && $2 != "ok" {print $1; exit}' "$T_DIR/w$r.log")
        why=$(awk -v t="$t_part" '$1 > t && $2 != "ok" {$1 = ""; print; exit}' "$T_DIR/w$r.log")
        acc=$(awk -v t="$t_part" '$1 > t && $2 == "ok"' "$T_DIR/w$r.log" | wc -l)
        WINDOWS+=($((refused - t_part)))
        ACCEPTED+=("$acc")
        acked=$(awk -v t="$t_part" '$1 > t && $2 == "ok" {print $3}' "$T_DIR/w$r.log")
        say "round $r: the isolated master acknowledged $acc writes, first refused one $((refused - t_part)) ms after the partition:$why"
        sleep $((NODE_TIMEOUT * 2 / 1000 + 2)) # the majority side fails shard 1 over
        unpartition
        # the old master rejoins as a replica; heal, then move shard 1 back home
        home() { adm -h 127.0.1.1 -p "$BASE" role 2>/dev/null | head -1 | grep -q master; }
        back() {
            adm -h 127.0.1.1 -p "$BASE" cluster nodes 2>/dev/null | grep -q 'myself,slave ' &&
                [[ $(adm -h 127.0.1.1 -p "$BASE" info replication | tr -d '\r' | awk -F: '$1 == "master_link_status" {print $2}') == up ]]
        }
        wait_for 60 back || { say "use-a1 never rejoined"; exit 1; }
        # a manual failover times out (5 s) when it starts while the shard
        # still settles: try again
        for try in 1 2 3 4; do
            adm -h 127.0.1.1 -p "$BASE" cluster failover >/dev/null
            wait_for 8 home && break
        done
        home || { say "shard 1 did not move back to use-a1"; exit 1; }
        lost=0
        [[ -n $acked ]] && lost=$(for q in $acked; do echo "GET {$tag}:$q"; done |
            adm -h 127.0.1.1 -p "$BASE" | grep -c '^$')
        LOST+=("$lost")
        say "round $r: $lost of the $acc acknowledged during the partition lost"
        sleep 3
    done
    SUMMARY+=("node timeout $NODE_TIMEOUT ms, interval $INTERVAL ms, fence $FENCE, min_replicas_to_write $MIN_REPLICAS: first refused write after ${WINDOWS[*]} ms (median $(median "${WINDOWS[@]}")); acknowledged meanwhile: ${ACCEPTED[*]}; lost: ${LOST[*]}")
    say "${SUMMARY[-1]}"
    "$MERIDIAN" destroy "$T_TOPO" --state "$T_STATE" --yes >/dev/null 2>&1
done
for l in "${SUMMARY[@]}"; do say "$l"; done
