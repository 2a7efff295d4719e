#!/usr/bin/env bash
# meridian rollout on real processes, while an independent Sentinel-aware
# client (ioredis) writes: a setting that needs a restart (store.io_threads)
# is reported by deploy, then `rollout --restart --yes` gives every node the
# new value with no acknowledged write lost and no full sync; a rollout
# killed (kill -9) in the middle is finished by the next run; `rollout
# --upgrade` picks up another redis-server (a copy of the binary at another
# path: INFO server's executable shows it).
source "$(dirname "$0")/lib.sh"

BASE=${PORT_BASE:-23700}
SPORT=$((BASE + 10000))
T_TOPO="$T_DIR/rollout.json"
write_topology "$T_TOPO" itrollout "$BASE"
checks=0

install_clients || exit 1
deploy_sentinel_test itrollout
ADDRS=(127.0.1.1 127.0.1.2 127.0.2.1 127.0.2.2 127.0.3.1 127.0.3.2)
# every node's value of CONFIG GET $1, space-separated
config_all() {
    local a
    for a in "${ADDRS[@]}"; do adm -h "$a" -p "$BASE" config get "$1" | sed -n 2p; done | xargs
}
# full resyncs the replicas have logged so far (a restart resets INFO's
# counters, the log stays)
full_syncs() {
    cat "$T_STATE"/hosts/*/redis/redis.log | grep -c "Full resync from master"
}
retopo() { # retopo JQ: apply the jq filter to the topology file
    jq "$1" "$T_TOPO" >"$T_TOPO.new" && mv "$T_TOPO.new" "$T_TOPO"
}

# ---- a port is not a restart: refused ----
retopo ".store.port = $((BASE + 1))"
"$MERIDIAN" rollout "$T_TOPO" --state "$T_STATE" --yes >"$T_DIR/port.out" 2>&1
rc=$?
checks=$((checks + 1)); check "a store.port change is refused (exit 2), naming the setting" \
    grep -q "store.port $BASE -> $((BASE + 1)) moves processes" "$T_DIR/port.out"
[[ $rc -eq 2 ]] || fail "rollout of a port change exited $rc"
retopo ".store.port = $BASE"

# ---- a setting that needs a restart ----
retopo '.store.io_threads = 2'
"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/deploy2.out" 2>&1
rc=$?
checks=$((checks + 1)); check "deploy reports store.io_threads as needing a restart (exit 1)" \
    grep -q "needs restart: store.io_threads 1 -> 2" "$T_DIR/deploy2.out"
[[ $rc -eq 1 ]] || fail "deploy exited $rc, not 1"
checks=$((checks + 1)); check "... and every node still runs io-threads 1" \
    test "$(config_all io-threads)" = "1 1 1 1 1 1"
"$MERIDIAN" rollout "$T_TOPO" --state "$T_STATE" >"$T_DIR/dry.out" 2>&1
rc=$?
checks=$((checks + 1)); check "rollout without --yes lists the steps (exit 1) and changes nothing" \
    test "$rc" -eq 1 -a "$(config_all io-threads)" = "1 1 1 1 1 1"
grep -q "11 steps to take" "$T_DIR/dry.out" || { cat "$T_DIR/dry.out"; fail "not 11 steps"; }

# ---- the rollout under an independent client ----
full0=$(full_syncs)
sentinel_writer_start itrollout ro
"$MERIDIAN" rollout "$T_TOPO" --state "$T_STATE" --restart --yes >"$T_DIR/rollout.out" 2>&1
rc=$?
sentinel_writer_stop ro
grep -v '^switchover' "$T_DIR/rollout.out"
checks=$((checks + 1)); check "rollout --restart --yes: done (exit 0), every node runs io-threads 2" \
    test "$rc" -eq 0 -a "$(config_all io-threads)" = "2 2 2 2 2 2"
lost=$(sentinel_writer_lost ro "$(leader)")
acked=$(wc -l <"$T_DIR/ro.acked")
checks=$((checks + 1)); check "the client lost none of its $acked acknowledged writes" \
    test "$lost" -eq 0 -a "$acked" -gt 50
checks=$((checks + 1)); check "no full sync: every replica came back by a partial resync" \
    test "$(full_syncs)" -eq "$full0"
grep -q "0 full syncs" "$T_DIR/rollout.out" || fail "the summary does not say 0 full syncs"
checks=$((checks + 1)); check "the leader stayed in its region (us-east), status OK" \
    "$MERIDIAN" status "$T_TOPO" --state "$T_STATE" >/dev/null
[[ $(leader) == 127.0.1.* ]] || fail "leader $(leader) outside us-east"
[[ ! -e $T_STATE/rollout.json ]] || fail "rollout.json left behind"

# ---- kill -9 in the middle, then run it again (--upgrade: another binary) ----
mkdir -p "$T_DIR/bin"
cp "$(command -v redis-server)" "$T_DIR/bin/redis-server-b"
retopo ".store.redis_server = \"$T_DIR/bin/redis-server-b\""
"$MERIDIAN" rollout "$T_TOPO" --state "$T_STATE" --upgrade --yes >"$T_DIR/killed.out" 2>&1 &
RO=$!
T_PIDS+=("$RO")
wait_for 60 grep -q '\[3/11\]' "$T_DIR/killed.out" || fail "the rollout did not reach step 3"
kill -9 "$RO" 2>/dev/null
wait "$RO" 2>/dev/null
record_pids
checks=$((checks + 1)); check "a killed rollout leaves its steps in STATE/rollout.json" \
    test -e "$T_STATE/rollout.json"
"$MERIDIAN" rollout "$T_TOPO" --state "$T_STATE" --upgrade --yes >"$T_DIR/resumed.out" 2>&1
rc=$?
grep -v '^switchover' "$T_DIR/resumed.out"
checks=$((checks + 1)); check "the next run resumes it and finishes (exit 0)" \
    grep -q "resuming a rollout that was stopped" "$T_DIR/resumed.out"
[[ $rc -eq 0 ]] || fail "the resumed rollout exited $rc"
exe=$(for a in "${ADDRS[@]}"; do
    adm -h "$a" -p "$BASE" info server | tr -d '\r' | awk -F: '$1 == "executable" {print $2}'
done | sort -u)
checks=$((checks + 1)); check "every node runs the new redis-server (INFO server executable)" \
    test "$exe" = "$T_DIR/bin/redis-server-b"
checks=$((checks + 1)); check "... and status is OK" \
    "$MERIDIAN" status "$T_TOPO" --state "$T_STATE"
record_pids

finish "$checks"
