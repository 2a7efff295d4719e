#!/usr/bin/env bash
# The crash fast path in cluster mode, on a real 3-shard Redis Cluster (9
# nodes, 6 hosts, cluster-node-timeout 3000 ms): SIGKILL of a shard's
# master, with its agent's loop running.  With agent.crash_fast_path (the
# default) the agent reaps the process and asks a caught-up replica for
# CLUSTER FAILOVER FORCE at once (+leader-crashed names the shard and the
# replica): the shard serves writes again well below the node timeout, no
# write acknowledged by WAIT 1 is lost, and the old master is restored as
# a replica by the usual heal.  With crash_fast_path false the cluster
# fails over by itself, no sooner than the node timeout.
#
# ROUNDS=N (default 1) kills N masters in each mode, one after the other
# (each time the current master of the next shard), and prints the
# medians: the measurement of README's "Self-healing in cluster mode".
source "$(dirname "$0")/lib.sh"

BASE=${PORT_BASE:-14400}
ROUNDS=${ROUNDS:-1}
NODE_TIMEOUT=3000
T_TOPO="$T_DIR/cluster.json"
checks=0
# topo FAST_PATH: the test's topology, with agent.crash_fast_path FAST_PATH
topo() {
    jq --argjson p "$BASE" --argjson t "$NODE_TIMEOUT" --argjson f "$1" '
        .name = "itcfast" | .store.port = $p | .agent.port = ($p + 1000)
        | .store.maxmemory = "64mb" | .store.repl_backlog = "16mb"
        | .cluster.node_timeout_ms = $t | .agent.interval_ms = 500
        | .agent.crash_fast_path = $f' "$SRC/regions/local-cluster.json" >"$T_TOPO"
}
deploy() {
    "$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/deploy.out" 2>&1 ||
        { cat "$T_DIR/deploy.out"; fail "deploy"; exit 1; }
    record_pids
    ADMIN=$(cat "$T_STATE/secrets/admin.pass")
    APP=$(cat "$T_STATE/secrets/app.pass")
}
adm() { rcli_as admin "$ADMIN" "$@"; }
cluster_nodes "$BASE"

# healthy: every shard serves its slots with both replicas linked (status
# itself warns about the masters' spread against the plan after a failover)
healthy() {
    status_json # exits 1 (warning) for the masters' spread
    jq -e '[.shards[] | select(.replicas_linked != 2 or .problem != null)] | length == 0' \
        "$T_DIR/st.json" >/dev/null
}

FAILOVER_MS=()   # per round: kill -> first acknowledged write
GAP_MS=()        # per round: last acknowledged write before -> first after
# round MODE SHARD(0..2): kill the current master of SHARD under a write
# load; check and record what happened.
round() {
    local mode=$1 s=$2 lo hi tag master log t_kill name
    lo=$((s * 16384 / 3)) hi=$(((s + 1) * 16384 / 3 - 1))
    tag=$(tag_in "$lo" "$hi")
    master=$(master_of "$lo")
    name="itcfast-$((s + 1))"
    log="$T_DIR/w-$mode-$s-$RANDOM.log"
    say "$mode: kill shard $name's master $master (${HOST_OF[${master%:*}]}) under writes to {$tag}"
    rm -f "$T_DIR/stop"
    writer "$tag" "$log" &
    local wpid=$!
    T_PIDS+=("$wpid")
    wait_for 10 grep -q ' ok$' "$log" || { fail "$mode: the writer never got an acknowledgement"; }
    sleep 1.2 # two agent passes with the writer running: the fast path's last observation
    local pid alog="$T_STATE/hosts/${HOST_OF[${master%:*}]}/agent.log" lines
    lines=$(wc -l <"$alog")
    pid=$(cat "$(pid_file "$master")")
    t_kill=$(now_ms)
    kill -9 "$pid"
    # SIGKILL is asynchronous: until the process is gone it may still
    # answer a write in flight, which is no failover.  Acknowledgements
    # count from its death; the times from the kill.
    gone() { ! pid_alive "$pid"; }
    wait_for 5 gone
    local t_dead
    t_dead=$(now_ms)
    wait_for 20 awk -v t="$t_dead" '$1 > t && $3 == "ok" {f = 1} END {exit !f}' "$log"
    touch "$T_DIR/stop"
    wait "$wpid"
    local before after
    before=$(awk -v t="$t_kill" '$1 <= t && $3 == "ok" {x = $1} END {print x}' "$log")
    after=$(awk -v t="$t_dead" '$1 > t && $3 == "ok" {print $1; exit}' "$log")
    if [[ -z $after ]]; then
        fail "$mode: no write acknowledged within 20 s of the kill"
        return
    fi
    FAILOVER_MS+=($((after - t_kill)))
    GAP_MS+=($((after - before)))
    local acked lost
    # the viewer may not have heard of the promotion yet: wait until its
    # map names another master for the slots
    now_master=
    promoted() { now_master=$(master_of "$lo"); [[ -n $now_master && $now_master != "$master" ]]; }
    wait_for 5 promoted || fail "$mode: the view still names $master for slot $lo"
    acked=$(awk '$3 == "ok" {print $2}' "$log")
    lost=$(lost_writes "$tag" "$log" "$now_master")
    say "$mode: new master $now_master; first acknowledged write $((after - t_kill)) ms after the kill (gap $((after - before)) ms); $(wc -w <<<"$acked") acknowledged, $lost lost"
    checks=$((checks + 1)); check "$mode: no acknowledged write lost ($(wc -w <<<"$acked") acknowledged)" \
        test "$lost" -eq 0
    local ev
    ev=$(tail -n +$((lines + 1)) "$alog" | grep -a "EVENT +leader-crashed")
    if [[ $mode == fast ]]; then
        say "agent: ${ev#*EVENT }"
        checks=$((checks + 1)); check "$mode: +leader-crashed names shard $name and the replica asked, $now_master" \
            grep -q "shard $name: .*asked [a-z0-9-]* ($now_master, .*CLUSTER FAILOVER FORCE" <<<"$ev"
        checks=$((checks + 1)); check "$mode: the shard serves writes again within 1500 ms of the kill ($((after - t_kill)) ms)" \
            test $((after - t_kill)) -le 1500
    else
        checks=$((checks + 1)); check "$mode: no +leader-crashed with crash_fast_path false" \
            test -z "$ev"
        checks=$((checks + 1)); check "$mode: the cluster fails over by itself, no sooner than the node timeout ($((after - t_kill)) ms >= $NODE_TIMEOUT)" \
            test $((after - t_kill)) -ge "$NODE_TIMEOUT"
    fi
    # the old master comes back as a replica of the new one (the usual heal)
    restored() {
        adm -h "${master%:*}" -p "${master#*:}" cluster nodes 2>/dev/null | grep -q 'myself,slave '
    }
    checks=$((checks + 1)); check "$mode: the old master $master is restored as a replica" wait_for 30 restored
    checks=$((checks + 1)); check "$mode: every shard serves its slots, both replicas linked" wait_for 30 healthy
    record_pids
}

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : int((a[NR / 2] + a[NR / 2 + 1]) / 2)}'; }

t0=$(now_ms)
for mode in fast nofast; do
    if [[ $mode == fast ]]; then topo true; else topo false; fi
    deploy
    for i in $(seq 1 50); do echo "SET key:$i value-$i"; done | adm -c -h 127.0.1.1 -p "$BASE" >/dev/null
    FAILOVER_MS=() GAP_MS=()
    for r in $(seq 0 $((ROUNDS - 1))); do
        round "$mode" $((r % 3))
    done
    say "$mode: kill -> first acknowledged write, ms: ${FAILOVER_MS[*]} (median $(median "${FAILOVER_MS[@]}")); write gap: ${GAP_MS[*]} (median $(median "${GAP_MS[@]}"))"
    "$MERIDIAN" destroy "$T_TOPO" --state "$T_STATE" --yes >/dev/null 2>&1
done
say "test $(($(now_ms) - t0)) ms"
finish "$checks"
