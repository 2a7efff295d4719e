#!/usr/bin/env bash
# store.persistence "aof" on real processes: every node appends to an AOF
# (appendonly yes, an AOF folder on disk) and a write reaches it; a
# replica lost to kill -9 is rebuilt from a peer's snapshot with a partial
# resync and ends with appendonly yes; a leader lost to kill -9 is failed
# over and comes back as a replica, never as a master, its old AOF folder
# moved aside and none of its stale data loaded; persistence back to
# "none" applies live, with no drift left for status.
source "$(dirname "$0")/lib.sh"

BASE=${PORT_BASE:-18150}
SPORT=$((BASE + 10000))
APORT=$((BASE + 1000))
T_TOPO="$T_DIR/persistence.json"
write_topology "$T_DIR/plain.json" itaof "$BASE"
jq '.store.persistence = "aof"' "$T_DIR/plain.json" >"$T_TOPO"
checks=0
NODES=(127.0.1.1 127.0.1.2 127.0.2.1 127.0.2.2 127.0.3.1 127.0.3.2)
declare -A HOST=([127.0.1.1]=use-a1 [127.0.1.2]=use-b1 [127.0.2.1]=euw-a1
                 [127.0.2.2]=euw-b1 [127.0.3.1]=aps-a1 [127.0.3.2]=aps-b1)

deploy_sentinel_test itaof
data() { echo "$T_STATE/hosts/${HOST[$1]}/redis/data"; }
stat_of() { # stat_of ADDR FIELD: a field of INFO on ADDR
    adm -h "$1" -p "$BASE" info all 2>/dev/null | tr -d '\r' | awk -F: -v k="$2" '$1 == k {print $2}'
}
aof_of() { adm -h "$1" -p "$BASE" config get appendonly | tail -1; }
nodes_with_aof() { # how many nodes answer appendonly $1
    local a n=0
    for a in "${NODES[@]}"; do [[ $(aof_of "$a") == "$1" ]] && n=$((n + 1)); done
    echo "$n"
}
status_json() { "$MERIDIAN" status "$T_TOPO" --state "$T_STATE" --json >"$T_DIR/st.json" 2>/dev/null; }

say "every node runs appendonly yes and has an AOF folder"
checks=$((checks + 1)); check "CONFIG GET appendonly is yes on all 6 nodes" \
    test "$(nodes_with_aof yes)" -eq 6
have_aof() {
    local a
    for a in "${NODES[@]}"; do
        ls "$(data "$a")"/appendonlydir/*.manifest >/dev/null 2>&1 || return 1
    done
}
checks=$((checks + 1)); check "every node's data dir holds appendonlydir with a manifest" \
    wait_for 10 have_aof
checks=$((checks + 1)); check "redis.conf says appendonly yes, everysec, appenddirname" \
    test "$(grep -lx 'appendonly yes' "$T_STATE"/hosts/*/redis/redis.conf | wc -l)" -eq 6 -a \
    "$(grep -lx 'appendfsync everysec' "$T_STATE"/hosts/*/redis/redis.conf | wc -l)" -eq 6 -a \
    "$(grep -lx 'appenddirname appendonlydir' "$T_STATE"/hosts/*/redis/redis.conf | wc -l)" -eq 6

say "a write reaches the AOFs (fsync once a second)"
L=$(leader)
for i in $(seq 1 2000); do echo "SET key:$i value-$i"; done | adm -h "$L" -p "$BASE" >/dev/null
adm -h "$L" -p "$BASE" set marker:one written >/dev/null
adm -h "$L" -p "$BASE" wait 5 2000 >/dev/null
in_aofs() {
    local a
    for a in "${NODES[@]}"; do
        grep -aqs 'marker:one' "$(data "$a")"/appendonlydir/*.incr.aof || return 1
    done
}
checks=$((checks + 1)); check "marker:one is in the AOF of all 6 nodes within 5 s" wait_for 5 in_aofs

say "kill -9 a replica (euw-b1): the agent rebuilds it with a partial resync"
full0=$(stat_of "$L" sync_full)
part0=$(stat_of "$L" sync_partial_ok)
kill -9 "$(cat "$T_STATE/hosts/euw-b1/redis/redis.pid")"
for i in $(seq 2001 2100); do echo "SET key:$i value-$i"; done | adm -h "$L" -p "$BASE" >/dev/null
ready_log() { grep -q 'EVENT +replica-ready' "$T_STATE/hosts/$1/agent.log"; }
checks=$((checks + 1)); check "euw-b1's agent logs +replica-ready within 20 s" wait_for 20 ready_log euw-b1
record_pids
checks=$((checks + 1)); check "leader sync_partial_ok grew by 1 ($part0)" \
    test "$(stat_of "$L" sync_partial_ok)" = $((part0 + 1))
checks=$((checks + 1)); check "leader sync_full unchanged ($full0)" test "$(stat_of "$L" sync_full)" = "$full0"
checks=$((checks + 1)); check "euw-b1 has the leader's 2101 keys" \
    test "$(adm -h 127.0.2.2 -p "$BASE" dbsize)" = 2101
checks=$((checks + 1)); check "euw-b1 runs appendonly yes again, and its redis.conf says so" \
    test "$(aof_of 127.0.2.2)" = yes -a "$(grep -cx 'appendonly yes' "$T_STATE/hosts/euw-b1/redis/redis.conf")" = 1
checks=$((checks + 1)); check "euw-b1 has a new AOF folder, and its old one moved aside" \
    test -f "$(data 127.0.2.2)/appendonlydir/appendonly.aof.manifest" -a \
    "$(find "$(data 127.0.2.2)" -maxdepth 1 -name 'appendonlydir.lost-*' | wc -l)" -eq 1
checks=$((checks + 1)); check "the agent logged +aof-set-aside" \
    grep -q 'EVENT +aof-set-aside' "$T_STATE/hosts/euw-b1/agent.log"

say "kill -9 the leader: failover; it comes back as a replica with none of its stale data"
OLD=$L
adm -h "$OLD" -p "$BASE" set doomed:key before-failover >/dev/null
adm -h "$OLD" -p "$BASE" wait 5 2000 >/dev/null
old_host=${HOST[$OLD]}
in_old_aof() { grep -aqs 'doomed:key' "$(data "$OLD")"/appendonlydir/*.incr.aof; }
wait_for 3 in_old_aof
kill -9 "$(cat "$T_STATE/hosts/$old_host/redis/redis.pid")"
moved() { local l; l=$(leader); [[ -n $l && $l != "$OLD" ]]; }
checks=$((checks + 1)); check "the sentinels promote another node within 20 s" wait_for 20 moved
NEW=$(leader)
adm -h "$NEW" -p "$BASE" del doomed:key >/dev/null
adm -h "$NEW" -p "$BASE" set fresh:key after-failover >/dev/null
# sample the old leader's role until it is back: it must never answer as a master
: >"$T_DIR/roles"
back() {
    adm -h "$OLD" -p "$BASE" role 2>/dev/null | head -1 >>"$T_DIR/roles"
    [[ $(stat_of "$OLD" master_link_status) == up && $(stat_of "$OLD" master_host) == "$NEW" ]] &&
        ready_log "$old_host"
}
checks=$((checks + 1)); check "$old_host rejoins as a replica of $NEW within 30 s" wait_for 30 back
record_pids
checks=$((checks + 1)); check "it never answered as a master ($(sort -u "$T_DIR/roles" | tr '\n' ' '))" \
    test "$(grep -cx master "$T_DIR/roles")" -eq 0
checks=$((checks + 1)); check "its old AOF folder was moved aside, and holds the stale doomed:key" \
    grep -aqs 'doomed:key' "$(data "$OLD")"/appendonlydir.lost-*/*.incr.aof
checks=$((checks + 1)); check "no stale data: doomed:key gone, fresh:key there" \
    test -z "$(adm -h "$OLD" -p "$BASE" get doomed:key)" -a \
    "$(adm -h "$OLD" -p "$BASE" get fresh:key)" = after-failover
checks=$((checks + 1)); check "it matches the new master ($(adm -h "$NEW" -p "$BASE" dbsize) keys)" \
    test "$(adm -h "$OLD" -p "$BASE" dbsize)" = "$(adm -h "$NEW" -p "$BASE" dbsize)"
checks=$((checks + 1)); check "it runs appendonly yes, with a new AOF folder" \
    test "$(aof_of "$OLD")" = yes -a -f "$(data "$OLD")/appendonlydir/appendonly.aof.manifest"
healthy() { status_json && test "$(jq -r .health "$T_DIR/st.json")" = ok; }
checks=$((checks + 1)); check "status is ok within 15 s" wait_for 15 healthy

say "persistence back to none: applied live, no drift"
"$MERIDIAN" deploy "$T_DIR/plain.json" --state "$T_STATE" --timeout 60 >"$T_DIR/deploy2.out" 2>&1
rc=$?
record_pids
grep 'appendonly' "$T_DIR/deploy2.out" | head -3
checks=$((checks + 1)); check "deploy exits 0 and lists appendonly as changed live on 6 hosts (exit $rc)" \
    test "$rc" -eq 0 -a "$(grep -c 'changed: appendonly .*(live)' "$T_DIR/deploy2.out")" -eq 6
checks=$((checks + 1)); check "CONFIG GET appendonly is no on all 6 nodes" test "$(nodes_with_aof no)" -eq 6
T_TOPO="$T_DIR/plain.json"
status_json
checks=$((checks + 1)); check "status: ok, no drift" \
    test "$(jq -r .health "$T_DIR/st.json")" = ok -a \
    "$(jq '[.nodes[] | select((.drift // "") != "")] | length' "$T_DIR/st.json")" -eq 0
"$MERIDIAN" deploy "$T_DIR/plain.json" --state "$T_STATE" >"$T_DIR/deploy3.out" 2>&1
checks=$((checks + 1)); check "the next deploy says no changes" grep -q '^no changes' "$T_DIR/deploy3.out"

say "and none -> aof again: live, each node writes a new AOF (a rewrite)"
T_TOPO="$T_DIR/persistence.json"
"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/deploy4.out" 2>&1
rc=$?
record_pids
checks=$((checks + 1)); check "deploy exits 0, appendonly changed live on 6 hosts (exit $rc)" \
    test "$rc" -eq 0 -a "$(grep -c 'changed: appendonly .*(live)' "$T_DIR/deploy4.out")" -eq 6
checks=$((checks + 1)); check "CONFIG GET appendonly is yes on all 6 nodes" test "$(nodes_with_aof yes)" -eq 6
rewritten() {
    local a n=0
    for a in "${NODES[@]}"; do
        [[ $(stat_of "$a" aof_rewrite_in_progress) == 0 &&
           $(stat_of "$a" aof_last_bgrewrite_status) == ok ]] && n=$((n + 1))
    done
    ((n == 6))
}
checks=$((checks + 1)); check "every node's AOF rewrite ended ok within 10 s" wait_for 10 rewritten
status_json
checks=$((checks + 1)); check "status: ok, no drift" \
    test "$(jq -r .health "$T_DIR/st.json")" = ok -a \
    "$(jq '[.nodes[] | select((.drift // "") != "")] | length' "$T_DIR/st.json")" -eq 0

say "an AOF that cannot be written: status warns, naming the node"
a=${NODES[1]}
dir="$(data "$a")/appendonlydir"
T_IMMUTABLE=$dir
chattr +i "$dir"
adm -h "$a" -p "$BASE" bgrewriteaof >/dev/null
failed() { [[ $(stat_of "$a" aof_last_bgrewrite_status) == err ]]; }
wait_for 10 failed
status_json
checks=$((checks + 1)); check "status is WARNING: $(jq -r .summary "$T_DIR/st.json")" \
    bash -c "test \"\$(jq -r .health '$T_DIR/st.json')\" = warning &&
        jq -r .summary '$T_DIR/st.json' | grep -q 'cannot write its AOF'"
chattr -i "$dir"
unset T_IMMUTABLE
adm -h "$a" -p "$BASE" bgrewriteaof >/dev/null
checks=$((checks + 1)); check "the next rewrite succeeds and status is ok again" \
    wait_for 10 healthy

finish "$checks"
