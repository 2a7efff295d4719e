#!/usr/bin/env bash
# bench/host-loss.sh [ROUNDS] [KEYS]: a host lost for good, replaced on a
# spare, against what operators get today, in the same run.
#
# meridian  `meridian drill host-loss euw-a1 --replace-after 5` on the
#           three-region local topology with one spare per region and KEYS
#           keys (default 100000), each round on a fresh deployment: heal
#           fences the host, deploys the spare euw-s1 and its agent restores
#           the node from a peer's snapshot (partial resync).
# baseline  what a Kubernetes operator does when it reschedules the pod
#           (spotahome/redis-operator#205), and what a hand-run replacement
#           does: a new empty replica on the spare's address, `replicaof`
#           the leader, which sends the whole dataset (a full sync).  It
#           gets the same detection time (replace_after_s) for free.
#
# Prints per round and as medians: the time from the fault to the
# replacement ready, the bytes the leader sent, acknowledged writes lost
# and whether the returning old host stayed fenced; then the ratios.
# Targets (issue 14): ready <= replace_after_s + 10 s, leader bytes <= 1 %
# of a full sync, 0 acknowledged writes lost, the old host starts no node.
BUILD=${BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
SRC=${SRC:-$(cd "$(dirname "$0")/.." && pwd)}
export BUILD SRC
source "$SRC/tests/integration/lib.sh"
BENCH=host-loss
T0_RUN=$(now_ms)
source "$SRC/bench/lib.sh"

ROUNDS=${1:-3}
KEYS=${2:-100000}
VALUE=${VALUE:-500} # bytes per value
BASE=24000        # nodes; agents 25000, sentinels 34000; baseline replica 24100
AFTER=5
BPORT=$((BASE + 100))
T_TOPO="$T_DIR/t.json"
write_topology "$T_TOPO" benchhl "$BASE"
jq --argjson after "$AFTER" '.agent.replace_after_s = $after | .store.maxmemory = "512mb" |
    .regions[0].zones[0].hosts += [{"name": "use-s1", "address": "127.0.1.9", "spare": true}] |
    .regions[1].zones[0].hosts += [{"name": "euw-s1", "address": "127.0.2.9", "spare": true}] |
    .regions[2].zones[0].hosts += [{"name": "aps-s1", "address": "127.0.3.9", "spare": true}]' \
    "$T_TOPO" >"$T_TOPO.new" && mv "$T_TOPO.new" "$T_TOPO"

info_of() { # info_of ADDR PORT FIELD
    rcli_as admin "$ADMIN" -h "$1" -p "$2" info all | tr -d '\r' |
        awk -F: -v k="$3" '$1 == k {print $2}'
}

# load STATE: KEYS keys of VALUE bytes through the leader
load() {
    ADMIN=$(cat "$1/secrets/admin.pass")
    # one random value for every key: RDB's LZF finds nothing to compress
    # in it, so a full sync sends about KEYS x VALUE bytes
    local v
    v=$(head -c "$VALUE" /dev/urandom | od -An -tx1 | tr -d ' \n' | head -c "$VALUE")
    awk -v n="$KEYS" -v v="$v" 'BEGIN { for (i = 1; i <= n; i++) printf "SET key:%d %s\n", i, v }' |
        rcli_as admin "$ADMIN" -h 127.0.1.1 -p "$BASE" --pipe >/dev/null ||
        die "loading $KEYS keys failed"
}

# deploy_loaded STATE: a fresh deployment with KEYS keys, every replica
# caught up and the agents' passes ready
deploy_loaded() {
    track "$T_TOPO" "$1"
    "$MERIDIAN" deploy "$T_TOPO" --state "$1" >"$T_DIR/deploy.out" 2>&1 ||
        { cat "$T_DIR/deploy.out"; die "deploy failed"; }
    record_pids
    load "$1"
    sleep 1.5
}

# meridian ROUND: deploy, load, drill; keeps the report
meridian_round() {
    local i=$1 state="$T_DIR/state-$1" out="$T_DIR/out-$1"
    deploy_loaded "$state"
    "$MERIDIAN" drill "$T_TOPO" host-loss euw-a1 --replace-after "$AFTER" --state "$state" \
        --out "$out" --duration 8 --rate 200 >/dev/null 2>"$T_DIR/drill-$i.err"
    local rc=$?
    record_pids
    "$MERIDIAN" destroy "$T_TOPO" --state "$state" --yes >/dev/null 2>&1
    [[ -f $out/report.json ]] || { tail -20 "$T_DIR/drill-$i.err"; die "no report"; }
    cp "$out/report.json" "$T_DIR/r-$i.json"
    progress "meridian round $i: exit $rc, ready $(jq -r .host_loss.ready_ms "$out/report.json") ms," \
        "leader bytes $(jq -r .host_loss.leader_bytes "$out/report.json")" \
        "($(jq -r '.host_loss.leader_bytes_pct // "?"' "$out/report.json") % of" \
        "$(jq -r .host_loss.full_sync_bytes "$out/report.json")), acked lost" \
        "$(jq -r .acked_writes_lost "$out/report.json"), old host fenced" \
        "$(jq -r .host_loss.old_host_fenced "$out/report.json")"
}

# baseline ROUND: deploy, load, then a new empty replica on the spare's
# address that full-syncs from the leader; time from its start to linked
# and caught up, plus replace_after_s of detection
baseline_round() {
    local i=$1 state="$T_DIR/bstate-$1" dir="$T_DIR/baseline-$1"
    deploy_loaded "$state"
    REPL_PASS=$(cat "$state/secrets/replication.pass")
    APP_PASS=$(cat "$state/secrets/app.pass")
    ADMIN_PASS=$ADMIN
    mkdir -p "$dir/data"
    write_cluster_conf "$dir/x" 127.0.2.9 "$BPORT" 1 0 512mb
    # the same essentials, without cluster mode: a plain replica of the leader
    grep -v '^cluster-' "$dir/x/redis.conf" | sed -e "s#^dir .*#dir $dir/data#" \
        -e "s#^pidfile .*#pidfile $dir/redis.pid#" -e "s#^logfile .*#logfile $dir/redis.log#" \
        >"$dir/redis.conf"
    echo "replicaof 127.0.1.1 $BASE" >>"$dir/redis.conf"
    local out0 off t0 t1
    out0=$(info_of 127.0.1.1 "$BASE" total_net_repl_output_bytes)
    t0=$(now_ms)
    redis-server "$dir/redis.conf" --daemonize yes >/dev/null || die "baseline replica did not start"
    sleep 0.2
    T_PIDS+=("$(cat "$dir/redis.pid")")
    linked() { [[ $(info_of 127.0.2.9 "$BPORT" master_link_status) == up ]]; }
    wait_for 120 linked || { tail -5 "$dir/redis.log"; die "baseline replica never linked"; }
    off=$(info_of 127.0.1.1 "$BASE" master_repl_offset)
    caught_up() { (($(info_of 127.0.2.9 "$BPORT" slave_repl_offset) >= off)); }
    wait_for 60 caught_up
    t1=$(now_ms)
    local sent=$(($(info_of 127.0.1.1 "$BASE" total_net_repl_output_bytes) - out0))
    kill "$(cat "$dir/redis.pid")"
    "$MERIDIAN" destroy "$T_TOPO" --state "$state" --yes >/dev/null 2>&1
    echo "{\"ready_ms\": $((AFTER * 1000 + t1 - t0)), \"sync_ms\": $((t1 - t0)), \"leader_bytes\": $sent}" \
        >"$T_DIR/b-$i.json"
    progress "baseline round $i: synced in $((t1 - t0)) ms (+ ${AFTER} s detection), leader bytes $sent"
}

for ((i = 1; i <= ROUNDS; i++)); do
    meridian_round "$i"
    baseline_round "$i"
done

med() { # med GLOB JQ: the median of JQ over the files
    jq -s "[.[] | $2] | sort | .[(length - 1) / 2 | floor]" "$T_DIR"/$1
}
m_ready=$(med 'r-*.json' .host_loss.ready_ms)
m_bytes=$(med 'r-*.json' .host_loss.leader_bytes)
m_full=$(med 'r-*.json' .host_loss.full_sync_bytes)
b_ready=$(med 'b-*.json' .ready_ms)
b_bytes=$(med 'b-*.json' .leader_bytes)
lost=$(jq -s '[.[] | .acked_writes_lost] | add' "$T_DIR"/r-*.json)
fenced=$(jq -s '[.[] | select(.host_loss.old_host_fenced)] | length' "$T_DIR"/r-*.json)
passed=$(jq -s '[.[] | select(.verdict == "pass")] | length' "$T_DIR"/r-*.json)
echo
echo "host loss, $ROUNDS rounds, $KEYS keys of $VALUE bytes, agent.replace_after_s $AFTER (medians)"
printf '  %-34s %12s %16s\n' "" "ready (ms)" "leader bytes"
printf '  %-34s %12s %16s\n' "meridian (spare, peer snapshot)" "$m_ready" "$m_bytes"
printf '  %-34s %12s %16s\n' "baseline (new replica, full sync)" "$b_ready" "$b_bytes"
awk -v mr="$m_ready" -v br="$b_ready" -v mb="$m_bytes" -v bb="$b_bytes" -v mf="$m_full" \
    -v after="$AFTER" 'BEGIN {
    printf "  ratio meridian / baseline: ready %.2f, leader bytes %.4f\n", mr / br, mb / bb
    printf "  targets: ready <= %d ms: %d; leader bytes <= 1 %% of a full sync: %.3f %% (of %d bytes)\n",
        (after + 10) * 1000, mr, mb * 100 / mf, mf }'
echo "  acknowledged writes lost: $lost; old host fenced in $fenced of $ROUNDS; drills passed: $passed of $ROUNDS"
