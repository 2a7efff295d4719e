#!/usr/bin/env bash
# Self-healing in cluster mode, on a real 3-shard Redis Cluster (9 nodes, 6
# hosts): a lost replica (killed, data dir wiped) is restored from a peer's
# snapshot with a nodes.conf written before its first start, and the
# shard's master does a partial resync; a killed master (data dir wiped) is
# failed over by the cluster, then rejoins as a replica of the promoted
# node through the same restore, never serving as an empty master, with no
# key lost.
source "$(dirname "$0")/lib.sh"

BASE=${PORT_BASE:-16200}
T_TOPO="$T_DIR/cluster.json"
AGENT="$BUILD/meridian-agent"
checks=0
jq --argjson p "$BASE" '.name = "itcheal" | .store.port = $p | .agent.port = ($p + 1000)
    | .store.maxmemory = "64mb" | .store.repl_backlog = "16mb"
    | .cluster.node_timeout_ms = 1000 | .agent.interval_ms = 500' \
    "$SRC/regions/local-cluster.json" >"$T_TOPO"
t0=$(now_ms)

"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/deploy.out" 2>&1 ||
    { cat "$T_DIR/deploy.out"; fail "deploy"; exit 1; }
record_pids
ADMIN=$(cat "$T_STATE/secrets/admin.pass")
manifest() { echo "$T_STATE/hosts/$1/manifest.json"; }
adm() { rcli_as admin "$ADMIN" "$@"; }
stat_of() { # stat_of ADDR PORT FIELD: a field of INFO
    adm -h "$1" -p "$2" info all | tr -d '\r' | awk -F: -v k="$3" '$1 == k {print $2}'
}
# every live master's address, from one node's view
masters() {
    adm -h 127.0.2.1 -p "$BASE" cluster nodes |
        awk '$3 ~ /master/ && $3 !~ /fail/ && NF >= 9 {split($2, a, "@"); print a[1]}'
}
total_keys() {
    local n=0 m
    for m in $(masters); do n=$((n + $(adm -h "${m%:*}" -p "${m#*:}" dbsize))); done
    echo "$n"
}

say "write 3000 keys across the three shards"
for i in $(seq 1 3000); do echo "SET key:$i value-$i"; done |
    adm -c -h 127.0.1.1 -p "$BASE" >/dev/null
checks=$((checks + 1)); check "3000 keys over the masters" wait_for 10 test "$(total_keys)" = 3000
# shard 0: master use-a1:BASE, replicas euw-b1:BASE and use-b1:BASE+1
replicas_caught_up() {
    local m; m=$(adm -h 127.0.1.1 -p "$BASE" dbsize)
    [[ $(adm -h 127.0.2.2 -p "$BASE" dbsize) == "$m" && $(adm -h 127.0.1.2 -p $((BASE + 1)) dbsize) == "$m" ]]
}
wait_for 10 replicas_caught_up

# kill_dead PIDFILE: SIGKILL that pid and wait until it is gone (or a
# zombie): SIGKILL is asynchronous, and on loaded cores a pass could still
# find the node running and only recreate its data dir
kill_dead() {
    local pid
    pid=$(cat "$1")
    kill -9 "$pid"
    gone() { ! pid_alive "$pid"; }
    wait_for 5 gone
}

say "lost replica: kill use-b1:$((BASE + 1)) (shard 0), wipe its data dir; check --heal"
"$AGENT" stop --manifest "$(manifest use-b1)" --agent-only 2>/dev/null
full0=$(stat_of 127.0.1.1 "$BASE" sync_full)
part0=$(stat_of 127.0.1.1 "$BASE" sync_partial_ok)
kill_dead "$T_STATE/hosts/use-b1/redis-$((BASE + 1))/redis.pid"
rm -rf "$T_STATE/hosts/use-b1/redis-$((BASE + 1))/data"
# writes while it is down: the delta the partial resync must carry
for i in $(seq 3001 3100); do echo "SET key:$i value-$i"; done |
    adm -c -h 127.0.1.1 -p "$BASE" >/dev/null
t1=$(now_ms)
"$AGENT" check --manifest "$(manifest use-b1)" --heal --json >"$T_DIR/r1.json" 2>"$T_DIR/r1.err"
rc=$?
t_replica=$(($(now_ms) - t1))
record_pids
events=$(jq -r '[.actions[].event] | join(" ")' "$T_DIR/r1.json")
checks=$((checks + 1)); check "check --heal exits 1 (healed) in $t_replica ms" test "$rc" -eq 1
checks=$((checks + 1)); check "events: $events" \
    test "$events" = "+replica-lost +snapshot-fetched +partial-resync +replica-ready"
named=$(jq -r '[.actions[].detail | select(startswith("shard itcheal-1: "))] | length' "$T_DIR/r1.json")
checks=$((checks + 1)); check "every event names shard itcheal-1" test "$named" -eq 4
full1=$(stat_of 127.0.1.1 "$BASE" sync_full)
part1=$(stat_of 127.0.1.1 "$BASE" sync_partial_ok)
checks=$((checks + 1)); check "master sync_full unchanged ($full0 -> $full1)" test "$full1" = "$full0"
checks=$((checks + 1)); check "master sync_partial_ok +1 ($part0 -> $part1)" test "$part1" = $((part0 + 1))
checks=$((checks + 1)); check "the restored replica has every key of its master" \
    test "$(adm -h 127.0.1.2 -p $((BASE + 1)) dbsize)" = "$(adm -h 127.0.1.1 -p "$BASE" dbsize)"
a1_id=$(adm -h 127.0.1.1 -p "$BASE" cluster myid)
restored_follows_a1() {
    adm -h 127.0.1.2 -p $((BASE + 1)) cluster nodes | grep -q "myself,slave $a1_id"
}
checks=$((checks + 1)); check "it is a replica of use-a1 in its own view" restored_follows_a1
checks=$((checks + 1)); check "once ready it may fail over again (cluster-replica-no-failover no)" \
    test "$(adm -h 127.0.1.2 -p $((BASE + 1)) config get cluster-replica-no-failover | tail -1)" = no
checks=$((checks + 1)); check "3100 keys over the masters" test "$(total_keys)" = 3100
"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 30 >/dev/null 2>&1 # restart use-b1's agent
record_pids
status_json
checks=$((checks + 1)); check "status ok ($(jq -r .summary "$T_DIR/st.json"))" \
    test "$(jq -r '.health | ascii_downcase' "$T_DIR/st.json")" = ok

say "lost master: kill use-a1:$BASE (shard 0's master), wipe its data dir"
"$AGENT" stop --manifest "$(manifest use-a1)" --agent-only 2>/dev/null
before=$(total_keys)
# the old node's first view of itself, whatever starts it: its flags and
# how many fields its line has (8: no slots).  CLUSTER NODES, not ROLE:
# ROLE answers while the RDB loads, and says "master" until the node's
# first cluster tick (100 ms) points its replication at the master its
# nodes.conf names; CLUSTER NODES answers only after loading, with what
# the cluster routes by.
(
    while :; do
        r=$(adm -h 127.0.1.1 -p "$BASE" cluster nodes 2>/dev/null | awk '/myself/ {print $3, NF}')
        if [[ -n $r ]]; then
            echo "$r"
            break
        fi
        sleep 0.02
    done >"$T_DIR/first-answer.tmp"
    now_ms >"$T_DIR/first-answer.at"
    mv "$T_DIR/first-answer.tmp" "$T_DIR/first-answer"
) &
T_PIDS+=("$!")
kill -9 "$(cat "$T_STATE/hosts/use-a1/redis/redis.pid")"
rm -rf "$T_STATE/hosts/use-a1/redis/data"
t2=$(now_ms)
passes=0
restored_pass() {
    passes=$((passes + 1))
    now_ms >"$T_DIR/pass-start.at"
    "$AGENT" check --manifest "$(manifest use-a1)" --heal --json >"$T_DIR/m$passes.json" 2>/dev/null
    now_ms >"$T_DIR/pass-end.at"
    record_pids
    grep -q '"+replica-ready"' "$T_DIR/m$passes.json"
}
checks=$((checks + 1)); check "restored as a replica within 30 s" wait_for 30 restored_pass
t_master=$(($(now_ms) - t2))
say "passes until restored: $passes in $t_master ms; actions before: $(for f in $(seq 1 $((passes - 1))); do jq -r '.nodes[0].action' "$T_DIR/m$f.json"; done | uniq -c | tr -s ' \n' ' ')"
early=0
for f in $(seq 1 $((passes - 1))); do
    [[ $(jq '[.actions[]] | length' "$T_DIR/m$f.json") -gt 0 ]] && early=$((early + 1))
done
checks=$((checks + 1)); check "no pass acted before the cluster promoted a replica" test "$early" -eq 0
new_master=$(masters | while read -r m; do
    adm -h "${m%:*}" -p "${m#*:}" cluster nodes | awk '/myself/ && /0-5460/ {split($2, a, "@"); print a[1]}'
done)
say "shard 0's master now: $new_master"
checks=$((checks + 1)); check "a replica of shard 0 was promoted" \
    test -n "$new_master" -a "$new_master" != "127.0.1.1:$BASE"
jq -r '.actions[] | .event + " " + .detail' "$T_DIR/m$passes.json"
checks=$((checks + 1)); check "+replica-lost names the new master of shard itcheal-1" \
    jq -e --arg m "${new_master%:*}:${new_master#*:}" \
    '[.actions[] | select(.event == "+replica-lost" and (.detail | startswith("shard itcheal-1: ")) and (.detail | contains("(" + $m + ")")))] | length == 1' \
    "$T_DIR/m$passes.json" >/dev/null
checks=$((checks + 1)); check "the new master did a partial resync" \
    jq -e '[.actions[].event] | index("+partial-resync") != null' "$T_DIR/m$passes.json" >/dev/null
wait_for 5 test -s "$T_DIR/first-answer"
say "the old master's first answer: $(cat "$T_DIR/first-answer")"
# The restoring pass starts the node and flips nofailover back within about
# 100 ms of its first answer.  A watcher slowed down (2 cores, -j2) may
# first see it after that flip, and then it can only tell replica and no
# slots: accepted when that answer came during or after the restoring pass
# (which started the node), since the flip's own time is not recorded.  The
# watcher stamps its answer after reading it, so a stamp before the pass's
# start cannot be a late read of the restored node.
first_answer_ok() {
    local a
    a=$(cat "$T_DIR/first-answer")
    [[ $a == "myself,slave,nofailover 8" ]] && return 0
    if [[ $a == "myself,slave 8" ]] &&
        (($(cat "$T_DIR/first-answer.at") >= $(cat "$T_DIR/pass-start.at"))); then
        say "the watcher first saw it after the restoring pass flipped nofailover: not observable"
        return 0
    fi
    return 1
}
checks=$((checks + 1)); check "the old master first answered as a replica without slots, not yet allowed to fail over" \
    first_answer_ok
checks=$((checks + 1)); check "it holds every key of its new master" \
    test "$(adm -h 127.0.1.1 -p "$BASE" dbsize)" = "$(adm -h "${new_master%:*}" -p "${new_master#*:}" dbsize)"
checks=$((checks + 1)); check "no key lost ($before before the kill)" test "$(total_keys)" = "$before"
"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 5 >/dev/null 2>&1 # restart use-a1's agent
record_pids
status_json
st_master=$(jq -r '.shards[0].master | "\(.address):\(.port)"' "$T_DIR/st.json")
checks=$((checks + 1)); check "status names the new master of shard 0 ($st_master)" \
    test "$st_master" = "$new_master"
checks=$((checks + 1)); check "status: every shard serves its slots, replicas linked ($(jq -r .summary "$T_DIR/st.json"))" \
    test "$(jq -c '[.shards[] | [.slots_served, .replicas_linked, .problem]]' "$T_DIR/st.json")" = '[[5461,2,null],[5461,2,null],[5462,2,null]]'
say "a replica the cluster forgot: aps-b1:$((BASE + 1)) (shard 3), killed, wiped, CLUSTER FORGET everywhere"
lost=127.0.3.2:$((BASE + 1))
"$AGENT" stop --manifest "$(manifest aps-b1)" --agent-only 2>/dev/null
lost_id=$(adm -h 127.0.3.2 -p $((BASE + 1)) cluster myid)
kill_dead "$T_STATE/hosts/aps-b1/redis-$((BASE + 1))/redis.pid"
rm -rf "$T_STATE/hosts/aps-b1/redis-$((BASE + 1))/data"
for n in $(adm -h 127.0.2.1 -p "$BASE" cluster nodes | awk -v l="$lost" '{split($2, a, "@")} a[1] != l {print a[1]}'); do
    adm -h "${n%:*}" -p "${n#*:}" cluster forget "$lost_id" >/dev/null
done
full0=$(stat_of 127.0.3.1 "$BASE" sync_full)
"$AGENT" check --manifest "$(manifest aps-b1)" --heal --json >"$T_DIR/r3.json" 2>"$T_DIR/r3.err"
record_pids
ready=$(jq -r '.actions[] | select(.event == "+replica-ready") | .detail' "$T_DIR/r3.json")
checks=$((checks + 1)); check "restored under a new id, which met the master: $ready" \
    grep -q "(a new one, met the master), may fail over again" <<<"$ready"
known_again() {
    adm -h 127.0.3.1 -p "$BASE" cluster nodes | grep -v "$lost_id" | grep -q " $lost@[0-9]* slave "
}
checks=$((checks + 1)); check "the master lists it again as a replica" wait_for 5 known_again
checks=$((checks + 1)); check "... after a partial resync (sync_full $full0 -> $(stat_of 127.0.3.1 "$BASE" sync_full))" \
    test "$(stat_of 127.0.3.1 "$BASE" sync_full)" = "$full0"
say "replica restored in $t_replica ms; master lost to replica ready in $t_master ms; test $(($(now_ms) - t0)) ms"
finish "$checks"
