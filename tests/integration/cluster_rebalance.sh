#!/usr/bin/env bash
# Masters back to the plan, on a real 3-shard Redis Cluster (9 nodes, 6
# hosts): the test moves shard 3's master to its us-east replica with a
# coordinated CLUSTER FAILOVER (us-east then holds 2 masters); status warns
# and names what `meridian rebalance` would do; the dry run prints that move
# and changes nothing; with a node down rebalance refuses, naming it; once
# the agent has restored the node, `rebalance --yes` moves the master back
# (one master per region, status OK, no key lost, the old master a replica
# of the new one); after another forced move, one `meridian heal` alone
# puts the master back.
source "$(dirname "$0")/lib.sh"

BASE=${PORT_BASE:-14600}
T_TOPO="$T_DIR/cluster.json"
AGENT="$BUILD/meridian-agent"
checks=0
jq --argjson p "$BASE" '.name = "itrebal" | .store.port = $p | .agent.port = ($p + 1000)
    | .store.maxmemory = "64mb" | .store.repl_backlog = "16mb"
    | .cluster.node_timeout_ms = 1000 | .agent.interval_ms = 500' \
    "$SRC/regions/local-cluster.json" >"$T_TOPO"
t0=$(now_ms)

"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/deploy.out" 2>&1 ||
    { cat "$T_DIR/deploy.out"; fail "deploy"; exit 1; }
record_pids
ADMIN=$(cat "$T_STATE/secrets/admin.pass")
manifest() { echo "$T_STATE/hosts/$1/manifest.json"; }
adm() { rcli_as admin "$ADMIN" "$@"; }
M() { "$MERIDIAN" "$@" "$T_TOPO" --state "$T_STATE"; }
# shard 3: planned master aps-a1 (ap-south), replicas use-b1 (us-east) and
# aps-b1:BASE+1 (ap-south)
APS_A1=127.0.3.1:$BASE
USE_B1=127.0.1.2:$BASE
APS_B1_2=127.0.3.2:$((BASE + 1))
on() { local n=$1; shift; adm -h "${n%:*}" -p "${n#*:}" "$@"; }
role_of() { on "$1" role | head -1; }
masters() {
    adm -h 127.0.2.1 -p "$BASE" cluster nodes |
        awk '$3 ~ /master/ && $3 !~ /fail/ && NF >= 9 {split($2, a, "@"); print a[1]}'
}
total_keys() {
    local n=0 m
    for m in $(masters); do n=$((n + $(on "$m" dbsize))); done
    echo "$n"
}
# the next step status names: "action shard from to"
next_step() {
    M status --json 2>/dev/null |
        jq -r '.rebalance | "\(.action) \(.shard) \(.from.host) \(.to.host)"'
}
move_back_decided() { test "$(next_step)" = "move 3 use-b1 aps-a1"; }
# force shard 3's master to its us-east replica, as a drill or an operator
# would; wait until every view agrees (status decides a move back)
force_move() {
    on "$USE_B1" cluster failover >/dev/null
    wait_for 15 move_back_decided
}

say "write 3000 keys across the three shards"
for i in $(seq 1 3000); do echo "SET key:$i value-$i"; done | adm -c -h 127.0.1.1 -p "$BASE" >/dev/null
checks=$((checks + 1)); check "3000 keys over the masters" wait_for 10 test "$(total_keys)" = 3000

say "the test moves shard 3's master to use-b1 (us-east) with CLUSTER FAILOVER"
checks=$((checks + 1)); check "use-b1 serves shard 3, every view agrees" force_move
M status >"$T_DIR/st1.out"
rc=$?
head -1 "$T_DIR/st1.out"
checks=$((checks + 1)); check "status warns (exit $rc)" test "$rc" -eq 1
checks=$((checks + 1)); check "status says us-east holds 2 masters and what rebalance would do" \
    grep -q "us-east holds 2 masters (plan: 1).*\`meridian rebalance\` would move shard 3's master from use-b1 (us-east) to aps-a1 (ap-south)" "$T_DIR/st1.out"

say "dry run"
M rebalance >"$T_DIR/dry.out" 2>&1
rc=$?
cat "$T_DIR/dry.out"
checks=$((checks + 1)); check "rebalance without --yes exits 1 and prints the move" \
    test "$rc" -eq 1 -a -n "$(grep "would move shard 3's master from use-b1 (us-east) to aps-a1 (ap-south)" "$T_DIR/dry.out")"
checks=$((checks + 1)); check "... and changes nothing (use-b1 still master)" test "$(role_of "$USE_B1")" = master

say "a node down: aps-b1:$((BASE + 1)) killed (its agent stopped first)"
"$AGENT" stop --manifest "$(manifest aps-b1)" --agent-only 2>/dev/null
kill -9 "$(cat "$T_STATE/hosts/aps-b1/redis-$((BASE + 1))/redis.pid")"
M rebalance --yes >"$T_DIR/down.out" 2>"$T_DIR/down.err"
rc=$?
cat "$T_DIR/down.err"
checks=$((checks + 1)); check "rebalance --yes refuses (exit $rc), naming the node" \
    test "$rc" -eq 2 -a -n "$(grep "rebalance refused: aps-b1:$((BASE + 1)) (ap-south) does not answer" "$T_DIR/down.err")"
checks=$((checks + 1)); check "... and changes nothing" test "$(role_of "$USE_B1")" = master
"$AGENT" check --manifest "$(manifest aps-b1)" --heal --json >"$T_DIR/restore.json" 2>/dev/null
record_pids
"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 30 >/dev/null 2>&1 # aps-b1's agent again
record_pids
checks=$((checks + 1)); check "the agent restored it; status decides the move again" \
    wait_for 15 move_back_decided

say "rebalance --yes"
keys_before=$(total_keys)
M rebalance --yes >"$T_DIR/yes.out" 2>&1
rc=$?
cat "$T_DIR/yes.out"
move=$(grep -o "shard 3: master use-b1 (us-east) -> aps-a1 (ap-south) in [0-9.]* s" "$T_DIR/yes.out")
checks=$((checks + 1)); check "rebalance --yes exits 0 and reports the move: $move" test "$rc" -eq 0 -a -n "$move"
M status --json >"$T_DIR/st2.json"
rc=$?
checks=$((checks + 1)); check "status OK afterwards (exit $rc): $(jq -r .summary "$T_DIR/st2.json")" test "$rc" -eq 0
checks=$((checks + 1)); check "one master per region" \
    test "$(jq -r '[.shards[].master.region] | unique | length' "$T_DIR/st2.json")" = 3
checks=$((checks + 1)); check "aps-a1 serves shard 3 again" \
    test "$(jq -r '.shards[2].master.host' "$T_DIR/st2.json")" = aps-a1
follows_aps_a1() { on "$USE_B1" info replication | tr -d '\r' | grep -q "^master_host:127.0.3.1$"; }
checks=$((checks + 1)); check "the old master use-b1 is a replica of aps-a1" follows_aps_a1
checks=$((checks + 1)); check "no key lost ($keys_before before, $(total_keys) after)" \
    test "$(total_keys)" = "$keys_before"
M rebalance >"$T_DIR/again.out" 2>&1
rc=$?
checks=$((checks + 1)); check "a second rebalance has nothing to do (exit $rc)" \
    test "$rc" -eq 0 -a -n "$(grep balanced "$T_DIR/again.out")"

say "another forced move, then one meridian heal"
checks=$((checks + 1)); check "use-b1 serves shard 3 again" force_move
M heal >"$T_DIR/heal.out" 2>&1
rc=$?
grep -E "rebalance|itrebal" "$T_DIR/heal.out"
hmove=$(grep -o "+master-moved *shard 3: master use-b1 (us-east) -> aps-a1 (ap-south) in [0-9.]* s" "$T_DIR/heal.out")
checks=$((checks + 1)); check "heal moved it back (exit $rc): $hmove" test "$rc" -eq 1 -a -n "$hmove"
M status --json >"$T_DIR/st3.json"
rc=$?
checks=$((checks + 1)); check "status OK after the heal (exit $rc), masters as planned" \
    test "$rc" -eq 0 -a "$(jq -r '[.shards[].master.host] | join(" ")' "$T_DIR/st3.json")" = "use-a1 euw-a1 aps-a1"
checks=$((checks + 1)); check "no key lost after the heal" test "$(total_keys)" = "$keys_before"
say "test $(($(now_ms) - t0)) ms"
finish "$checks"
