#!/usr/bin/env bash
# bench/rollout.sh [KEYS]: a rolling restart of the six-host local topology
# (a setting that needs a restart: store.io_threads 1 -> 2) under the
# drill's WAIT-acknowledged writer, against what operators do today, in the
# same run.
#
# meridian  `meridian drill TOPOLOGY rollout`: agents, then each replica
#           restarted by its agent and rebuilt from a peer's snapshot
#           (partial resync), the sentinels, the leader through a
#           switchover, the old leader last.
# baseline  the rolling restart a runbook does with persistence off (the
#           agents stopped, as if meridian were not there): each replica in
#           turn is stopped and started again with its config
#           (`systemctl restart redis-server`); it comes back empty and the
#           leader sends it the whole dataset (a full sync).  Replicas only:
#           the leader's turn would be a SENTINEL FAILOVER by hand, which
#           bench/switchover.sh measures.
#
# Prints each step's time, acknowledged writes lost, full syncs and the
# bytes the leader sent, for both, and the ratios.  Targets (issue 15): 0
# acknowledged writes lost, 0 full syncs, time printed per node.
BUILD=${BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
SRC=${SRC:-$(cd "$(dirname "$0")/.." && pwd)}
export BUILD SRC
source "$SRC/tests/integration/lib.sh"
BENCH=rollout
T0_RUN=$(now_ms)
source "$SRC/bench/lib.sh"

KEYS=${1:-100000}
VALUE=${VALUE:-500} # bytes per value
BASE=27000          # nodes; agents 28000, sentinels 37000
T_TOPO="$T_DIR/t.json"
write_topology "$T_TOPO" benchro "$BASE"
jq '.store.maxmemory = "512mb"' "$T_TOPO" >"$T_TOPO.new" && mv "$T_TOPO.new" "$T_TOPO"
ADDRS=(127.0.1.1 127.0.1.2 127.0.2.1 127.0.2.2 127.0.3.1 127.0.3.2)
HOSTS=(use-a1 use-b1 euw-a1 euw-b1 aps-a1 aps-b1)

info_of() { # info_of ADDR FIELD
    rcli_as admin "$ADMIN" -h "$1" -p "$BASE" info all | tr -d '\r' |
        awk -F: -v k="$2" '$1 == k {print $2}'
}
leader() {
    rcli_as admin "$ADMIN" -h 127.0.2.1 -p "$((BASE + 10000))" \
        sentinel get-master-addr-by-name benchro | head -1
}

# deploy_loaded STATE: a fresh deployment with KEYS keys of VALUE random bytes
deploy_loaded() {
    jq '.store.io_threads = 1' "$T_TOPO" >"$T_TOPO.new" && mv "$T_TOPO.new" "$T_TOPO"
    track "$T_TOPO" "$1"
    "$MERIDIAN" deploy "$T_TOPO" --state "$1" >"$T_DIR/deploy.out" 2>&1 ||
        { cat "$T_DIR/deploy.out"; die "deploy failed"; }
    record_pids
    ADMIN=$(cat "$1/secrets/admin.pass")
    local v
    v=$(head -c "$VALUE" /dev/urandom | od -An -tx1 | tr -d ' \n' | head -c "$VALUE")
    awk -v n="$KEYS" -v v="$v" 'BEGIN { for (i = 1; i <= n; i++) printf "SET key:%d %s\n", i, v }' |
        rcli_as admin "$ADMIN" -h "$(leader)" -p "$BASE" --pipe >/dev/null ||
        die "loading $KEYS keys failed"
    sleep 1.5
    jq '.store.io_threads = 2' "$T_TOPO" >"$T_TOPO.new" && mv "$T_TOPO.new" "$T_TOPO"
    "$MERIDIAN" deploy "$T_TOPO" --state "$1" >"$T_DIR/deploy2.out" 2>&1
    grep -q "needs restart: store.io_threads 1 -> 2" "$T_DIR/deploy2.out" ||
        { cat "$T_DIR/deploy2.out"; die "deploy did not report io_threads as needing a restart"; }
}

# ---- meridian ----
progress "meridian: deploy, $KEYS keys, then drill rollout"
STATE="$T_DIR/state-m"
deploy_loaded "$STATE"
"$MERIDIAN" drill "$T_TOPO" rollout --state "$STATE" --out "$T_DIR/m" --duration 10 --rate 200 \
    --wait >/dev/null 2>"$T_DIR/drill.err"
mrc=$?
record_pids
[[ -f $T_DIR/m/report.json ]] || { tail -20 "$T_DIR/drill.err"; die "no report"; }
R="$T_DIR/m/report.json"
m_ms=$(jq -r .planned.operation_ms "$R")
m_lost=$(jq -r .acked_writes_lost "$R")
m_full=$(jq -r .full_syncs "$R")
m_pause=$(jq -r .planned.pause_ms "$R")
m_gap=$(jq -r .write_unavailable_ms "$R")
progress "meridian: drill exit $mrc; steps: $(jq -r .planned.steps "$R")"
io=$(for a in "${ADDRS[@]}"; do rcli_as admin "$ADMIN" -h "$a" -p "$BASE" config get io-threads | sed -n 2p; done | xargs)
"$MERIDIAN" destroy "$T_TOPO" --state "$STATE" --yes >/dev/null 2>&1

# ---- baseline: restart each replica by hand, agents stopped ----
progress "baseline: deploy, $KEYS keys, then restart each replica by hand"
STATE="$T_DIR/state-b"
deploy_loaded "$STATE"
for h in "${HOSTS[@]}"; do
    "$BUILD/meridian-agent" stop --manifest "$STATE/hosts/$h/manifest.json" --agent-only \
        >/dev/null 2>&1 || die "could not stop the agent of $h"
done
lead=$(leader)
full0=$(info_of "$lead" sync_full)
bytes0=$(info_of "$lead" total_net_repl_output_bytes)
b_total=0
b_steps=""
for i in "${!ADDRS[@]}"; do
    a=${ADDRS[$i]}
    [[ $a == "$lead" ]] && continue
    dir="$STATE/hosts/${HOSTS[$i]}/redis"
    pid=$(cat "$dir/redis.pid")
    t0=$(now_ms)
    kill "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.02; done
    sed -i 's/^io-threads .*/io-threads 2/' "$dir/redis.conf"
    (cd "$dir" && redis-server "$dir/redis.conf" --daemonize yes >/dev/null) ||
        die "restart of $a failed"
    sleep 0.1
    T_PIDS+=("$(cat "$dir/redis.pid")")
    off=$(info_of "$lead" master_repl_offset)
    back() { [[ $(info_of "$a" master_link_status) == up ]] &&
        (($(info_of "$a" slave_repl_offset) >= off)); }
    wait_for 120 back || die "$a never caught up"
    ms=$(($(now_ms) - t0))
    b_total=$((b_total + ms))
    b_steps="$b_steps${b_steps:+, }${HOSTS[$i]} $(secs "$ms") s"
done
b_full=$(($(info_of "$lead" sync_full) - full0))
b_bytes=$(($(info_of "$lead" total_net_repl_output_bytes) - bytes0))
progress "baseline: $b_steps"
"$MERIDIAN" destroy "$T_TOPO" --state "$STATE" --yes >/dev/null 2>&1

printf '\n%-34s %16s %16s\n' "rolling restart, $KEYS keys" meridian baseline
printf '%-34s %16s %16s\n' "replicas restarted" "6 (all nodes)" 5
printf '%-34s %16s %16s\n' "full syncs" "$m_full" "$b_full"
printf '%-34s %16s %16s\n' "acknowledged writes lost" "$m_lost" "-"
# meridian's leaders are restarted too (their counters reset): its bytes
# are the partial resyncs' deltas, counted by full_syncs = 0
printf '%-34s %16s %16s\n' "bytes the leader sent" "deltas only" "$b_bytes"
printf '%-34s %16s %16s\n' "total time" "$(secs "$m_ms") s" "$(secs "$b_total") s"
printf '%-34s %16s %16s\n' "writes paused (switchover)" "${m_pause} ms" "-"
printf '%-34s %16s %16s\n' "longest gap between acked writes" "${m_gap} ms" "-"
printf 'io-threads on every node after the meridian rollout: %s\n' "$io"
printf 'per step (meridian): %s\n' "$(jq -r .planned.steps "$R")"
printf 'per step (baseline): %s\n' "$b_steps"
