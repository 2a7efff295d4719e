#!/usr/bin/env bash
# Several nodes on one host: one agent runs three redis-servers of one
# shard (ports BASE, BASE+1, BASE+2: a master and two replicas) and a
# sentinel, from a manifest that lists them.  Each node gets its own folder
# (redis/ for the node on store.port, redis-PORT/ for the others), its own
# line in /v1/health and /metrics, and is healed on its own: a replica
# killed and wiped is restored from a peer's snapshot while the other two
# keep their pids.
source "$(dirname "$0")/lib.sh"

BASE=${PORT_BASE:-16300}
SPORT=$((BASE + 10000))
APORT=$((BASE + 1000))
AGENT="$BUILD/meridian-agent"
T_TOPO="$T_DIR/nodes.json"
write_single "$T_TOPO" itnodes "$BASE"
checks=0

"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" >"$T_DIR/deploy.out" 2>&1 ||
    { cat "$T_DIR/deploy.out"; fail "deploy"; exit 1; }
record_pids
ROOT="$T_STATE/hosts/solo1"
MF="$ROOT/manifest.json"
ADMIN=$(cat "$T_STATE/secrets/admin.pass")
adm() { rcli_as admin "$ADMIN" "$@"; }
agent_auth_hdr

say "the host's agent runs a manifest with three nodes of its shard"
"$AGENT" stop --manifest "$MF" >/dev/null 2>&1
rm -rf "$ROOT/redis" "$ROOT/sentinel" "$ROOT/heal-state.json"
jq --argjson b "$BASE" '.shards[0].nodes += [
    {host: "solo1", port: ($b + 1), replica_priority: 100, master: false},
    {host: "solo1", port: ($b + 2), replica_priority: 100, master: false}]' "$MF" >"$T_DIR/mf.json"
cp "$T_DIR/mf.json" "$MF"
"$AGENT" run --daemon --manifest "$MF" >"$T_DIR/run.out" 2>&1
rc=$?
record_pids
checks=$((checks + 1)); check "the agent starts (exit $rc)" test "$rc" -eq 0
ready() { "$AGENT" check --manifest "$MF" >/dev/null 2>&1; }
checks=$((checks + 1)); check "every node is ready within 15 s" wait_for 15 ready
record_pids
alive=0
for d in redis "redis-$((BASE + 1))" "redis-$((BASE + 2))"; do
    pid=$(cat "$ROOT/$d/redis.pid" 2>/dev/null) && pid_alive "$pid" && alive=$((alive + 1))
done
checks=$((checks + 1)); check "three redis-servers run, each from its own folder" test "$alive" -eq 3
slaves=$(adm -h 127.0.1.1 -p "$BASE" info replication | tr -d '\r' | sed -n 's/^connected_slaves://p')
checks=$((checks + 1)); check "the master on $BASE has 2 replicas ($slaves)" test "$slaves" = 2
n=$(adm -h 127.0.1.1 -p "$SPORT" sentinel replicas itnodes | grep -c '^flags$')
checks=$((checks + 1)); check "the sentinel knows both replicas ($n)" test "$n" -eq 2
# the API answers from the agent loop's last pass, which may trail the
# check above by one pass
health_ready() {
    [[ $(agent_curl 127.0.1.1 /v1/health -s -o "$T_DIR/health" -w '%{http_code}') == 200 ]] &&
        [[ $(jq '[.nodes[] | select(.kind == "redis" and .ready)] | length' "$T_DIR/health") == 3 ]]
}
checks=$((checks + 1)); check "/v1/health: 200, three ready redis nodes" wait_for 5 health_ready
metrics_up() {
    agent_curl 127.0.1.1 /metrics -s -H @"$T_DIR/auth.hdr" >"$T_DIR/metrics" &&
        [[ $(grep -c '^meridian_node_up{host="solo1",port="[0-9]*"} 1$' "$T_DIR/metrics") == 3 ]]
}
checks=$((checks + 1)); check "/metrics: meridian_node_up for each of the three ports" wait_for 5 metrics_up

say "a replica on another port is lost: only it is restored"
victim="redis-$((BASE + 2))"
keep=$(cat "$ROOT/redis/redis.pid" "$ROOT/redis-$((BASE + 1))/redis.pid" | tr '\n' ' ')
for i in $(seq 1 500); do echo "SET k:$i v$i"; done | adm -h 127.0.1.1 -p "$BASE" >/dev/null
"$AGENT" fault --manifest "$MF" --kill "$victim" --wipe-data >"$T_DIR/fault.out" 2>&1
checks=$((checks + 1)); check "fault --kill $victim kills that node only" \
    grep -q '^killed redis-server pid' "$T_DIR/fault.out"
restored() {
    local pid
    pid=$(cat "$ROOT/$victim/redis.pid" 2>/dev/null) && pid_alive "$pid" &&
        [[ $(adm -h 127.0.1.1 -p $((BASE + 2)) dbsize 2>/dev/null) == 500 ]]
}
checks=$((checks + 1)); check "the agent's loop restores it with every key within 20 s" wait_for 20 restored
record_pids
# the node serves its keys a moment before the pass logs +replica-ready
# (it then restores the node's replica-priority)
events_logged() {
    grep -q "+replica-lost solo1/$victim" "$ROOT/agent.log" &&
        grep -q "+replica-ready solo1/$victim" "$ROOT/agent.log"
}
checks=$((checks + 1)); check "the events name the node: +replica-lost and +replica-ready solo1/$victim" \
    wait_for 10 events_logged
after=$(cat "$ROOT/redis/redis.pid" "$ROOT/redis-$((BASE + 1))/redis.pid" | tr '\n' ' ')
checks=$((checks + 1)); check "the other two nodes kept their pids" test "$keep" = "$after"

say "destroy stops every node by its pid file"
"$MERIDIAN" destroy "$T_TOPO" --state "$T_STATE" --yes >"$T_DIR/destroy.out" 2>&1
sleep 0.2
alive=0
for pid in "${T_PIDS[@]}"; do pid_alive "$pid" && alive=$((alive + 1)); done
checks=$((checks + 1)); check "no recorded process is left (${#T_PIDS[@]} recorded)" test "$alive" -eq 0

finish "$checks"
