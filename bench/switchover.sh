#!/usr/bin/env bash
# bench/switchover.sh [ROUNDS]: a planned move of the leader under load,
# `meridian switchover` against SENTINEL FAILOVER by hand, in the same run.
#
# One deployment of regions/local.json (its settings; name benchsw, nodes
# on PORT_BASE (default 25000), agents +1000, sentinels +10000, loopback
# only), then ROUNDS (default 5) of each, interleaved:
#
# meridian  `meridian drill T switchover REGION`: the switchover under the
#           drill's writer (200 writes/s, each followed by WAIT 1, finding
#           the leader through the sentinels).  REGION alternates eu-west
#           and us-east; when the leader is there already (the by-hand
#           failover before chooses by the plan's priorities, which favour
#           us-east), the next of eu-west, us-east, ap-south that it is not
#           in, so every run moves the leader to another region.
# by hand   `meridian drill T sentinel-failover`: SENTINEL FAILOVER sent to
#           one sentinel, what operators do without meridian (no pause,
#           Sentinel chooses the replica).
#
# Each drill waits out Sentinel's failover cooldown (2 x failover-timeout,
# --wait).  Prints each run (acknowledged writes lost, the pause meridian
# put on the old leader, the longest gap between acknowledged writes the
# application saw, full syncs), then medians, totals and the ratio of the
# application's gap (meridian / by hand).  "promotion seen" is how long
# the sentinel that ran the failover took to notice that its replica was
# promoted (+failover-state-wait-promotion to +promoted-slave): it INFOs
# the replica once a second during a failover, whatever info-period says.
# REPORTS=DIR keeps every run's report.json (with its exit code) there.
# Target (the issue): 0 acknowledged writes lost, write pause <= 500 ms
# median over 5 runs.
BUILD=${BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
SRC=${SRC:-$(cd "$(dirname "$0")/.." && pwd)}
export BUILD SRC
source "$SRC/tests/integration/lib.sh"
BENCH=switchover
T0_RUN=$(now_ms)
source "$SRC/bench/lib.sh"

ROUNDS=${1:-5}
BASE=${PORT_BASE:-25000} # nodes; agents BASE+1000, sentinels BASE+10000
DURATION=8               # s of load per drill (the switchover takes ~5.5)
RATE=200
T_TOPO="$T_DIR/t.json"   # cleanup (lib.sh) destroys it with $T_STATE on exit
jq --argjson base "$BASE" '.name = "benchsw" | .store.port = $base |
    .agent.port = $base + 1000 | .sentinel.port = $base + 10000' \
    "$SRC/regions/local.json" >"$T_TOPO" || die "cannot write the topology"

leader_region() {
    "$MERIDIAN" status "$T_TOPO" --state "$T_STATE" --json 2>/dev/null | jq -r '.leader.region // ""'
}

# run_drill NAME SCENARIO [ARG]: one drill into $T_DIR/NAME, its report
# (with its exit code) kept as $T_DIR/r-NAME.json; prints the run's line
run_drill() {
    local name=$1 out="$T_DIR/$1"
    shift
    "$MERIDIAN" drill "$T_TOPO" "$@" --state "$T_STATE" --out "$out" --duration "$DURATION" \
        --rate "$RATE" --wait >/dev/null 2>"$out.err"
    local rc=$?
    record_pids
    [[ -f $out/report.json ]] || { tail -20 "$out.err"; die "$name: no report (exit $rc)"; }
    jq --argjson rc "$rc" '. + {exit: $rc}' "$out/report.json" >"$T_DIR/r-$name.json"
    [[ -z ${REPORTS:-} ]] || cp "$T_DIR/r-$name.json" "$REPORTS/$name.json"
    local r="$T_DIR/r-$name.json"
    progress "$name: exit $rc, $(jq -r '"\(.planned.operation) \(.planned.outcome)"' "$r")" \
        "$(jq -r '"\(.planned.from) -> \(.planned.to)"' "$r"), acked lost" \
        "$(jq -r .acked_writes_lost "$r"), pause $(jq -r '.planned.pause_ms // "-"' "$r") ms," \
        "application gap $(jq -r .write_unavailable_ms "$r") ms, full syncs" \
        "$(jq -r .full_syncs "$r"), $(jq -r .verdict "$r")"
}

progress "deploying regions/local.json as benchsw on $BASE (agents $((BASE + 1000)), sentinels $((BASE + 10000)))"
"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" >"$T_DIR/deploy.out" 2>&1 ||
    { cat "$T_DIR/deploy.out"; die "deploy failed"; }
record_pids
sleep 1.5 # the agents' first passes: every node ready

[[ -z ${REPORTS:-} ]] || mkdir -p "$REPORTS" || die "cannot make $REPORTS"
REGIONS=(eu-west us-east ap-south)
for ((i = 1; i <= ROUNDS; i++)); do
    k=$(((i - 1) % 2))
    [[ ${REGIONS[$k]} == "$(leader_region)" ]] && k=$(((k + 1) % 3))
    want=${REGIONS[$k]}
    run_drill "sw-$i" switchover "$want"
    run_drill "bh-$i" sentinel-failover
done

# ---- the table ----
# promotion: +failover-state-wait-promotion to +promoted-slave on the
# sentinel that ran the failover (null when either is missing)
# shellcheck disable=SC2016 # jq's variables
PROMO='def promotion: ([.timeline[] | select(.event == "+failover-state-wait-promotion") | .t_ms]
    | min) as $a | ([.timeline[] | select(.event == "+promoted-slave") | .t_ms] | min) as $b
    | if $a != null and $b != null then $b - $a else null end;'
row='  %-5s %-19s %-15s %4s %10s %8s %10s %9s %9s %5s %7s\n'
echo
echo "switchover under load: regions/local.json (failover_timeout_ms 6000), $RATE writes/s with WAIT 1, $ROUNDS runs of each, interleaved"
# shellcheck disable=SC2059 # the format is $row
printf "$row" run operation leader exit "acked lost" "pause ms" "app gap ms" "promotion" \
    "failed wr" full partial
for ((i = 1; i <= ROUNDS; i++)); do
    for k in sw bh; do
        jq -r --arg run "$k-$i" "$PROMO"'[$run, (if .planned.operation == "switchover"
            then "meridian switchover" else "SENTINEL FAILOVER" end),
            "\(.planned.from)->\(.planned.to)", .exit, .acked_writes_lost,
            (.planned.pause_ms // "-"), .write_unavailable_ms, (promotion // "-"),
            .writes_failed, .full_syncs, .partial_syncs] | @tsv' "$T_DIR/r-$k-$i.json"
    done
done | while IFS=$'\t' read -r run op lead rc lost pause gap promo failed full partial; do
    # shellcheck disable=SC2059
    printf "$row" "$run" "$op" "$lead" "$rc" "$lost" "$pause" "$gap" "$promo" "$failed" "$full" \
        "$partial"
done

med() { # med PREFIX JQ: the median of JQ over that side's reports (null: -1)
    jq -s "$PROMO [.[] | $2 // -1] | sort | .[(length - 1) / 2 | floor]" "$T_DIR"/r-"$1"-*.json
}
sum() { jq -s "[.[] | $2 // 0] | add" "$T_DIR"/r-"$1"-*.json; }
count() { jq -s "[.[] | select($2)] | length" "$T_DIR"/r-"$1"-*.json; }
sw_pause=$(med sw .planned.pause_ms)
sw_gap=$(med sw .write_unavailable_ms)
bh_gap=$(med bh .write_unavailable_ms)
sw_lost=$(sum sw .acked_writes_lost)
line='  %-50s %20s %20s\n'
echo
echo "summary ($ROUNDS runs each; medians, totals over the runs)"
# shellcheck disable=SC2059
{
    printf "$line" "" "meridian switchover" "SENTINEL FAILOVER"
    printf "$line" "done (planned.outcome)" "$(count sw '.planned.outcome == "done"') of $ROUNDS" \
        "$(count bh '.planned.outcome == "done"') of $ROUNDS"
    printf "$line" "acknowledged writes lost, total" "$sw_lost" "$(sum bh .acked_writes_lost)"
    printf "$line" "  runs that lost one or more" "$(count sw '.acked_writes_lost > 0')" \
        "$(count bh '.acked_writes_lost > 0')"
    printf "$line" "writes paused on the old leader, median ms" "$sw_pause" "- (no pause)"
    printf "$line" "longest gap between acked writes (app), median ms" "$sw_gap" "$bh_gap"
    printf "$line" "sentinel saw the promotion after, median ms" "$(med sw promotion)" \
        "$(med bh promotion)"
    printf "$line" "write attempts that failed, total" "$(sum sw .writes_failed)" \
        "$(sum bh .writes_failed)"
    printf "$line" "full syncs, total" "$(sum sw .full_syncs)" "$(sum bh .full_syncs)"
    printf "$line" "the command returned after, median ms" "$(med sw .planned.operation_ms)" \
        "$(med bh .planned.operation_ms)"
}
awk -v a="$sw_gap" -v b="$bh_gap" 'BEGIN {
    if (b > 0) printf "  ratio meridian / by hand, application gap (medians): %.2f\n", a / b
    else print "  ratio meridian / by hand, application gap: by hand saw no gap" }'
awk -v p="$sw_pause" -v lost="$sw_lost" 'BEGIN {
    printf "  target: 0 acknowledged writes lost: %d %s; pause median <= 500 ms: %d %s\n",
        lost, lost == 0 ? "(met)" : "(NOT met)", p, (p >= 0 && p <= 500) ? "(met)" : "(NOT met)" }'
progress "done"
