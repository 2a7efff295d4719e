#!/usr/bin/env bash
# Spare hosts, the agent's side (agent/fence.h), on real processes:
#   (a) a node flagged "restore": true on a host whose node folder is gone
#       is restored from a peer's snapshot with a partial resync (the
#       leader's sync_full unchanged), never started blank;
#   (b) a host that every other host's manifest (generation 2) lists as
#       replaced comes back: its agent starts nothing, /v1/health answers
#       503 "retired", it logs +replaced and leaves ROOT/fenced.json, and a
#       restart with every peer's agent stopped still starts nothing.
# The manifests are edited by hand (what the orchestrator's replacement
# writes); agents are stopped and started by pid, as heal.sh does.
source "$(dirname "$0")/lib.sh"

BASE=${PORT_BASE:-20000}
SPORT=$((BASE + 10000))
APORT=$((BASE + 1000))
T_TOPO="$T_DIR/fence.json"
write_topology "$T_TOPO" itfence "$BASE"
AGENT="$BUILD/meridian-agent"
HOSTS=(use-a1 use-b1 euw-a1 euw-b1 aps-a1 aps-b1)
checks=0

"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/deploy.out" 2>&1 ||
    { cat "$T_DIR/deploy.out"; fail "deploy"; exit 1; }
record_pids
ADMIN=$(cat "$T_STATE/secrets/admin.pass")
manifest() { echo "$T_STATE/hosts/$1/manifest.json"; }
root() { echo "$T_STATE/hosts/$1"; }
adm() { rcli_as admin "$ADMIN" "$@"; }
stat_of() { # stat_of ADDR FIELD: a field of INFO on ADDR
    adm -h "$1" -p "$BASE" info all | tr -d '\r' | awk -F: -v k="$2" '$1 == k {print $2}'
}
agent_auth_hdr
# edit HOST JQ [ARGS...]: rewrite HOST's manifest through jq, kept 0600
edit() {
    local mf h=$1
    mf=$(manifest "$h")
    shift
    jq "$@" "$mf" >"$T_DIR/mf.tmp" && install -m 600 "$T_DIR/mf.tmp" "$mf"
}
agent_start() {
    "$AGENT" run --daemon --manifest "$(manifest "$1")" >>"$T_DIR/agent-$1.out" 2>&1
    local rc=$?
    record_pids
    return $rc
}
agent_stop() { "$AGENT" stop --agent-only --manifest "$(manifest "$1")" >/dev/null 2>&1; }
leader=$(adm -h 127.0.2.1 -p "$SPORT" sentinel get-master-addr-by-name itfence | head -1)
checks=$((checks + 1)); check "the leader is use-a1 ($leader)" test "$leader" = 127.0.1.1

say "write a dataset through the leader"
for i in $(seq 1 5000); do echo "SET key:$i value-$i"; done | adm -h 127.0.1.1 -p "$BASE" >/dev/null
wait_for 10 test "$(stat_of 127.0.2.2 db0 | cut -d, -f1)" = "keys=5000"

# ==== (a) restore on a fresh host ====
say "(a) euw-b1 comes back empty with its node flagged restore"
"$AGENT" stop --manifest "$(manifest euw-b1)" >/dev/null 2>&1
rm -rf "$(root euw-b1)/redis" "$(root euw-b1)/heal-state.json"
edit euw-b1 '(.shards[0].nodes[] | select(.host == "euw-b1")).restore = true'
checks=$((checks + 1)); check "the manifest flags euw-b1's node restore" \
    test "$(jq '[.shards[0].nodes[] | select(.restore == true) | .host] | join(",")' \
        "$(manifest euw-b1)")" = '"euw-b1"'
for i in $(seq 5001 5100); do echo "SET key:$i value-$i"; done | adm -h 127.0.1.1 -p "$BASE" >/dev/null
full0=$(stat_of 127.0.1.1 sync_full)
part0=$(stat_of 127.0.1.1 sync_partial_ok)
agent_start euw-b1
checks=$((checks + 1)); check "euw-b1's agent starts" test $? -eq 0
health_ready() {
    [[ $(agent_api GET 127.0.2.2 /v1/health) == 200 && $(jq -r .ready "$T_DIR/body") == true ]]
}
checks=$((checks + 1)); check "euw-b1 is ready within 30 s" wait_for 30 health_ready
alog="$(root euw-b1)/agent.log"
checks=$((checks + 1)); check "the agent did not start it blank: it left it to the heal pass" \
    grep -q "euw-b1/redis: stands in for a lost node" "$alog"
checks=$((checks + 1)); check "events +replica-lost, +snapshot-fetched, +partial-resync, +replica-ready" \
    test "$(grep -o 'EVENT +[a-z-]* euw-b1/redis' "$alog" | awk '{print $2}' | tr '\n' ' ')" = \
    "+replica-lost +snapshot-fetched +partial-resync +replica-ready "
checks=$((checks + 1)); check "the snapshot came from the same-region replica euw-a1" \
    grep -q "EVENT +snapshot-fetched euw-b1/redis from euw-a1 " "$alog"
checks=$((checks + 1)); check "leader sync_full unchanged ($full0)" \
    test "$(stat_of 127.0.1.1 sync_full)" = "$full0"
checks=$((checks + 1)); check "leader sync_partial_ok grew by 1 ($part0)" \
    test "$(stat_of 127.0.1.1 sync_partial_ok)" = $((part0 + 1))
checks=$((checks + 1)); check "the restored node has the leader's 5100 keys" \
    test "$(adm -h 127.0.2.2 -p "$BASE" dbsize)" = 5100
prio=$(jq '.shards[0].nodes[] | select(.host == "euw-b1") | .replica_priority' "$(manifest euw-b1)")
checks=$((checks + 1)); check "it is promotable again (replica-priority $prio)" \
    test "$(adm -h 127.0.2.2 -p "$BASE" config get replica-priority | tail -1)" = "$prio"

# ==== (b) a replaced host comes back ====
X=use-b1
XADDR=127.0.1.2
say "(b) every other host's manifest: generation 2, $X replaced by use-b9"
checks=$((checks + 1)); check "$X runs a replica and no sentinel" \
    test "$(jq -r --arg x "$X" '.hosts[] | select(.host == $x) | .sentinel_port' \
        "$(manifest $X)")" = 0
# X's agent is down first: it is its start that must learn the news
agent_stop "$X"
for h in "${HOSTS[@]}"; do
    [[ $h == "$X" ]] && continue
    edit "$h" --arg x "$X" '.generation = 2 |
        .replaced = [{host: $x, by: "use-b9", generation: 2}] |
        .shards |= map(.nodes |= map(select(.host != $x)))'
    agent_stop "$h"
    agent_start "$h" || fail "restart $h's agent"
done
# run --daemon returns once the agent holds its lock; its API follows
fence_answer() {
    [[ $(agent_api GET 127.0.1.1 /v1/fence -H @"$T_DIR/auth.hdr") == 200 ]] &&
        [[ $(jq -c '[.topology, .host, .generation, .replaced[0].host, .replaced[0].by]' \
            "$T_DIR/body") == "[\"itfence\",\"use-a1\",2,\"$X\",\"use-b9\"]" ]]
}
checks=$((checks + 1)); check "GET /v1/fence of use-a1: generation 2, $X replaced by use-b9" \
    wait_for 10 fence_answer
code=$(agent_api GET 127.0.1.1 /v1/fence)
checks=$((checks + 1)); check "GET /v1/fence without a token: 401" test "$code" = 401

say "$X's node killed (its agent was stopped), start its agent again"
xpid=$(cat "$(root $X)/redis/redis.pid")
kill -9 "$xpid"
wait_for 5 bash -c "! kill -0 $xpid 2>/dev/null"
checks=$((checks + 1)); check "no fenced.json yet" test ! -e "$(root $X)/fenced.json"
agent_start "$X"
checks=$((checks + 1)); check "$X's agent starts" test $? -eq 0
# nothing starts: give it a few passes (interval 500 ms)
sleep 3
record_pids
node_down() {
    local pid
    pid=$(cat "$(root $X)/redis/redis.pid" 2>/dev/null) && pid_alive "$pid" && return 1
    ! adm -h "$XADDR" -p "$BASE" ping >/dev/null 2>&1
}
checks=$((checks + 1)); check "$X's node was not started" node_down
code=$(agent_api GET "$XADDR" /v1/health)
checks=$((checks + 1)); check "/v1/health: 503 retired, replaced_by use-b9, generation 2, not ready" \
    test "$code" = 503 -a "$(jq -c '[.status, .replaced_by, .generation, .ready, .nodes[0].ready]' \
        "$T_DIR/body")" = '["retired","use-b9",2,false,false]'
xlog="$(root $X)/agent.log"
checks=$((checks + 1)); check "the log has +replaced, learned from a peer" \
    grep -Eq "EVENT \\+replaced $X this host was replaced by use-b9 at generation 2: its nodes stay stopped \\(learned from (use-a1|euw-a1|euw-b1|aps-a1|aps-b1)\\)" "$xlog"
checks=$((checks + 1)); check "fenced.json exists, 0600, generation 2 by use-b9" \
    test "$(stat -c %a "$(root $X)/fenced.json" 2>/dev/null)" = 600 -a \
    "$(jq -c '[.generation, .by]' "$(root $X)/fenced.json" 2>/dev/null)" = '[2,"use-b9"]'
checks=$((checks + 1)); check "its node folder stays" test -d "$(root $X)/redis"
"$AGENT" check --manifest "$(manifest $X)" >"$T_DIR/xcheck.out" 2>&1
rc=$?
checks=$((checks + 1)); check "check says it was replaced (exit $rc)" \
    grep -q "^$X: retired - this host was replaced by use-b9 at generation 2" "$T_DIR/xcheck.out"
code=$(agent_api POST "$XADDR" /v1/heal -H @"$T_DIR/auth.hdr" -d '{}')
checks=$((checks + 1)); check "POST /v1/heal on it heals nothing: status retired" \
    test "$code" = 200 -a "$(jq -r '.status + "/" + (.actions | length | tostring)' "$T_DIR/body")" = "retired/0"
not_replica() { ! adm -h 127.0.1.1 -p "$BASE" info replication | grep -q "ip=$XADDR,"; }
checks=$((checks + 1)); check "the leader has no replica on $X" not_replica

say "restart $X's agent with every peer's agent stopped: the marker keeps it fenced"
for h in "${HOSTS[@]}"; do agent_stop "$h"; done
agent_start "$X"
checks=$((checks + 1)); check "$X's agent starts alone" test $? -eq 0
sleep 2
record_pids
checks=$((checks + 1)); check "its node still was not started" node_down
code=$(agent_api GET "$XADDR" /v1/health)
checks=$((checks + 1)); check "/v1/health: still 503 retired" \
    test "$code" = 503 -a "$(jq -r .status "$T_DIR/body")" = retired
checks=$((checks + 1)); check "it learned it from its marker" \
    grep -q "learned from marker" "$xlog"
for h in "${HOSTS[@]}"; do [[ $h == "$X" ]] || agent_start "$h"; done

finish "$checks"
