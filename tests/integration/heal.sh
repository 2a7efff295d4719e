#!/usr/bin/env bash
# Self-healing on real processes: the agent API and its token, a lost
# replica restored from a peer's snapshot with a partial resync (cron mode),
# overlapping checks that heal once, an interrupted restore that the next
# pass completes, a lost sentinel, and a lost leader that rejoins as a
# replica of the new one with nothing lost.
source "$(dirname "$0")/lib.sh"

BASE=${PORT_BASE:-16600}
SPORT=$((BASE + 10000))
APORT=$((BASE + 1000))
T_TOPO="$T_DIR/heal.json"
write_topology "$T_TOPO" itheal "$BASE"
AGENT="$BUILD/meridian-agent"
checks=0

"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/deploy.out" 2>&1 ||
    { cat "$T_DIR/deploy.out"; fail "deploy"; exit 1; }
record_pids
ADMIN=$(cat "$T_STATE/secrets/admin.pass")
TOKEN_FILE="$T_STATE/secrets/agent.token"
manifest() { echo "$T_STATE/hosts/$1/manifest.json"; }
adm() { rcli_as admin "$ADMIN" "$@"; }
leader_addr() {
    adm -h 127.0.2.1 -p "$SPORT" sentinel get-master-addr-by-name itheal | head -1
}
stat_of() { # stat_of ADDR FIELD: a field of INFO on ADDR
    adm -h "$1" -p "$BASE" info all | tr -d '\r' | awk -F: -v k="$2" '$1 == k {print $2}'
}
status_ok() {
    "$MERIDIAN" status "$T_TOPO" --state "$T_STATE" --json >"$T_DIR/st.json" 2>/dev/null
}
agent_auth_hdr "$TOKEN_FILE"

say "write a dataset through the leader"
for i in $(seq 1 5000); do echo "SET key:$i value-$i"; done | adm -h 127.0.1.1 -p "$BASE" >/dev/null
wait_for 10 test "$(stat_of 127.0.2.2 db0 | cut -d, -f1)" = "keys=5000"

say "agent API"
# readiness is the agent's last pass: right after the load it may still
# have seen the replica catching up (503) for one interval
health_ready() {
    code=$(agent_api GET 127.0.2.2 /v1/health)
    [[ $code == 200 && $(jq -r .ready "$T_DIR/body") == true ]]
}
checks=$((checks + 1)); check "GET /v1/health without a token: 200 ready (within 10 s)" \
    wait_for 10 health_ready
for ep in "GET /v1/nodes" "POST /v1/heal" "GET /metrics"; do
    code=$(agent_api ${ep% *} 127.0.2.2 "${ep#* }")
    checks=$((checks + 1)); check "$ep without a token: 401 with a JSON error" \
        test "$code" = 401 -a "$(jq -r 'has("error")' "$T_DIR/body")" = true
    code=$(agent_api ${ep% *} 127.0.2.2 "${ep#* }" -H "Authorization: Bearer wrong")
    checks=$((checks + 1)); check "$ep with a wrong token: 401" test "$code" = 401
done
code=$(agent_api GET 127.0.2.2 /v1/nodes -H @"$T_DIR/auth.hdr")
checks=$((checks + 1)); check "GET /v1/nodes with the token: the replica, linked" \
    test "$code" = 200 -a "$(jq -r '.nodes[0].role + "/" + .nodes[0].link' "$T_DIR/body")" = "replica/up"
code=$(agent_api POST 127.0.2.2 /v1/heal -H @"$T_DIR/auth.hdr" -d 'not json')
checks=$((checks + 1)); check "POST /v1/heal with a malformed body: 400" \
    test "$code" = 400 -a "$(jq -r 'has("error")' "$T_DIR/body")" = true
code=$(agent_api POST 127.0.2.2 /v1/heal -H @"$T_DIR/auth.hdr" -d '{}')
checks=$((checks + 1)); check "POST /v1/heal on a healthy host: 200, code 0, no action" \
    test "$code" = 200 -a "$(jq -r '[.code, (.actions | length)] | join(",")' "$T_DIR/body")" = "0,0"
code=$(agent_api GET 127.0.2.2 /nope -H @"$T_DIR/auth.hdr")
checks=$((checks + 1)); check "unknown path: 404" test "$code" = 404
code=$(agent_api GET 127.0.2.2 /metrics -H @"$T_DIR/auth.hdr")
checks=$((checks + 1)); check "GET /metrics: Prometheus text with node_up per node" \
    grep -q "^meridian_node_up{host=\"euw-b1\",port=\"$BASE\"} 1\$" "$T_DIR/body"

say "lost replica: kill euw-b1 and wipe its data dir; cron-mode check --heal"
"$AGENT" stop --manifest "$(manifest euw-b1)" --agent-only
full0=$(stat_of 127.0.1.1 sync_full)
part0=$(stat_of 127.0.1.1 sync_partial_ok)
kill -9 "$(cat "$T_STATE/hosts/euw-b1/redis/redis.pid")"
rm -rf "$T_STATE/hosts/euw-b1/redis/data"
for i in $(seq 5001 5100); do echo "SET key:$i value-$i"; done | adm -h 127.0.1.1 -p "$BASE" >/dev/null
"$AGENT" check --manifest "$(manifest euw-b1)" --json >"$T_DIR/check0.json"
rc=$?
checks=$((checks + 1)); check "check without --heal reports the loss (exit 1) and acts not" \
    test "$rc" -eq 1 -a "$(jq -r '.nodes[0].action' "$T_DIR/check0.json")" = restore
"$AGENT" check --manifest "$(manifest euw-b1)" --heal --json >"$T_DIR/check1.json"
rc=$?
record_pids
events=$(jq -r '[.actions[].event] | join(" ")' "$T_DIR/check1.json")
checks=$((checks + 1)); check "check --heal exits 1 (healed)" test "$rc" -eq 1
checks=$((checks + 1)); check "events: $events" \
    test "$events" = "+replica-lost +snapshot-fetched +partial-resync +replica-ready"
checks=$((checks + 1)); check "the snapshot came from the same-region replica euw-a1" \
    grep -q '"detail": "from euw-a1 ' "$T_DIR/check1.json"
checks=$((checks + 1)); check "leader sync_full unchanged ($full0)" \
    test "$(stat_of 127.0.1.1 sync_full)" = "$full0"
checks=$((checks + 1)); check "leader sync_partial_ok grew by 1 ($part0)" \
    test "$(stat_of 127.0.1.1 sync_partial_ok)" = $((part0 + 1))
checks=$((checks + 1)); check "the restored node has the leader's 5100 keys" \
    test "$(adm -h 127.0.2.2 -p "$BASE" dbsize)" = 5100
same=0
for k in 1 777 2500 5000 5100; do
    [[ $(adm -h 127.0.2.2 -p "$BASE" get "key:$k") == "value-$k" ]] && same=$((same + 1))
done
checks=$((checks + 1)); check "sampled values match" test "$same" -eq 5
once=0
for s in 127.0.1.1 127.0.2.1 127.0.3.1; do
    n=$(adm -h "$s" -p "$SPORT" sentinel replicas itheal | grep -cx "127.0.2.2:$BASE")
    [[ $n -eq 1 ]] && once=$((once + 1))
done
checks=$((checks + 1)); check "every sentinel lists the restored replica exactly once" test "$once" -eq 3
checks=$((checks + 1)); check "it is promotable again (replica-priority 110)" \
    test "$(adm -h 127.0.2.2 -p "$BASE" config get replica-priority | tail -1)" = 110
"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" >/dev/null 2>&1 # restart euw-b1's agent
record_pids

say "two overlapping check --heal runs heal once"
"$AGENT" stop --manifest "$(manifest aps-b1)" --agent-only
part0=$(stat_of 127.0.1.1 sync_partial_ok)
kill -9 "$(cat "$T_STATE/hosts/aps-b1/redis/redis.pid")"
rm -rf "$T_STATE/hosts/aps-b1/redis/data"
"$AGENT" check --manifest "$(manifest aps-b1)" --heal --json >"$T_DIR/c1.json" &
c1=$!
"$AGENT" check --manifest "$(manifest aps-b1)" --heal --json >"$T_DIR/c2.json" &
c2=$!
T_PIDS+=("$c1" "$c2")
wait "$c1" "$c2"
record_pids
lost=$(cat "$T_DIR/c1.json" "$T_DIR/c2.json" | jq -s '[.[].actions[]? | select(.event == "+replica-lost")] | length')
checks=$((checks + 1)); check "exactly one +replica-lost across both runs" test "$lost" -eq 1
checks=$((checks + 1)); check "the leader did one partial resync" \
    test "$(stat_of 127.0.1.1 sync_partial_ok)" = $((part0 + 1))
"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" >/dev/null 2>&1
record_pids

say "an agent killed in the middle of a restore: the next pass converges"
"$AGENT" stop --manifest "$(manifest euw-a1)" --agent-only
kill -9 "$(cat "$T_STATE/hosts/euw-a1/redis/redis.pid")"
rm -rf "$T_STATE/hosts/euw-a1/redis/data"
"$AGENT" check --manifest "$(manifest euw-a1)" --heal >"$T_DIR/killed.out" 2>&1 &
victim=$!
T_PIDS+=("$victim")
sleep 0.05
kill -9 "$victim" 2>/dev/null
wait "$victim" 2>/dev/null
record_pids
# The killed pass may have started the node already: the next passes (as
# cron runs them) find it syncing, then ready.
next_pass() {
    "$AGENT" check --manifest "$(manifest euw-a1)" --heal --json >"$T_DIR/after.json"
    rc=$?
    record_pids
    [[ $rc -le 1 && $(jq -r '.nodes[0].ready' "$T_DIR/after.json") == true ]]
}
checks=$((checks + 1)); check "passes after it converge: the node is ready within 15 s (exit $rc)" \
    wait_for 15 next_pass
left=$(find "$T_STATE/hosts/euw-a1/redis/data" -name '*.tmp.*' | wc -l)
checks=$((checks + 1)); check "no partial snapshot file is left behind" test "$left" -eq 0
checks=$((checks + 1)); check "the node has every key" \
    test "$(adm -h 127.0.2.1 -p "$BASE" dbsize)" = 5100
"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" >/dev/null 2>&1
record_pids

say "a restore killed after it started the node leaves it unpromotable; the next pass repairs it"
# plan_prio HOST: the replica-priority the plan gives HOST
plan_prio() { "$MERIDIAN" plan "$T_TOPO" --json | jq -r --arg h "$1" '.hosts[] | select(.host == $h) | .replica_priority'; }
live_prio() { adm -h "$1" -p "$BASE" config get replica-priority | tail -1; }
sentinel_prio() { # sentinel_prio SENTINEL_ADDR NODE_ADDR: slave-priority as that sentinel lists it
    adm -h "$1" -p "$SPORT" sentinel replicas itheal | tr -d '\r' |
        awk -v n="$2:$BASE" '$0 == "name" {getline; cur = $0} $0 == "slave-priority" && cur == n {getline; print}'
}
want=$(plan_prio aps-b1)
"$AGENT" stop --manifest "$(manifest aps-b1)" --agent-only
kill -9 "$(cat "$T_STATE/hosts/aps-b1/redis/redis.pid")"
"$AGENT" check --manifest "$(manifest aps-b1)" --heal >"$T_DIR/interrupted.out" 2>&1 &
victim=$!
T_PIDS+=("$victim")
# kill -9 the pass the moment it has started the node, before it is ready
# (a partial resync makes it ready about 50 ms later: poll without sleeping)
deadline=$((SECONDS + 30))
until grep -q 'started pid' "$T_DIR/interrupted.out" || ((SECONDS > deadline)); do :; done
kill -9 "$victim" 2>/dev/null
wait "$victim" 2>/dev/null
record_pids
checks=$((checks + 1)); check "the killed pass left aps-b1 at replica-priority 0 (plan: $want)" \
    test "$(live_prio 127.0.3.2)" = 0
linked() { test "$(stat_of 127.0.3.2 master_link_status)" = up; }
wait_for 15 linked
status_ok
checks=$((checks + 1)); check "status warns that aps-b1 is not promotable" \
    test "$(jq -r '.health' "$T_DIR/st.json")" = warning -a \
    "$(jq -r '.nodes[] | select(.host == "aps-b1") | .promotable' "$T_DIR/st.json")" = false
"$AGENT" check --manifest "$(manifest aps-b1)" --json >"$T_DIR/drift.json"
rc=$?
checks=$((checks + 1)); check "check without --heal reports the drift (exit 1, action repair)" \
    test "$rc" -eq 1 -a "$(jq -r '.nodes[0].action' "$T_DIR/drift.json")" = repair
"$AGENT" check --manifest "$(manifest aps-b1)" --heal --json >"$T_DIR/repair.json"
record_pids
checks=$((checks + 1)); check "one pass repairs it: +setting-repaired, replica-priority $want" \
    test "$(jq '[.actions[] | select(.event == "+setting-repaired")] | length' "$T_DIR/repair.json")" -eq 1 -a \
    "$(live_prio 127.0.3.2)" = "$want"
sentinels_see() { [[ $(sentinel_prio 127.0.2.1 127.0.3.2) == "$want" ]]; }
checks=$((checks + 1)); check "the sentinels list slave-priority $want again" wait_for 5 sentinels_see
"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" >/dev/null 2>&1
record_pids

say "settings changed behind meridian's back are set back by the agents' loop"
adm -h 127.0.2.1 -p "$BASE" config set replica-priority 0 >/dev/null
leader=$(leader_addr)
adm -h "$leader" -p "$BASE" config set min-replicas-to-write 1000 >/dev/null
repaired() {
    [[ $(live_prio 127.0.2.1) == "$(plan_prio euw-a1)" &&
       $(adm -h "$leader" -p "$BASE" config get min-replicas-to-write | tail -1) == 1 ]]
}
checks=$((checks + 1)); check "a replica's priority 0 and a leader's leftover fence are repaired within 5 s" \
    wait_for 5 repaired

say "lost sentinel: the agent's loop restarts it"
kill -9 "$(cat "$T_STATE/hosts/aps-a1/sentinel/sentinel.pid")"
sentinel_back() {
    status_ok && test "$(jq '[.sentinels[] | select(.ok)] | length' "$T_DIR/st.json")" -eq 3
}
checks=$((checks + 1)); check "all 3 sentinels ok again within 15 s" wait_for 15 sentinel_back
record_pids

say "lost leader: sentinels fail over; the old leader rejoins as a replica"
for i in $(seq 5101 5200); do echo "SET key:$i value-$i"; done | adm -h 127.0.1.1 -p "$BASE" >/dev/null
adm -h 127.0.1.1 -p "$BASE" wait 5 2000 >/dev/null
kill -9 "$(cat "$T_STATE/hosts/use-a1/redis/redis.pid")"
moved() { [[ -n $(leader_addr) && $(leader_addr) != 127.0.1.1 ]]; }
checks=$((checks + 1)); check "the sentinels promote another node within 20 s" wait_for 20 moved
new=$(leader_addr)
rejoined() {
    status_ok && test "$(jq -r '.health' "$T_DIR/st.json")" = ok
}
checks=$((checks + 1)); check "use-a1 rejoins and the topology is healthy within 30 s" \
    wait_for 30 rejoined
record_pids
checks=$((checks + 1)); check "use-a1 is a replica of the new leader $new" \
    test "$(stat_of 127.0.1.1 master_host)" = "$new"
checks=$((checks + 1)); check "use-a1 has every key the new leader has (5200)" \
    test "$(adm -h 127.0.1.1 -p "$BASE" dbsize)" = "$(adm -h "$new" -p "$BASE" dbsize)" -a \
    "$(adm -h "$new" -p "$BASE" dbsize)" = 5200
grep -h 'EVENT +replica-lost\|EVENT +replica-ready' "$T_STATE/hosts/use-a1/agent.log" >"$T_DIR/ev"
checks=$((checks + 1)); check "the use-a1 agent logged +replica-lost and +replica-ready" \
    test "$(wc -l <"$T_DIR/ev")" -ge 2

say "a node that keeps dying is backed off, not restored in a tight loop"
"$AGENT" stop --manifest "$(manifest euw-b1)" --agent-only
lose_euw_b1() {
    kill -9 "$(cat "$T_STATE/hosts/euw-b1/redis/redis.pid")"
    rm -rf "$T_STATE/hosts/euw-b1/redis/data"
}
# euw-b1 was restored once above; two more restores make three in the window
for round in 2 3; do
    lose_euw_b1
    "$AGENT" check --manifest "$(manifest euw-b1)" --heal --json >"$T_DIR/flap$round.json"
    record_pids
done
checks=$((checks + 1)); check "the third restore within the window announces +backoff" \
    test "$(jq '[.actions[] | select(.event == "+backoff")] | length' "$T_DIR/flap3.json")" -eq 1
lose_euw_b1
"$AGENT" check --manifest "$(manifest euw-b1)" --heal --json >"$T_DIR/flap4.json"
rc=$?
checks=$((checks + 1)); check "during the backoff the node is reported (exit 2), not restored" \
    test "$rc" -eq 2 -a "$(jq -r '.nodes[0].action' "$T_DIR/flap4.json")" = backoff -a \
    "$(jq '[.actions[] | select(.event == "+replica-lost")] | length' "$T_DIR/flap4.json")" -eq 0
sleep 5.5
"$AGENT" check --manifest "$(manifest euw-b1)" --heal --json >"$T_DIR/flap5.json"
rc=$?
record_pids
checks=$((checks + 1)); check "after the backoff it is restored again (exit $rc)" \
    test "$rc" -eq 1 -a "$(jq -r '.nodes[0].ready' "$T_DIR/flap5.json")" = true

finish "$checks"
