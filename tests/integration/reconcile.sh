#!/usr/bin/env bash
# Settings that reach running processes: deploy, change three settings in a
# copy of the topology, deploy the copy: each change is listed per host and
# set live on every node and sentinel, no Redis or Sentinel pid changes,
# status is ok and a second deploy says "no changes".  A value changed
# behind meridian's back is reported by status as drift, and the next deploy
# sets it back.  A port change is not applied live: it is reported as
# needing a restart, exit 1, nothing restarted.
source "$(dirname "$0")/lib.sh"

BASE=${PORT_BASE:-16400}
SPORT=$((BASE + 10000))
T_TOPO="$T_DIR/reconcile.json"
write_topology "$T_TOPO" itreconcile "$BASE"
HOSTS=(127.0.1.1 127.0.1.2 127.0.2.1 127.0.2.2 127.0.3.1 127.0.3.2)
SENTINELS=(127.0.1.1 127.0.2.1 127.0.3.1)
checks=0

"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/deploy1.out" 2>&1 ||
    { cat "$T_DIR/deploy1.out"; fail "first deploy"; exit 1; }
record_pids
ADMIN=$(cat "$T_STATE/secrets/admin.pass")
adm() { rcli_as admin "$ADMIN" "$@"; }
pids() { cat "$T_STATE"/hosts/*/redis/redis.pid "$T_STATE"/hosts/*/sentinel/sentinel.pid | sort; }
pids >"$T_DIR/pids.before"
# nodes_with SETTING VALUE: how many nodes' CONFIG GET SETTING is VALUE
nodes_with() {
    local h n=0
    for h in "${HOSTS[@]}"; do
        [[ $(adm -h "$h" -p "$BASE" config get "$1" | tail -1) == "$2" ]] && n=$((n + 1))
    done
    echo "$n"
}
# sentinels_with FIELD VALUE: how many sentinels' SENTINEL MASTER FIELD is VALUE
sentinels_with() {
    local s n=0 v
    for s in "${SENTINELS[@]}"; do
        v=$(adm -h "$s" -p "$SPORT" sentinel master itreconcile | awk -v k="$1" 'f {print; exit} $0 == k {f = 1}')
        [[ $v == "$2" ]] && n=$((n + 1))
    done
    echo "$n"
}

say "a copy with down_after_ms 1000 -> 3000, maxmemory 64mb -> 32mb, min_replicas_max_lag_s 5 -> 9"
COPY="$T_DIR/changed.json"
sed -e 's/"down_after_ms": 1000/"down_after_ms": 3000/' -e 's/"maxmemory": "64mb"/"maxmemory": "32mb"/' \
    -e 's/"min_replicas_max_lag_s": 5/"min_replicas_max_lag_s": 9/' "$T_TOPO" >"$COPY"
"$MERIDIAN" deploy "$COPY" --state "$T_STATE" --timeout 60 >"$T_DIR/deploy2.out" 2>&1
rc=$?
cat "$T_DIR/deploy2.out"
record_pids
checks=$((checks + 1)); check "deploy of the copy exits 0 (exit $rc)" test "$rc" -eq 0
checks=$((checks + 1)); check "it lists maxmemory 64mb -> 32mb (live) on all 6 hosts" \
    test "$(grep -c 'changed: maxmemory 64mb -> 32mb (live)' "$T_DIR/deploy2.out")" -eq 6
checks=$((checks + 1)); check "it lists min-replicas-max-lag 5 -> 9 (live) on all 6 hosts" \
    test "$(grep -c 'changed: min-replicas-max-lag 5 -> 9 (live)' "$T_DIR/deploy2.out")" -eq 6
checks=$((checks + 1)); check "it lists sentinel down-after-milliseconds 1000 -> 3000 on all 3 sentinels" \
    test "$(grep -c 'changed: sentinel down-after-milliseconds 1000 -> 3000 (live)' "$T_DIR/deploy2.out")" -eq 3
checks=$((checks + 1)); check "CONFIG GET on every node shows the new values" \
    test "$(nodes_with maxmemory 33554432)" -eq 6 -a "$(nodes_with min-replicas-max-lag 9)" -eq 6
checks=$((checks + 1)); check "SENTINEL MASTER on every sentinel shows down-after-milliseconds 3000" \
    test "$(sentinels_with down-after-milliseconds 3000)" -eq 3
conf_ok=$(grep -l '^maxmemory 32mb$' "$T_STATE"/hosts/*/redis/redis.conf | wc -l)
checks=$((checks + 1)); check "every node rewrote its redis.conf (CONFIG REWRITE)" test "$conf_ok" -eq 6
pids >"$T_DIR/pids.after"
checks=$((checks + 1)); check "no Redis or Sentinel pid changed" cmp -s "$T_DIR/pids.before" "$T_DIR/pids.after"
"$MERIDIAN" status "$COPY" --state "$T_STATE" --json >"$T_DIR/st.json"
checks=$((checks + 1)); check "status is ok" test "$(jq -r .health "$T_DIR/st.json")" = ok
"$MERIDIAN" deploy "$COPY" --state "$T_STATE" >"$T_DIR/deploy3.out" 2>&1
checks=$((checks + 1)); check "a second deploy says no changes" grep -q '^no changes' "$T_DIR/deploy3.out"

say "drift: a value changed behind meridian's back"
adm -h 127.0.2.2 -p "$BASE" config set maxmemory 16mb >/dev/null
adm -h 127.0.3.1 -p "$SPORT" sentinel set itreconcile failover-timeout 7000 >/dev/null
"$MERIDIAN" status "$COPY" --state "$T_STATE" --json >"$T_DIR/drift.json"
rc=$?
cat "$T_DIR/drift.json" | jq -c '{health, summary}'
checks=$((checks + 1)); check "status warns (exit 1), naming the setting and the host" \
    test "$rc" -eq 1 -a "$(jq -r '.nodes[] | select(.host == "euw-b1") | .drift' "$T_DIR/drift.json")" = \
    "maxmemory 16mb (topology: 32mb)"
checks=$((checks + 1)); check "... and the sentinel's" \
    test "$(jq -r '.sentinels[] | select(.host == "aps-a1") | .drift' "$T_DIR/drift.json")" = \
    "failover-timeout 7000 (topology: 6000)"
"$MERIDIAN" deploy "$COPY" --state "$T_STATE" >"$T_DIR/deploy4.out" 2>&1
checks=$((checks + 1)); check "the next deploy sets both back and reports them" \
    test "$(grep -c 'changed: .*maxmemory 16mb -> 32mb\|changed: sentinel failover-timeout 7000 -> 6000' "$T_DIR/deploy4.out")" -eq 2

say "a live change Redis refuses: reported with its error, the others still applied"
# behind meridian's back, euw-a1's admin may no longer CONFIG SET
adm -h 127.0.2.1 -p "$BASE" acl setuser admin -config\|set >/dev/null
REFUSED="$T_DIR/refused.json"
sed -e 's/"maxmemory": "32mb"/"maxmemory": "48mb"/' "$COPY" >"$REFUSED"
"$MERIDIAN" deploy "$REFUSED" --state "$T_STATE" >"$T_DIR/deploy6.out" 2>&1
rc=$?
cat "$T_DIR/deploy6.out"
checks=$((checks + 1)); check "deploy exits 2, naming euw-a1 and Redis' own error" \
    test "$rc" -eq 2 -a "$(grep -c 'euw-a1 .*not changed: maxmemory 32mb -> 48mb: .*NOPERM' "$T_DIR/deploy6.out")" -eq 1
checks=$((checks + 1)); check "the other 5 hosts changed maxmemory live" \
    test "$(grep -c 'changed: maxmemory 32mb -> 48mb (live)' "$T_DIR/deploy6.out")" -eq 5
pids >"$T_DIR/pids.after3"
checks=$((checks + 1)); check "nothing was restarted" cmp -s "$T_DIR/pids.before" "$T_DIR/pids.after3"
adm -h 127.0.2.1 -p "$BASE" acl setuser admin +config\|set >/dev/null
"$MERIDIAN" deploy "$REFUSED" --state "$T_STATE" >"$T_DIR/deploy7.out" 2>&1
rc=$?
checks=$((checks + 1)); check "once allowed, the next deploy applies it there only (exit $rc)" \
    test "$rc" -eq 0 -a "$(grep -c 'changed: ' "$T_DIR/deploy7.out")" -eq 1 -a \
    "$(grep -c 'euw-a1 .*changed: maxmemory 32mb -> 48mb (live)' "$T_DIR/deploy7.out")" -eq 1

say "a reconcile interrupted by kill -9 converges on the next deploy"
KILLED="$T_DIR/killed.json"
sed -e 's/"maxmemory": "48mb"/"maxmemory": "40mb"/' -e 's/"down_after_ms": 3000/"down_after_ms": 2000/' \
    "$REFUSED" >"$KILLED"
"$MERIDIAN" deploy "$KILLED" --state "$T_STATE" >"$T_DIR/deploy8.out" 2>&1 &
dpid=$!
# killed as soon as it has written a host's new manifest: the manifests
# and the agents are part new, part old, and nothing is reconciled yet
for _ in $(seq 1 1000); do
    grep -q 'manifest updated' "$T_DIR/deploy8.out" 2>/dev/null && break
    sleep 0.005
done
kill -9 "$dpid" 2>/dev/null
wait "$dpid" 2>/dev/null
applied=$(grep -c 'changed: ' "$T_DIR/deploy8.out")
written=$(grep -c 'manifest updated' "$T_DIR/deploy8.out")
"$MERIDIAN" deploy "$KILLED" --state "$T_STATE" >"$T_DIR/deploy9.out" 2>&1
rc=$?
grep 'changed\|not running\|verified\|no changes' "$T_DIR/deploy9.out"
ok_nodes=$(nodes_with maxmemory 41943040)
ok_snt=$(sentinels_with down-after-milliseconds 2000)
checks=$((checks + 1)); check "killed after $written manifest(s) and $applied change(s); the next deploy exits 0 and every node and sentinel runs the new values" \
    test "$rc" -eq 0 -a "$ok_nodes" -eq 6 -a "$ok_snt" -eq 3
"$MERIDIAN" deploy "$KILLED" --state "$T_STATE" >"$T_DIR/deploy10.out" 2>&1
checks=$((checks + 1)); check "and the one after says no changes" grep -q '^no changes' "$T_DIR/deploy10.out"
pids >"$T_DIR/pids.after4"
checks=$((checks + 1)); check "no Redis or Sentinel pid changed through all of it" \
    cmp -s "$T_DIR/pids.before" "$T_DIR/pids.after4"
COPY="$KILLED"

say "a port change needs a restart: reported, not applied"
PORTS="$T_DIR/ports.json"
sed -e "s/\"port\": $BASE,/\"port\": $((BASE + 1)),/" "$COPY" >"$PORTS"
"$MERIDIAN" deploy "$PORTS" --state "$T_STATE" >"$T_DIR/deploy5.out" 2>&1
rc=$?
cat "$T_DIR/deploy5.out"
checks=$((checks + 1)); check "deploy exits 1 and says store.port needs a restart" \
    test "$rc" -eq 1 -a "$(grep -c "needs restart: store.port $BASE -> $((BASE + 1))" "$T_DIR/deploy5.out")" -eq 1
pids >"$T_DIR/pids.after2"
checks=$((checks + 1)); check "nothing was restarted and the nodes still serve on port $BASE" \
    test "$(adm -h 127.0.1.1 -p "$BASE" ping)" = PONG -a -z "$(comm -3 "$T_DIR/pids.before" "$T_DIR/pids.after2")"

finish "$checks"
