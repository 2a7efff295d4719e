#!/usr/bin/env bash
# meridian switchover on real processes, while an independent
# Sentinel-aware client (ioredis) writes: the leader moves to the named
# region and the client loses no acknowledged write; a dry run and bad
# targets change nothing; a switchover killed (kill -9) in the middle is
# finished by the next run, with writes never left paused and the replica
# priorities back; a target that dies in the middle leaves the old leader
# serving, unpaused.
source "$(dirname "$0")/lib.sh"

BASE=${PORT_BASE:-23300}
SPORT=$((BASE + 10000))
T_TOPO="$T_DIR/switchover.json"
write_topology "$T_TOPO" itswitch "$BASE"
checks=0

install_clients || exit 1
deploy_sentinel_test itswitch
sw() { "$MERIDIAN" switchover "$T_TOPO" --state "$T_STATE" "$@"; }
# the plan's replica-priority of HOST's node, from its manifest
plan_priority() {
    jq -r --arg h "$1" --argjson p "$BASE" \
        '.shards[0].nodes[] | select(.host == $h and .port == $p) | .replica_priority' \
        "$T_STATE/hosts/$1/manifest.json"
}
HOSTS=(use-a1 use-b1 euw-a1 euw-b1 aps-a1 aps-b1)
ADDRS=(127.0.1.1 127.0.1.2 127.0.2.1 127.0.2.2 127.0.3.1 127.0.3.2)
priorities_back() { # every replica's live replica-priority is the plan's
    local i live want lead
    lead=$(leader)
    for i in "${!HOSTS[@]}"; do
        [[ ${ADDRS[$i]} == "$lead" ]] && continue
        live=$(adm -h "${ADDRS[$i]}" -p "$BASE" config get replica-priority | sed -n 2p)
        want=$(plan_priority "${HOSTS[$i]}")
        [[ $live == "$want" ]] || { say "${HOSTS[$i]}: replica-priority $live, plan $want"; return 1; }
    done
}
# a write on the leader answers within 1 s (paused writes would block)
writes_flow() {
    local out
    out=$(timeout 1 redis-cli --no-auth-warning --user admin --pass "$ADMIN" -h "$(leader)" \
        -p "$BASE" set switchover:probe 1 2>&1)
    [[ $out == OK ]]
}

# ---- dry run and bad targets: nothing changes ----
before=$(leader)
sw --to eu-west >"$T_DIR/dry.out" 2>&1
rc=$?
checks=$((checks + 1)); check "without --yes it only says what it would do (exit 1)" \
    test "$rc" -eq 1 -a "$(leader)" = "$before"
grep -q "would hold the other replicas" "$T_DIR/dry.out" || cat "$T_DIR/dry.out"
sw --to nowhere --yes >"$T_DIR/bad.out" 2>&1
rc=$?
checks=$((checks + 1)); check "an unknown target is refused, naming it (exit 2)" \
    grep -q '"nowhere" is neither a host nor a region' "$T_DIR/bad.out"
[[ $rc -eq 2 ]] || fail "exit $rc for an unknown target"
sw --to us-east --yes >"$T_DIR/same.out" 2>&1
checks=$((checks + 1)); check "the leader's own region: nothing to do (exit 0)" \
    grep -q "is on us-east already" "$T_DIR/same.out"

# ---- switchover under an independent Sentinel-aware client ----
sentinel_writer_start itswitch sw
sw --to eu-west --yes --json >"$T_DIR/sw.json" 2>"$T_DIR/switch.err"
rc=$?
cat "$T_DIR/switch.err"
sentinel_writer_stop sw
checks=$((checks + 1)); check "switchover --to eu-west: done (exit 0), the leader is in eu-west" \
    test "$rc" -eq 0 -a "$(jq -r .outcome "$T_DIR/sw.json")" = done \
    -a \( "$(leader)" = 127.0.2.1 -o "$(leader)" = 127.0.2.2 \)
lost=$(sentinel_writer_lost sw "$(leader)")
acked=$(wc -l <"$T_DIR/sw.acked")
checks=$((checks + 1)); check "the client lost none of its $acked acknowledged writes" \
    test "$lost" -eq 0 -a "$acked" -gt 50
say "writes paused on the old leader $(jq .pause_ms "$T_DIR/sw.json") ms; client: $(cat "$T_DIR/sw.err")"
checks=$((checks + 1)); check "writes flow, the replica priorities are the plan's, no state left" \
    writes_flow
priorities_back || fail "replica priorities after the switchover"
[[ ! -e $T_STATE/switchover.json ]] || fail "switchover.json left behind"
checks=$((checks + 1)); check "status is OK after the switchover" \
    "$MERIDIAN" status "$T_TOPO" --state "$T_STATE"

# ---- kill -9 in the middle, then run it again ----
sleep 12 # the cooldown after the last failover (2 x failover-timeout)
# (meridian itself in the background, so $! is its pid)
"$MERIDIAN" switchover "$T_TOPO" --state "$T_STATE" --to us-east --yes >"$T_DIR/killed.out" 2>&1 &
SW=$!
T_PIDS+=("$SW")
state=""
for _ in $(seq 1 2000); do
    state=$(jq -r .state "$T_STATE/switchover.json" 2>/dev/null)
    [[ $state == pause || $state == catchup || $state == failover || $state == promoted ]] && break
    sleep 0.002
done
kill -9 "$SW" 2>/dev/null
wait "$SW" 2>/dev/null
say "killed in state ${state:-unknown}"
checks=$((checks + 1)); check "the switchover was killed once writes were paused (state $state)" \
    test -e "$T_STATE/switchover.json" -a -n "$state" -a "$state" != hold
cat "$T_DIR/killed.out"
sleep 1.2 # the pause's lease (1 s) ends by itself
checks=$((checks + 1)); check "a killed switchover leaves no write paused" writes_flow
sw --to us-east --yes >"$T_DIR/resumed.out" 2>&1
rc=$?
cat "$T_DIR/resumed.out"
checks=$((checks + 1)); check "the next run finishes it: the leader is in us-east (exit 0)" \
    test "$rc" -eq 0 -a \( "$(leader)" = 127.0.1.1 -o "$(leader)" = 127.0.1.2 \)
grep -Eq "was killed in state|finished a killed run" "$T_DIR/resumed.out" ||
    fail "the second run did not say it finished or rolled back the killed one"
checks=$((checks + 1)); check "... every node follows the new leader (the old one demoted)" \
    test "$(adm -h 127.0.2.1 -p "$BASE" role | head -1)" = slave
checks=$((checks + 1)); check "... writes flow and the holds are released" writes_flow
priorities_back || fail "replica priorities after the resumed switchover"

# ---- the target dies in the middle ----
sleep 12
old=$(leader)
"$MERIDIAN" switchover "$T_TOPO" --state "$T_STATE" --to aps-a1 --yes >"$T_DIR/dies.out" 2>&1 &
SW=$!
T_PIDS+=("$SW")
for _ in $(seq 1 2000); do
    [[ $(jq -r .state "$T_STATE/switchover.json" 2>/dev/null) == hold ]] && break
    sleep 0.002
done
TPID=$(cat "$T_STATE/hosts/aps-a1/redis/redis.pid" 2>/dev/null || true)
[[ -n $TPID ]] && kill -STOP "$TPID"
wait "$SW"
rc=$?
[[ -n $TPID ]] && kill -CONT "$TPID"
cat "$T_DIR/dies.out"
checks=$((checks + 1)); check "a target that dies mid-way fails the switchover (exit 2) with the reason" \
    test "$rc" -eq 2
grep -q "rolled back" "$T_DIR/dies.out" || fail "no rollback said"
checks=$((checks + 1)); check "... the old leader keeps serving, unpaused" \
    test "$(leader)" = "$old"
writes_flow || fail "writes do not flow after the failed switchover"
checks=$((checks + 1)); check "... and the holds are released (replica priorities back)" \
    wait_for 30 priorities_back

finish "$checks"
