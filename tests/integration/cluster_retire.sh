#!/usr/bin/env bash
# Nodes a host's manifest no longer lists (agent/retire.h), on a real
# 3-shard Redis Cluster (9 nodes, 6 hosts), as the shrink of a cluster
# leaves them: the host gets a manifest without them and its agent is
# restarted with it (stop --agent-only, run --daemon).
#   - empty cluster: a replica dropped from use-b1's manifest (folder
#     redis-PORT/) and one dropped from aps-b1's (folder redis/, the node on
#     store.port) are stopped by their recorded pids, their folders moved
#     to ROOT/retired/redis-PORT.<secs> with their logs, +retired logged;
#     the hosts' other nodes keep running and the hosts are ready.  A stale
#     folder whose pid file names a live process that is not redis-server
#     is moved without touching that process.
#   - a master that owns slots and holds a key, dropped from use-a1's
#     manifest (its whole shard), keeps running; /v1/health is 503 and names
#     it; the error is logged once, not once per pass; nothing is moved.
#   - `meridian-agent stop` (not --agent-only) stops it all the same.
source "$(dirname "$0")/lib.sh"

BASE=${PORT_BASE:-11600}   # nodes BASE, BASE+1; bus BASE+10000..; agents BASE+1000
APORT=$((BASE + 1000))
AGENT="$BUILD/meridian-agent"
T_TOPO="$T_DIR/cluster.json"
write_cluster_topology "$T_TOPO" itcretire "$BASE"
checks=0

"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/deploy.out" 2>&1 ||
    { cat "$T_DIR/deploy.out"; fail "deploy"; exit 1; }
record_pids
ADMIN=$(cat "$T_STATE/secrets/admin.pass")
root() { echo "$T_STATE/hosts/$1"; }
pid_of() { cat "$(root "$1")/$2/redis.pid"; }
# drop HOST JQ_FILTER: rewrite HOST's manifest with the filter, restart its agent
drop() {
    local mf
    mf="$(root "$1")/manifest.json"
    jq "$2" "$mf" >"$T_DIR/mf-$1.json" && install -m 600 "$T_DIR/mf-$1.json" "$mf" &&
        "$AGENT" stop --agent-only --manifest "$mf" >"$T_DIR/agent-$1.out" 2>&1 &&
        "$AGENT" run --daemon --manifest "$mf" >>"$T_DIR/agent-$1.out" 2>&1
    local rc=$?
    record_pids
    return $rc
}
health() { # health ADDR: /v1/health into $T_DIR/health; prints the HTTP code
    agent_curl "$1" /v1/health -s -o "$T_DIR/health" -w '%{http_code}'
}
event() { grep -q "EVENT +retired $1 $2" "$(root "${1%%/*}")/agent.log"; }

say "empty cluster: drop replica use-b1:$((BASE + 1)) and replica aps-b1:$BASE (folder redis/)"
b1_gone=$(pid_of use-b1 "redis-$((BASE + 1))")
b1_stays=$(pid_of use-b1 redis)
ap_gone=$(pid_of aps-b1 redis)
ap_stays=$(pid_of aps-b1 "redis-$((BASE + 1))")
# a stale folder whose pid file names a live process that is no redis-server
sleep 120 &
stranger=$!
T_PIDS+=("$stranger")
mkdir -p "$(root use-b1)/redis-$((BASE + 50))"
echo "$stranger" >"$(root use-b1)/redis-$((BASE + 50))/redis.pid"
echo "an old log" >"$(root use-b1)/redis-$((BASE + 50))/redis.log"
drop use-b1 "del(.shards[].nodes[] | select(.host == \"use-b1\" and .port == $((BASE + 1))))" &
d1=$!
drop aps-b1 "del(.shards[].nodes[] | select(.host == \"aps-b1\" and .port == $BASE))" &
d2=$!
wait "$d1"
rc1=$?
wait "$d2"
rc2=$?
record_pids
checks=$((checks + 1)); check "both agents restart with their new manifests ($rc1, $rc2)" \
    test "$rc1" -eq 0 -a "$rc2" -eq 0
gone() { ! pid_alive "$b1_gone" && ! pid_alive "$ap_gone"; }
checks=$((checks + 1)); check "the dropped nodes' processes exit (pids $b1_gone, $ap_gone)" wait_for 10 gone
moved() { # moved HOST PORT: the folder is gone and one retired copy exists
    [[ ! -e $(root "$1")/$3 ]] && compgen -G "$(root "$1")/retired/redis-$2.*" >/dev/null
}
checks=$((checks + 1)); check "use-b1/redis-$((BASE + 1)) moved under retired/" \
    wait_for 5 moved use-b1 $((BASE + 1)) "redis-$((BASE + 1))"
checks=$((checks + 1)); check "aps-b1/redis (port $BASE) moved under retired/ as redis-$BASE.<secs>" \
    wait_for 5 moved aps-b1 "$BASE" redis
kept=$(ls "$(root use-b1)"/retired/redis-$((BASE + 1)).*/)
checks=$((checks + 1)); check "the retired folder keeps its log, not its pid file: $(echo $kept)" \
    test -s "$(echo "$(root use-b1)"/retired/redis-$((BASE + 1)).*/redis.log)" \
    -a ! -e "$(echo "$(root use-b1)"/retired/redis-$((BASE + 1)).*/redis.pid)"
checks=$((checks + 1)); check "retired/ is 0700" test "$(stat -c %a "$(root use-b1)/retired")" = 700
checks=$((checks + 1)); check "+retired events name both nodes" \
    eval 'event use-b1/redis-$((BASE + 1)) "not in the manifest, held no key and no slot: stopped pid $b1_gone" &&
          event aps-b1/redis "not in the manifest, held no key and no slot: stopped pid $ap_gone"'
checks=$((checks + 1)); check "the stale folder is moved, its pid's process (not redis-server) untouched" \
    eval 'moved use-b1 $((BASE + 50)) redis-$((BASE + 50)) && pid_alive $stranger &&
          event use-b1/redis-$((BASE + 50)) "not in the manifest, not running"'
kill "$stranger"
checks=$((checks + 1)); check "the hosts' other nodes keep their pids" \
    eval 'pid_alive $b1_stays && [[ $(pid_of use-b1 redis) == $b1_stays ]] &&
          pid_alive $ap_stays && [[ $(pid_of aps-b1 redis-$((BASE + 1))) == $ap_stays ]]'
ready() { [[ $(health "$1") == 200 ]]; }
checks=$((checks + 1)); check "use-b1 and aps-b1 are ready" \
    eval 'wait_for 10 ready 127.0.1.2 && wait_for 10 ready 127.0.3.2'

say "a master with slots and a key: drop shard itcretire-1 (use-a1:$BASE) from use-a1's manifest"
tag=$(tag_in 0 5460)
rcli_as admin "$ADMIN" -c -h 127.0.1.1 -p "$BASE" set "{$tag}:k" v >/dev/null
a1=$(pid_of use-a1 redis)
checks=$((checks + 1)); check "use-a1:$BASE holds the key" \
    test "$(rcli_as admin "$ADMIN" -h 127.0.1.1 -p "$BASE" dbsize)" = 1
drop use-a1 'del(.shards[] | select(.name == "itcretire-1"))'
rc=$?
checks=$((checks + 1)); check "use-a1's agent restarts with the new manifest ($rc)" test "$rc" -eq 0
sentence="node redis (port $BASE) is not in the manifest but still owns 5461 slots and holds 1 key: not stopped"
refused() {
    [[ $(health 127.0.1.1) == 503 ]] &&
        jq -e --arg s "$sentence" --argjson p "$BASE" '.ready == false and
            ([.nodes[] | select(.kind == "leftover" and .port == $p and (.reason | startswith($s)))]
             | length == 1)' "$T_DIR/health" >/dev/null
}
checks=$((checks + 1)); check "/v1/health is 503 and names it: $sentence" wait_for 10 refused
sleep 2 # a few passes (every 200 ms while the host is not ready)
checks=$((checks + 1)); check "the master still runs (pid $a1), its folder in place, nothing retired" \
    eval 'pid_alive $a1 && [[ -d $(root use-a1)/redis && ! -e $(root use-a1)/retired ]]'
logged=$(grep -c "ERROR use-a1/redis: $sentence" "$(root use-a1)/agent.log")
# once; twice at most if a pass in between could not reach the node (a
# changed sentence is logged again)
checks=$((checks + 1)); check "the error is logged once, not once per pass ($logged)" \
    test "$logged" -ge 1 -a "$logged" -le 2
"$AGENT" check --manifest "$(root use-a1)/manifest.json" --json >"$T_DIR/check.json" 2>/dev/null
rc=$?
checks=$((checks + 1)); check "check says WARNING (exit $rc) with the same sentence, action keep" \
    eval '[[ $rc == 1 ]] && jq -e --arg s "$sentence" "(.summary | startswith(\$s)) and
          .leftovers[0].action == \"keep\"" "$T_DIR/check.json" >/dev/null'

say "meridian-agent stop (not --agent-only) stops it all the same"
"$AGENT" stop --manifest "$(root use-a1)/manifest.json" >"$T_DIR/stop.out" 2>&1
rc=$?
stopped() { ! pid_alive "$a1"; }
checks=$((checks + 1)); check "stop exits 0 ($rc) and the leftover's pid $a1 is gone" \
    eval '[[ $rc == 0 ]] && wait_for 5 stopped'
checks=$((checks + 1)); check "stop says so" grep -q "use-a1/redis: stopped pid $a1 (not in the manifest)" "$T_DIR/stop.out"

finish "$checks"
