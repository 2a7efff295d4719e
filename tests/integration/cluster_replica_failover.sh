#!/usr/bin/env bash
# The replica-side failover request, on a real 3-shard Redis Cluster (9
# nodes, 6 hosts, cluster-node-timeout 3000 ms, agent interval 1000 ms):
# a region outage of us-east (its agents stopped with `meridian-agent stop
# --agent-only`, then every node SIGKILLed by pid, as the region-outage
# drill does) takes shard 1's master use-a1 and its same-region replica
# with it, and the master's agent too, so no crash fast path fires.  The
# agent of the surviving replica, euw-b1, sees the master unanswered for
# the node timeout while the other two masters answer and have lost it
# too, and asks its node for CLUSTER FAILOVER FORCE (+failover-requested):
# the shard is served again within node timeout + 2 s, and never before
# the node timeout; no write acknowledged by WAIT 1 is lost.  Then us-east
# comes back (`meridian deploy`): its nodes rejoin as replicas, and
# `meridian heal` puts the masters back where the plan wants them.
source "$(dirname "$0")/lib.sh"

BASE=${PORT_BASE:-12400}
NODE_TIMEOUT=3000
T_TOPO="$T_DIR/cluster.json"
AGENT="$BUILD/meridian-agent"
checks=0
jq --argjson p "$BASE" --argjson t "$NODE_TIMEOUT" '
    .name = "itcrfail" | .store.port = $p | .agent.port = ($p + 1000)
    | .store.maxmemory = "64mb" | .store.repl_backlog = "16mb"
    | .cluster.node_timeout_ms = $t | .agent.interval_ms = 1000' \
    "$SRC/regions/local-cluster.json" >"$T_TOPO"
manifest() { echo "$T_STATE/hosts/$1/manifest.json"; }
adm() { rcli_as admin "$ADMIN" "$@"; }
cluster_nodes "$BASE"
# planned: each shard's master in the region the plan puts it, every shard
# serving with both replicas linked, status OK
planned() {
    status_json
    local rc=$?
    [[ $rc -eq 0 ]] &&
        jq -e '[.shards[].master.region] == ["us-east", "eu-west", "ap-south"] and
               ([.shards[] | select(.replicas_linked != 2 or .problem != null)] | length == 0)' \
            "$T_DIR/st.json" >/dev/null
}

t0=$(now_ms)
"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/deploy.out" 2>&1 ||
    { cat "$T_DIR/deploy.out"; fail "deploy"; exit 1; }
record_pids
ADMIN=$(cat "$T_STATE/secrets/admin.pass")
APP=$(cat "$T_STATE/secrets/app.pass")
master=$(master_of 0)
checks=$((checks + 1)); check "shard 1's master is use-a1 ($master) as planned" \
    test "$master" = "127.0.1.1:$BASE"

tag=$(tag_in 0 5460)
log="$T_DIR/writer.log"
start_writer "$tag" "$log"
sleep 2.5 # a few agent passes (interval 1 s) with the writer running

alog="$T_STATE/hosts/euw-b1/agent.log"
lines=$(wc -l <"$alog")
say "region outage of us-east: agents stopped, then every node SIGKILLed, under writes to {$tag}"
for h in use-a1 use-b1; do
    "$AGENT" stop --manifest "$(manifest "$h")" --agent-only 2>/dev/null ||
        fail "could not stop the agent of $h"
done
pids=()
for n in "127.0.1.1:$BASE" "127.0.1.1:$((BASE + 1))" "127.0.1.2:$BASE" "127.0.1.2:$((BASE + 1))"; do
    f=$(pid_file "$n")
    [[ -f $f ]] && pids+=("$(cat "$f")")
done
t_kill=$(now_ms)
kill -9 "${pids[@]}"
# served again: a live master other than use-a1 owns shard 1's first slot,
# as a surviving node sees it (polled every ~50 ms)
served=
for _ in $(seq 1 400); do
    now_master=$(adm -h 127.0.2.1 -p "$BASE" cluster nodes 2>/dev/null | awk '
        $3 ~ /master/ && $3 !~ /fail/ && $9 ~ /^0-/ { split($2, a, "@"); print a[1] }')
    if [[ -n $now_master && $now_master != "127.0.1.1:$BASE" ]]; then
        served=$(now_ms)
        break
    fi
    sleep 0.05
done
stop_writer
if [[ -z $served ]]; then
    fail "shard 1 is not served again within 20 s of the outage"
    finish "$checks"
    exit 1
fi
took=$((served - t_kill))
say "shard 1 served again by $now_master $took ms after the outage"
checks=$((checks + 1)); check "shard 1 is served again within node timeout + 2 s ($took ms <= $((NODE_TIMEOUT + 2000)))" \
    test "$took" -le $((NODE_TIMEOUT + 2000))
checks=$((checks + 1)); check "... and not before the node timeout ($took ms >= $NODE_TIMEOUT)" \
    test "$took" -ge "$NODE_TIMEOUT"
checks=$((checks + 1)); check "the promoted node is euw-b1, the one surviving replica" \
    test "$now_master" = "127.0.2.2:$BASE"
ev=$(tail -n +$((lines + 1)) "$alog" | grep -a "EVENT +failover-requested")
say "euw-b1's agent: ${ev#*EVENT }"
checks=$((checks + 1)); check "+failover-requested from euw-b1's agent names the shard, the master and the replica" \
    grep -q "shard itcrfail-1: master use-a1 (127.0.1.1:$BASE) unreachable for [0-9]* ms .*2 of 3 slot-owning masters answer and lost it too .*asked euw-b1 (127.0.2.2:$BASE, eu-west, the planned region) for CLUSTER FAILOVER FORCE" <<<"$ev"
unreach=$(sed -n 's/.* unreachable for \([0-9]*\) ms.*/\1/p' <<<"$ev" | head -1)
checks=$((checks + 1)); check "the request came once the master was unreachable for the node timeout (${unreach:-?} ms)" \
    test "${unreach:-0}" -ge "$NODE_TIMEOUT"
checks=$((checks + 1)); check "one request only" test "$(grep -c . <<<"$ev")" -eq 1

acked=$(awk '$3 == "ok" {print $2}' "$log")
lost=$(lost_writes "$tag" "$log" "$now_master")
say "$(wc -w <<<"$acked") writes acknowledged, $lost lost"
checks=$((checks + 1)); check "no acknowledged write lost ($(wc -w <<<"$acked") acknowledged)" \
    test "$lost" -eq 0

say "us-east back: meridian deploy, then meridian heal until the masters are as planned"
# deploy's verification waits for a healthy status, which warns about
# the masters' spread until the rebalance: "not verified in time" (exit 1)
# is expected here, a failed host (2) is not
"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 10 >"$T_DIR/deploy2.out" 2>&1
rc=$?
record_pids
checks=$((checks + 1)); check "deploy restarts us-east's agents (exit $rc)" \
    test "$rc" -le 1 -a -n "$("$AGENT" alive --manifest "$(manifest use-a1)" &&
        "$AGENT" alive --manifest "$(manifest use-b1)" && echo yes)"
((rc <= 1)) || tail -20 "$T_DIR/deploy2.out"
heal_until_planned() {
    "$MERIDIAN" heal "$T_TOPO" --state "$T_STATE" >>"$T_DIR/heal.out" 2>&1
    planned
}
checks=$((checks + 1)); check "status OK and every master back in its planned region after meridian heal" \
    wait_for 45 heal_until_planned
grep -a "master-moved" "$T_DIR/heal.out" | head -3 | sed 's/^/# /'
lost=$(lost_writes "$tag" "$log" "127.0.2.1:$BASE")
checks=$((checks + 1)); check "no acknowledged write lost after the rebalance" test "$lost" -eq 0
say "test $(($(now_ms) - t0)) ms"
finish "$checks"
