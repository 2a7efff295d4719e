#!/usr/bin/env bash
# bench/drills.sh [ROUNDS]: ROUNDS (default 5) drills of each of
#   kill-leader              down_after_ms 1000, crash fast path on
#   kill-leader              down_after_ms 5000, crash fast path on
#   kill-leader (baseline)   down_after_ms 5000, crash fast path off
#   region-outage us-east    (the leader's region), down_after_ms 1000
#   partition us-east        down_after_ms 1000, min_replicas_to_write 1
# on the three-region local topology, each on a fresh deployment (so the
# leader starts in us-east and Sentinel's failover cooldown never
# interferes), and prints medians and maxima from the drills' report.json.
# Targets: kill-leader median write_unavailable_ms <= 1000 with the fast
# path (also at down_after 5000); region-outage median <= 2500; 0
# acknowledged writes lost in every kill-leader and region-outage drill;
# partition: the isolated leader refuses writes within
# min_replicas_max_lag_s + 1 s, and no split brain.
BUILD=${BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
SRC=${SRC:-$(cd "$(dirname "$0")/.." && pwd)}
export BUILD SRC
source "$SRC/tests/integration/lib.sh"

ROUNDS=${1:-5}
BASE=16780
drop_partition() { nft delete table inet meridian_benchdrill 2>/dev/null || true; }
trap 'drop_partition; cleanup' EXIT

# topology DOWN_AFTER FAST_PATH: write $T_DIR/t.json
topology() {
    write_topology "$T_DIR/t.json" benchdrill "$BASE"
    sed -i -e "s/\"down_after_ms\": 1000/\"down_after_ms\": $1/" \
        -e "s/\"interval_ms\": 500 }/\"interval_ms\": 500, \"crash_fast_path\": $2 }/" "$T_DIR/t.json"
}

# one CONFIG-NAME SCENARIO [ARG]: deploy fresh, drill, keep report.json
run_one() {
    local name=$1 i=$2
    shift 2
    local state="$T_DIR/state-$name-$i" out="$T_DIR/out-$name-$i"
    track "$T_DIR/t.json" "$state"
    "$MERIDIAN" deploy "$T_DIR/t.json" --state "$state" >"$T_DIR/deploy.out" 2>&1 ||
        { cat "$T_DIR/deploy.out"; exit 1; }
    record_pids
    sleep 1.5 # agents' first passes: every node ready
    "$MERIDIAN" drill "$T_DIR/t.json" "$@" --state "$state" --out "$out" --duration 8 \
        --rate 200 >/dev/null 2>"$T_DIR/drill.err"
    local rc=$?
    record_pids
    "$MERIDIAN" destroy "$T_DIR/t.json" --state "$state" --yes >/dev/null 2>&1
    [[ -f $out/report.json ]] || { tail -5 "$T_DIR/drill.err"; exit 1; }
    printf '# %-22s round %d: exit %d, unavailable %s ms, failover %s ms, acked lost %s\n' \
        "$name" "$i" "$rc" "$(jq -r .write_unavailable_ms "$out/report.json")" \
        "$(jq -r .failover_ms "$out/report.json")" "$(jq -r .acked_writes_lost "$out/report.json")"
    cp "$out/report.json" "$T_DIR/r-$name-$i.json"
}

# stats NAME FIELD: "median max" of FIELD over the rounds (null as -1)
stats() {
    jq -s --arg f "$2" '[.[] | .[$f] // -1] | sort | "\(.[(length - 1) / 2 | floor]) \(max)"' \
        -r "$T_DIR"/r-"$1"-[0-9]*.json
}
total() { jq -s --arg f "$2" '[.[] | .[$f] // 0] | add' "$T_DIR"/r-"$1"-[0-9]*.json; }
count_true() { jq -s --arg f "$2" '[.[] | select(.[$f] == true)] | length' "$T_DIR"/r-"$1"-[0-9]*.json; }

for ((i = 1; i <= ROUNDS; i++)); do
    topology 1000 true
    run_one kill-leader "$i" kill-leader
    run_one region-outage "$i" region-outage us-east
    run_one partition "$i" partition us-east
    topology 5000 true
    run_one kill-leader-da5000 "$i" kill-leader
    topology 5000 false
    run_one kill-leader-nofast "$i" kill-leader
done

echo
echo "drills on the three-region local topology, $ROUNDS of each (median / max, ms)"
printf '  %-40s %18s %18s %10s %10s\n' "" "write unavailable" "failover" "acked lost" "heal (med)"
row() {
    read -r um ux < <(stats "$1" write_unavailable_ms)
    read -r fm fx < <(stats "$1" failover_ms)
    read -r hm _ < <(stats "$1" heal_ms)
    printf '  %-40s %8s / %-7s %8s / %-7s %10s %10s\n' "$2" "$um" "$ux" "$fm" "$fx" \
        "$(total "$1" acked_writes_lost)" "$hm"
}
row kill-leader "kill-leader, down_after 1000, fast path"
row kill-leader-da5000 "kill-leader, down_after 5000, fast path"
row kill-leader-nofast "kill-leader, down_after 5000, no fast path"
row region-outage "region-outage us-east, down_after 1000"
row partition "partition us-east, down_after 1000"
read -r rm rx < <(stats partition isolated_refused_ms)
read -r am ax < <(stats partition isolated_accepted)
echo "  partition: isolated old leader refused writes after $rm / $rx ms (limit $(((5 + 1) * 1000)));" \
    "accepted $am / $ax writes before; split brain in $(count_true partition split_brain) of $ROUNDS"
read -r k1 _ < <(stats kill-leader write_unavailable_ms)
read -r k5 _ < <(stats kill-leader-da5000 write_unavailable_ms)
read -r kb _ < <(stats kill-leader-nofast write_unavailable_ms)
read -r ro _ < <(stats region-outage write_unavailable_ms)
echo "  targets: kill-leader median <= 1000: $k1 (down_after 1000), $k5 (down_after 5000);" \
    "baseline without the fast path $kb; region-outage median <= 2500: $ro"
