#!/usr/bin/env bash
# A rolling restart's agent-side step on real processes (POST /v1/restart):
# a replica restarted with a setting that needs a restart (io-threads)
# keeps its keys and rejoins with a partial resync; the leader is refused;
# the sentinel restarts with its own sentinel.conf and still monitors the
# leader; a node restarted with another redis-server program runs it, and
# a restarted agent adopts it.  Deploy pins a needs-restart setting, so
# the test gives the agent its new manifest itself, as a rollout will.
source "$(dirname "$0")/lib.sh"

BASE=${PORT_BASE:-23500}
SPORT=$((BASE + 10000))
APORT=$((BASE + 1000))
T_TOPO="$T_DIR/restart.json"
AGENT="$BUILD/meridian-agent"
checks=0
jq --argjson b "$BASE" '.name = "itrestart" | .store.port = $b | .store.maxmemory = "64mb" |
    .store.repl_backlog = "16mb" | .sentinel.port = $b + 10000 | .agent.port = $b + 1000 |
    .agent.interval_ms = 500' "$SRC/regions/local.json" >"$T_TOPO"

"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/deploy.out" 2>&1 ||
    { cat "$T_DIR/deploy.out"; fail "deploy"; exit 1; }
record_pids
ADMIN=$(cat "$T_STATE/secrets/admin.pass")
adm() { rcli_as admin "$ADMIN" "$@"; }
manifest() { echo "$T_STATE/hosts/$1/manifest.json"; }
stat_of() { # stat_of ADDR FIELD: a field of INFO on ADDR's node
    adm -h "$1" -p "$BASE" info all | tr -d '\r' | awk -F: -v k="$2" '$1 == k {print $2}'
}
agent_auth_hdr
restart() { # restart HOST_ADDR QUERY: POST /v1/restart?QUERY; prints the status
    agent_api POST "$1" "/v1/restart?$2" -H @"$T_DIR/auth.hdr"
}
# set_manifest HOST JQ_FILTER: what a rollout does first: the host's
# manifest with new settings, and its agent restarted with it (its nodes
# keep running)
set_manifest() {
    local m
    m=$(manifest "$1")
    jq "$2" "$m" >"$m.new" && mv "$m.new" "$m"
    "$AGENT" stop --manifest "$m" --agent-only >/dev/null 2>&1
    "$AGENT" run --manifest "$m" --daemon >/dev/null
    record_pids
}
health_ready() {
    [[ $(agent_curl "$1" /v1/health -s -o /dev/null -w '%{http_code}') == 200 ]]
}

LEADER=127.0.1.1
REPLICA=127.0.2.2 # euw-b1
say "a dataset through the leader"
for i in $(seq 1 3000); do echo "SET key:$i value-$i"; done | adm -h "$LEADER" -p "$BASE" >/dev/null
wait_for 10 test "$(stat_of "$REPLICA" db0 | cut -d, -f1)" = "keys=3000"

say "store.io_threads 1 -> 2: deploy says it needs a restart and sets nothing"
jq '.store.io_threads = 2' "$T_TOPO" >"$T_TOPO.new" && mv "$T_TOPO.new" "$T_TOPO"
"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/deploy2.out" 2>&1
checks=$((checks + 1)); check "deploy: needs restart: store.io_threads 1 -> 2" \
    grep -q "needs restart: store.io_threads 1 -> 2" "$T_DIR/deploy2.out"
checks=$((checks + 1)); check "deploy did not CONFIG SET io-threads" \
    test "$(adm -h "$REPLICA" -p "$BASE" config get io-threads | tail -1)" = 1

say "restart the replica on euw-b1 with its new manifest"
set_manifest euw-b1 '.settings.store.io_threads = 2'
wait_for 10 health_ready "$REPLICA"
full0=$(stat_of "$LEADER" sync_full)
part0=$(stat_of "$LEADER" sync_partial_ok)
pid0=$(cat "$T_STATE/hosts/euw-b1/redis/redis.pid")
code=$(restart "$REPLICA" "port=$BASE")
record_pids
cat "$T_DIR/body"; echo
checks=$((checks + 1)); check "POST /v1/restart?port=$BASE: 200, restarted, partial resync" \
    test "$code" = 200 -a "$(jq -r '[.process, .restarted, .partial_resync] | join(",")' \
    "$T_DIR/body")" = "redis,true,true"
checks=$((checks + 1)); check "a new process" \
    test "$(cat "$T_STATE/hosts/euw-b1/redis/redis.pid")" != "$pid0"
checks=$((checks + 1)); check "its io-threads is 2" \
    test "$(adm -h "$REPLICA" -p "$BASE" config get io-threads | tail -1)" = 2
checks=$((checks + 1)); check "every key is there" \
    test "$(adm -h "$REPLICA" -p "$BASE" dbsize)" = 3000
checks=$((checks + 1)); check "the leader: sync_full unchanged ($full0), sync_partial_ok grew" \
    test "$(stat_of "$LEADER" sync_full)" = "$full0" -a "$(stat_of "$LEADER" sync_partial_ok)" -gt "$part0"
checks=$((checks + 1)); check "promotable again (its plan's replica-priority)" \
    test "$(adm -h "$REPLICA" -p "$BASE" config get replica-priority | tail -1)" != 0

say "the leader is refused"
code=$(restart "$LEADER" "port=$BASE")
checks=$((checks + 1)); check "POST /v1/restart on the leader: 409, switch it over first" \
    test "$code" = 409 -a "$(jq -r '.error | test("is the leader of its shard; switch it over first")' "$T_DIR/body")" = true
code=$(restart "$REPLICA" "port=1")
checks=$((checks + 1)); check "a port with no node: 404" test "$code" = 404
code=$(restart "$REPLICA" "node=1")
checks=$((checks + 1)); check "a malformed query: 400" test "$code" = 400
code=$(agent_api POST "$REPLICA" "/v1/restart?sentinel=1")
checks=$((checks + 1)); check "without the token: 401" test "$code" = 401

say "restart a sentinel"
SHOST=$(jq -r '.hosts[] | select(.sentinel_port > 0) | .address' "$(manifest use-a1)" | tail -1)
SNAME=$(jq -r --arg a "$SHOST" '.hosts[] | select(.address == $a) | .host' "$(manifest use-a1)")
spid0=$(cat "$T_STATE/hosts/$SNAME/sentinel/sentinel.pid")
code=$(restart "$SHOST" "sentinel=1")
record_pids
cat "$T_DIR/body"; echo
checks=$((checks + 1)); check "POST /v1/restart?sentinel=1 on $SNAME: 200, restarted" \
    test "$code" = 200 -a "$(jq -r .restarted "$T_DIR/body")" = true
checks=$((checks + 1)); check "a new sentinel process" \
    test "$(cat "$T_STATE/hosts/$SNAME/sentinel/sentinel.pid")" != "$spid0"
checks=$((checks + 1)); check "it still monitors the leader" \
    test "$(adm -h "$SHOST" -p "$SPORT" sentinel get-master-addr-by-name itrestart | head -1)" = "$LEADER"

say "store.redis_server: a copy of redis-server at another path"
mkdir -p "$T_DIR/bin"
cp "$(command -v redis-server)" "$T_DIR/bin/redis-server-b"
set_manifest euw-b1 ".settings.store.redis_server = \"$T_DIR/bin/redis-server-b\""
checks=$((checks + 1)); check "the restarted agent adopted the running node (no restart)" \
    wait_for 10 health_ready "$REPLICA"
code=$(restart "$REPLICA" "port=$BASE")
record_pids
checks=$((checks + 1)); check "POST /v1/restart: 200, restarted, partial resync" \
    test "$code" = 200 -a "$(jq -r '[.restarted, .partial_resync] | join(",")' "$T_DIR/body")" = "true,true"
checks=$((checks + 1)); check "INFO server executable is the new program" \
    test "$(stat_of "$REPLICA" executable)" = "$T_DIR/bin/redis-server-b"
pid1=$(cat "$T_STATE/hosts/euw-b1/redis/redis.pid")
set_manifest euw-b1 '.'
wait_for 10 health_ready "$REPLICA"
checks=$((checks + 1)); check "an agent restarted again adopts the node running redis-server-b" \
    grep -q "already running as pid $pid1; adopted" "$T_STATE/hosts/euw-b1/agent.log"
checks=$((checks + 1)); check "every key is still there" \
    test "$(adm -h "$REPLICA" -p "$BASE" dbsize)" = 3000

finish "$checks"
