#!/usr/bin/env bash
# The agent's self-fence in cluster mode, on a real 3-shard Redis Cluster
# (9 nodes, 6 hosts, cluster-node-timeout 3000 ms, agent.interval_ms 500):
# an nftables table cuts us-east off from the other regions (this test's
# node, bus and agent ports only; removed in a trap on every exit) while a
# writer inside us-east (bound to 127.0.1.250) does SET + WAIT 1 200 on
# shard 1's master use-a1.  Its us-east replica keeps acknowledging, so
# Redis alone would keep taking writes for 1 to 1.5 x the node timeout;
# the agent on use-a1, which reaches 1 of the 3 masters owning slots,
# fences it (+fenced naming the shard): the master refuses writes
# (NOREPLICAS, later CLUSTERDOWN) within interval + 1.5 s and takes none
# after that.  The majority side promotes a replica; once the partition
# heals the old master becomes its replica, the agent lifts the fence
# (-fenced; min-replicas-to-write back to the manifest's), and after a
# `meridian heal` (which moves the master back to the plan) status is OK.
# Then a fence no agent holds (as one left by an agent that died) on a
# master that reaches the majority is repaired by the next pass.
source "$(dirname "$0")/lib.sh"

BASE=${PORT_BASE:-13800}
NODE_TIMEOUT=3000
INTERVAL=500
T_TOPO="$T_DIR/cluster.json"
TABLE=meridian_itcfence
trap 'unpartition; cleanup' EXIT # partition, unpartition: lib.sh
checks=0
jq --argjson p "$BASE" --argjson t "$NODE_TIMEOUT" --argjson i "$INTERVAL" '
    .name = "itcfence" | .store.port = $p | .agent.port = ($p + 1000)
    | .store.maxmemory = "64mb" | .store.repl_backlog = "16mb"
    | .cluster.node_timeout_ms = $t | .agent.interval_ms = $i' \
    "$SRC/regions/local-cluster.json" >"$T_TOPO"

t0=$(now_ms)
"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/deploy.out" 2>&1 ||
    { cat "$T_DIR/deploy.out"; fail "deploy"; exit 1; }
record_pids
ADMIN=$(cat "$T_STATE/secrets/admin.pass")
APP=$(cat "$T_STATE/secrets/app.pass")
# bounded: the test's own connections leave from 127.0.0.1, which the
# partition cuts off from us-east's nodes
adm() { timeout 5 env REDISCLI_AUTH="$ADMIN" redis-cli --no-auth-warning --user admin "$@"; }
M() { "$MERIDIAN" "$@" "$T_TOPO" --state "$T_STATE"; }
want_min=$(jq .consistency.min_replicas_to_write "$T_TOPO")
tag=""
for i in $(seq 0 200); do
    s=$(adm -h 127.0.2.1 -p "$BASE" cluster keyslot "t$i")
    ((s <= 5460)) && { tag=t$i; break; }
done
checks=$((checks + 1)); check "shard 1's master is use-a1" \
    bash -c "REDISCLI_AUTH='$ADMIN' redis-cli --no-auth-warning --user admin -h 127.0.1.1 -p $BASE role | head -1 | grep -q master"

alog="$T_STATE/hosts/use-a1/agent.log"
wlog="$T_DIR/w.log"
inside_writer "$wlog" 6 &
wpid=$!
T_PIDS+=("$wpid")
sleep 1.5
lines=$(wc -l <"$alog")
t_part=$(now_ms)
partition
say "us-east cut off at $t_part"
wait "$wpid"
refused=$(awk -v t="$t_part" '$1 > t && $2 != "ok" {print $1; exit}' "$wlog")
why=$(awk -v t="$t_part" '$1 > t && $2 != "ok" {$1 = ""; print; exit}' "$wlog")
acked=$(awk -v t="$t_part" '$1 > t && $2 == "ok"' "$wlog" | wc -l)
late=$(awk -v t="$refused" '$1 > t && $2 == "ok"' "$wlog" | wc -l)
win=$((${refused:-999999} - t_part))
say "the isolated master acknowledged $acked writes, first refused one $win ms after the cut:$why"
checks=$((checks + 1)); check "it refuses writes within interval + 1.5 s ($win ms <= $((INTERVAL + 1500)))" \
    test "$win" -le $((INTERVAL + 1500))
checks=$((checks + 1)); check "refused with NOREPLICAS or CLUSTERDOWN:$why" \
    grep -Eq "NOREPLICAS|CLUSTERDOWN" <<<"$why"
checks=$((checks + 1)); check "and acknowledged none after that ($late)" test "$late" -eq 0
ev=$(tail -n +$((lines + 1)) "$alog" | grep -a "EVENT +fenced" | head -1)
say "agent: ${ev#*EVENT }"
checks=$((checks + 1)); check "+fenced names shard itcfence-1 and what it reaches" \
    grep -q "shard itcfence-1: a master that reaches 1 of 3 masters owning slots (itself; not " <<<"$ev"

# the majority side promotes one of shard 1's replicas outside us-east
promoted() {
    adm -h 127.0.2.1 -p "$BASE" cluster nodes 2>/dev/null |
        awk '$3 ~ /master/ && $3 !~ /fail/ && $9 ~ /^0-/ {split($2, a, "@"); print a[1]}' |
        grep -qv "^127.0.1.1:"
}
checks=$((checks + 1)); check "the majority side promoted a replica of shard 1" wait_for 20 promoted
unpartition
say "partition healed after $(($(now_ms) - t_part)) ms"

replica() {
    adm -h 127.0.1.1 -p "$BASE" cluster nodes 2>/dev/null | grep -q 'myself,slave ' &&
        [[ $(adm -h 127.0.1.1 -p "$BASE" info replication | tr -d '\r' |
            awk -F: '$1 == "master_link_status" {print $2}') == up ]]
}
checks=$((checks + 1)); check "the old master is a linked replica of the promoted one" wait_for 30 replica
unfenced() { [[ $(adm -h 127.0.1.1 -p "$BASE" config get min-replicas-to-write | tail -1) == "$want_min" ]]; }
checks=$((checks + 1)); check "no fence left: min-replicas-to-write back to the manifest's $want_min" \
    wait_for 10 unfenced
ev=$(tail -n +$((lines + 1)) "$alog" | grep -a "EVENT -fenced" | head -1)
say "agent: ${ev#*EVENT }"
checks=$((checks + 1)); check "-fenced once the partition healed" test -n "$ev"

# the master moved to another region: heal rebalances it back, then OK
healthy() { M status >"$T_DIR/st.out" 2>&1; }
for try in 1 2 3; do
    M heal >"$T_DIR/heal.out" 2>&1
    wait_for 10 healthy && break
done
grep -aE "rebalance|master-moved" "$T_DIR/heal.out" | head -3
checks=$((checks + 1)); check "status OK after meridian heal" healthy
checks=$((checks + 1)); check "shard 1's master is use-a1 again, unfenced" \
    bash -c "REDISCLI_AUTH='$ADMIN' redis-cli --no-auth-warning --user admin -h 127.0.1.1 -p $BASE config get min-replicas-to-write | tail -1 | grep -qx '$want_min'"
# a fence no agent holds (its agent died; here: set by hand) on a master
# that reaches the majority is drift, repaired by the next pass
lines=$(wc -l <"$alog")
adm -h 127.0.1.1 -p "$BASE" config set min-replicas-to-write 1000 >/dev/null
repaired() { tail -n +$((lines + 1)) "$alog" | grep -aq "EVENT +setting-repaired .*min-replicas-to-write 1000 (manifest: $want_min)"; }
checks=$((checks + 1)); check "a stray fence on a master that reaches the majority is repaired" \
    wait_for 10 repaired
checks=$((checks + 1)); check "... to the manifest's min-replicas-to-write" unfenced
say "test $(($(now_ms) - t0)) ms"
finish "$checks"
