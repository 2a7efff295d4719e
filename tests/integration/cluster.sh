#!/usr/bin/env bash
# Cluster mode end to end on real redis-server processes: deploy forms a
# Redis Cluster of 3 shards (a master and 2 replicas each) over 3 regions
# with its masters in 3 regions; status judges it per shard; a second
# deploy changes nothing; ioredis' Cluster client (5.x and 6.x, pinned in
# tests/clients/package-lock.json) writes and reads keys on every shard as
# the "app" user with its defaults and prints no warning; a slot moved by
# hand to another shard makes status warn that shard 1 owns less than its
# quota, and deploy moves one slot back; a deploy killed with -9 while it
# forms the cluster is finished by the next one.
source "$(dirname "$0")/lib.sh"

BASE=${PORT_BASE:-15800}
T_TOPO="$T_DIR/cluster.json"
write_cluster_topology "$T_TOPO" itcluster "$BASE"
checks=0
ADMIN() { cat "$T_STATE/secrets/admin.pass"; }
# on NODE ARGS...: redis-cli as admin on NODE ("ADDR:PORT").
on() {
    local node=$1
    shift
    rcli_as admin "$(ADMIN)" -h "${node%:*}" -p "${node#*:}" "$@"
}
status_json() { "$MERIDIAN" status "$T_TOPO" --state "$T_STATE" --json >"$T_DIR/st.json"; }
nodes() { jq -r '.nodes[] | "\(.address):\(.port)"' "$T_DIR/st.json"; }
master_of() { jq -r --argjson s "$1" '.shards[$s - 1].master | "\(.address):\(.port)"' "$T_DIR/st.json"; }

say "deploy"
"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/deploy.out" 2>&1
rc=$?
record_pids
cat "$T_DIR/deploy.out"
checks=$((checks + 1)); check "deploy forms the cluster and verifies it (exit $rc)" \
    grep -q "deployed and verified .* 3 shards serve all 16384 slots, 6 replicas linked, cluster_state ok on 9 nodes" "$T_DIR/deploy.out"

status_json
rc=$?
checks=$((checks + 1)); check "status is OK (exit $rc)" test "$rc" -eq 0
checks=$((checks + 1)); check "3 shards, each with a master, in 3 distinct regions" \
    test "$(jq -r '[.shards[].master.region] | unique | length' "$T_DIR/st.json")" = 3
checks=$((checks + 1)); check "every node says cluster_state:ok and agrees on the slot map" \
    test "$(jq '[.nodes[] | select(.cluster_state == "ok" and .slot_map_agrees)] | length' "$T_DIR/st.json")" = 9
checks=$((checks + 1)); check "the masters own all 16384 slots, contiguous per shard" \
    test "$(jq '[.shards[] | .slots_served] | add' "$T_DIR/st.json"):$(jq -c '[.shards[] | [.slot_first, .slot_last]]' "$T_DIR/st.json")" = "16384:[[0,5460],[5461,10921],[10922,16383]]"
checks=$((checks + 1)); check "every shard has a linked replica outside its master's region" \
    test "$(jq '[.shards[] | select(.replica_outside_region and .replicas_linked == 2)] | length' "$T_DIR/st.json")" = 3
for n in $(nodes); do
    on "$n" cluster info | tr -d '\r' | grep -q '^cluster_slots_assigned:16384$' ||
        { fail "$n does not see 16384 slots assigned"; }
done

say "deploy again"
"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/deploy2.out" 2>&1
rc=$?
checks=$((checks + 1)); check "a second deploy changes nothing and says so (exit $rc)" \
    grep -q "^no changes: 6 hosts already deployed and healthy" "$T_DIR/deploy2.out"
checks=$((checks + 1)); check "... and sends no cluster command" \
    grep -q "cluster      no changes: 9 nodes already formed" "$T_DIR/deploy2.out"

say "a changed setting reaches every node"
jq '.cluster.node_timeout_ms = 3000 | .store.maxmemory = "48mb"' "$T_TOPO" >"$T_DIR/t.json" &&
    mv "$T_DIR/t.json" "$T_TOPO"
"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/deploy-set.out" 2>&1
rc=$?
grep -E "cluster-node-timeout|maxmemory" "$T_DIR/deploy-set.out" | head -4
live=$(for n in $(nodes); do
    on "$n" config get cluster-node-timeout | tail -1
    on "$n" config get maxmemory | tail -1
done | sort | uniq -c | awk '{print $1 "x" $2}' | tr '\n' ' ')
checks=$((checks + 1)); check "deploy sets cluster-node-timeout and maxmemory live on all 9 nodes (exit $rc): $live" \
    test "$rc" -eq 0 -a "$live" = "9x3000 9x50331648 "

say "connect-info and redis-cli"
"$MERIDIAN" connect-info "$T_TOPO" --state "$T_STATE" --json >"$T_DIR/ci.json"
checks=$((checks + 1)); check "connect-info names the 3 masters as seeds and the app user" \
    test "$(jq -r '"\(.mode) \(.seeds | length) \(.user)"' "$T_DIR/ci.json")" = "cluster 3 app"
"$MERIDIAN" redis-cli "$T_TOPO" --state "$T_STATE" -- set meridian:it:redirected v >/dev/null
got=$("$MERIDIAN" redis-cli "$T_TOPO" --state "$T_STATE" --host aps-b1 -- get meridian:it:redirected)
checks=$((checks + 1)); check "meridian redis-cli follows redirects (-c): got '$got'" test "$got" = v

say "a cluster-aware client: ioredis' Cluster as app"
install_clients || exit 1 # under the lock other tests take
seeds=$(jq -r '[.seeds[] | "\(.address):\(.port)"] | join(",")' "$T_DIR/ci.json")
ca=$(jq -r '.ca_file // empty' "$T_DIR/ci.json") # with TLS, as connect-info says
for mod in ioredis5 ioredis6; do
    SEEDS=$seeds CA_FILE=$ca APP_PASS_FILE="$T_STATE/secrets/app.pass" NODE_PATH="$NODE_DIR/node_modules" \
        node "$SRC/tests/clients/ioredis-cluster.js" "$mod" >"$T_DIR/$mod.json" 2>"$T_DIR/$mod.err"
    rc=$?
    cat "$T_DIR/$mod.json" "$T_DIR/$mod.err"
    version=$(jq -r .version "$T_DIR/$mod.json" 2>/dev/null)
    checks=$((checks + 1)); check "ioredis $version Cluster wrote and read 300 keys, on all 3 masters" \
        test "$(jq -r '"\(.ok) \(.keys) \([.masters[] | select(. > 0)] | length)"' "$T_DIR/$mod.json" 2>/dev/null)" = "true 300 3"
    checks=$((checks + 1)); check "ioredis $version printed no warning and no error (exit $rc)" \
        test "$rc" -eq 0 -a "$(jq '(.warnings | length) + (.errors | length)' "$T_DIR/$mod.json" 2>/dev/null)" = 0 \
        -a ! -s "$T_DIR/$mod.err"
done

say "a slot served by another shard"
m1=$(master_of 1) m2=$(master_of 2)
id2=$(on "$m2" cluster myid)
slot=0
while [[ $(on "$m1" cluster countkeysinslot "$slot") != 0 ]]; do slot=$((slot + 1)); done
# give the empty slot to shard 2's master: the owner first, then the new
# owner, whose bumped epoch makes the others take its claim
on "$m1" cluster setslot "$slot" node "$id2" >/dev/null
on "$m2" cluster setslot "$slot" node "$id2" >/dev/null
on "$m2" cluster bumpepoch >/dev/null
moved() { status_json; jq -e '.shards[0].scale // "" | test("the plan gives it")' "$T_DIR/st.json" >/dev/null; }
wait_for 10 moved
rc=$?
checks=$((checks + 1)); check "status warns that shard 1 owns fewer slots than its quota: $(jq -r .shards[0].scale "$T_DIR/st.json")" \
    test "$rc" -eq 0 -a "$(jq -r .health "$T_DIR/st.json")" = warning
"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 30 >"$T_DIR/deploy3.out" 2>&1
rc=$?
cat "$T_DIR/deploy3.out" | tail -3
checks=$((checks + 1)); check "deploy moves one slot back to shard 1 and verifies (exit $rc)" \
    test "$rc" -eq 0 -a -n "$(grep 'reshard .*moved 1 slot and' "$T_DIR/deploy3.out")"
status_json
checks=$((checks + 1)); check "... each shard owns its quota again: $(jq -c '[.shards[].slots_owned]' "$T_DIR/st.json")" \
    test "$(jq -c '[.shards[].slots_owned]' "$T_DIR/st.json")" = "[5461,5461,5462]"

say "a deploy killed with -9 while it forms the cluster"
"$MERIDIAN" destroy "$T_TOPO" --state "$T_STATE" --yes >/dev/null 2>&1
"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/deploy5.out" 2>&1 &
dpid=$!
first=127.0.1.1:$BASE
met() { [[ $(on "$first" cluster info 2>/dev/null | tr -d '\r' | sed -n 's/^cluster_known_nodes://p') -gt 1 ]]; }
wait_for 30 met
kill -9 "$dpid" 2>/dev/null
wait "$dpid" 2>/dev/null
record_pids
state=$(on "$first" cluster info | tr -d '\r' | sed -n 's/^cluster_state://p')
checks=$((checks + 1)); check "the deploy died mid-way: cluster_state:$state on $first" test "$state" = fail
status_json
rc=$?
checks=$((checks + 1)); check "status says the half-formed cluster is not OK (exit $rc)" test "$rc" -ne 0
"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/deploy6.out" 2>&1
rc=$?
record_pids
tail -2 "$T_DIR/deploy6.out"
checks=$((checks + 1)); check "the next deploy finishes the job (exit $rc)" \
    grep -q "deployed and verified" "$T_DIR/deploy6.out"
status_json
checks=$((checks + 1)); check "... with its masters in 3 regions" \
    test "$(jq -r '[.shards[].master.region] | unique | length' "$T_DIR/st.json"):$(jq -r .health "$T_DIR/st.json")" = 3:ok

finish "$checks"
