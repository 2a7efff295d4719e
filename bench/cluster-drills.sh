#!/usr/bin/env bash
# bench/cluster-drills.sh [ROUNDS]: ROUNDS (default 5) drills of each of
#   kill-leader 1            crash fast path on (the agent asks the planned
#                            replica for CLUSTER FAILOVER FORCE at once)
#   kill-leader 1 (baseline) crash fast path off: Redis Cluster alone
#   region-outage us-east    every node of shard 1's master's region (its
#                            agent too: the surviving replica's agent asks
#                            for CLUSTER FAILOVER FORCE after node-timeout)
#   partition us-east        the same region cut off, its processes running
# on regions/local-cluster.json (3 regions x 2 hosts, 3 shards, 2 replicas
# each, the shipped node timeout of 5000 ms and agent interval of 1000 ms;
# only its name and ports moved to 13000..), each on a fresh deployment, and
# prints medians and maxima of the faulted shard's failover and
# write-unavailable times, acknowledged writes lost, and the time from the
# fault's end until the masters are back where the plan wants them (the
# drill's heal phase runs `meridian heal`, which rebalances; checked
# against `status` after each drill: each shard's master in its planned
# region, as rebalance judges a layout).
# Targets (issue 12): kill-leader with the fast path, write-unavailable for
# the shard's keys <= 1000 ms median; region-outage, all slots served again
# <= node timeout + 2 s; 0 acknowledged writes lost in every drill; masters
# spread exactly as planned after every drill.
BUILD=${BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
SRC=${SRC:-$(cd "$(dirname "$0")/.." && pwd)}
export BUILD SRC
source "$SRC/tests/integration/lib.sh"

ROUNDS=${1:-5}
BASE=${PORT_BASE:-13000}
drop_partition() { nft delete table inet meridian_benchcdrill 2>/dev/null || true; }
trap 'drop_partition; cleanup' EXIT

# topology FAST_PATH: regions/local-cluster.json on BASE, into $T_DIR/t.json
topology() {
    jq --argjson p "$BASE" --argjson fast "$1" '.name = "benchcdrill" | .store.port = $p
        | .agent.port = $p + 1000 | .agent.crash_fast_path = $fast' \
        "$SRC/regions/local-cluster.json" >"$T_DIR/t.json"
}
NODE_TIMEOUT=$(jq '.cluster.node_timeout_ms // 5000' "$SRC/regions/local-cluster.json")

# run_one NAME ROUND SCENARIO [ARG]: deploy fresh, drill, keep report.json
# and whether the masters were back as planned afterwards
run_one() {
    local name=$1 i=$2
    shift 2
    local state="$T_DIR/state-$name-$i" out="$T_DIR/out-$name-$i"
    track "$T_DIR/t.json" "$state"
    "$MERIDIAN" deploy "$T_DIR/t.json" --state "$state" >"$T_DIR/deploy.out" 2>&1 ||
        { cat "$T_DIR/deploy.out"; exit 1; }
    record_pids
    "$MERIDIAN" drill "$T_DIR/t.json" "$@" --state "$state" --out "$out" --duration 12 \
        --rate 200 >/dev/null 2>"$T_DIR/drill.err"
    local rc=$?
    record_pids
    "$MERIDIAN" status "$T_DIR/t.json" --state "$state" --json >"$T_DIR/st.json" 2>/dev/null
    local planned # each shard's master's region, as the plan wants them
    planned=$(jq -r '[.shards[].master.region] | join(" ")' "$T_DIR/st.json")
    "$MERIDIAN" destroy "$T_DIR/t.json" --state "$state" --yes >/dev/null 2>&1
    [[ -f $out/report.json ]] || { tail -5 "$T_DIR/drill.err"; exit 1; }
    # the faulted shard's figures (shard 1 in every scenario here)
    jq --arg planned "$planned" --argjson rc "$rc" \
        '{failover_ms: .shards[0].failover_ms, write_unavailable_ms: .shards[0].write_unavailable_ms,
          acked_writes_lost: .acked_writes_lost, last_failover_ms: .cluster.last_failover_ms,
          heal_ms, verdict, exit: $rc, masters_after: $planned,
          as_planned: ($planned == "us-east eu-west ap-south")}' \
        "$out/report.json" >"$T_DIR/r-$name-$i.json"
    printf '# %-20s round %d: exit %d, %s\n' "$name" "$i" "$rc" \
        "$(jq -c 'del(.exit)' "$T_DIR/r-$name-$i.json")"
}

# stats NAME FIELD: "median max" of FIELD over the rounds (null as -1)
stats() {
    jq -s --arg f "$2" '[.[] | .[$f] // -1] | sort | "\(.[(length - 1) / 2 | floor]) \(max)"' \
        -r "$T_DIR"/r-"$1"-[0-9]*.json
}
total() { jq -s --arg f "$2" '[.[] | .[$f] // 0] | add' "$T_DIR"/r-"$1"-[0-9]*.json; }
count_true() { jq -s --arg f "$2" '[.[] | select(.[$f] == true)] | length' "$T_DIR"/r-"$1"-[0-9]*.json; }

for ((i = 1; i <= ROUNDS; i++)); do
    topology true
    run_one kill-leader "$i" kill-leader 1
    run_one region-outage "$i" region-outage us-east
    run_one partition "$i" partition us-east
    topology false
    run_one kill-leader-nofast "$i" kill-leader 1
done

echo
echo "cluster drills on regions/local-cluster.json (node timeout $NODE_TIMEOUT ms), $ROUNDS of each;"
echo "figures of shard 1, the faulted shard (median / max, ms)"
printf '  %-34s %17s %17s %10s %13s %11s\n' "" "failover" "write unavailable" "acked lost" \
    "back to plan" "as planned"
row() {
    read -r fm fx < <(stats "$1" failover_ms)
    read -r um ux < <(stats "$1" write_unavailable_ms)
    read -r hm hx < <(stats "$1" heal_ms)
    printf '  %-34s %7s / %-7s %7s / %-7s %10s %6s / %-6s %5s of %d\n' "$2" "$fm" "$fx" "$um" \
        "$ux" "$(total "$1" acked_writes_lost)" "$hm" "$hx" "$(count_true "$1" as_planned)" \
        "$ROUNDS"
}
row kill-leader "kill-leader 1, fast path"
row kill-leader-nofast "kill-leader 1, Redis Cluster alone"
row region-outage "region-outage us-east"
row partition "partition us-east"
read -r k _ < <(stats kill-leader write_unavailable_ms)
read -r kb _ < <(stats kill-leader-nofast write_unavailable_ms)
read -r ro rox < <(stats region-outage last_failover_ms)
lost=$(($(total kill-leader acked_writes_lost) + $(total kill-leader-nofast acked_writes_lost) +
        $(total region-outage acked_writes_lost) + $(total partition acked_writes_lost)))
planned=$(($(count_true kill-leader as_planned) + $(count_true kill-leader-nofast as_planned) +
           $(count_true region-outage as_planned) + $(count_true partition as_planned)))
echo "  kill-leader with the fast path: median write unavailable $k ms (target <= 1000;" \
    "Redis Cluster alone: $kb ms)"
echo "  region-outage: all slots served again after $ro / $rox ms (median / max; target <=" \
    "$((NODE_TIMEOUT + 2000)))"
echo "  acknowledged writes lost in all $((4 * ROUNDS)) drills: $lost (target 0);" \
    "masters back as planned after $planned of $((4 * ROUNDS)) drills"
