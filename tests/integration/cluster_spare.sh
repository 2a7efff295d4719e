#!/usr/bin/env bash
# A host that never comes back (cluster mode), on a real 3-shard Redis
# Cluster: euw-b1, made to hold shard 2's master plus a replica of shard 1,
# is killed for good; `meridian heal` waits for the cluster to fail shard
# 2 over, then replaces the host on euw-s1 from peers' snapshots (partial
# resyncs only: sync_full grows only on the two replicas that served the
# snapshots), and every node forgets the old
# host (CLUSTER FORGET), still so once FORGET's 60 s ban is over.  The old
# host's agent, back, starts nothing and says it was replaced; a later
# deploy leaves it alone.
source "$(dirname "$0")/lib.sh"

# nodes BASE, BASE+1; agents BASE+1000; cluster bus BASE+10000.. (below
# 32768, the kernel's ephemeral ports: the planner refuses more)
BASE=${PORT_BASE:-20500}
APORT=$((BASE + 1000))
T_TOPO="$T_DIR/cluster_spare.json"
AGENT="$BUILD/meridian-agent"
REPLACE_AFTER_S=3
NODE_TIMEOUT_MS=2000
write_cluster_topology "$T_TOPO" itcspare "$BASE"
# one spare per region (in its first zone), replace after 3 s
jq --argjson after "$REPLACE_AFTER_S" '.agent.replace_after_s = $after |
    .regions[0].zones[0].hosts += [{"name": "use-s1", "address": "127.0.1.9", "spare": true}] |
    .regions[1].zones[0].hosts += [{"name": "euw-s1", "address": "127.0.2.9", "spare": true}] |
    .regions[2].zones[0].hosts += [{"name": "aps-s1", "address": "127.0.3.9", "spare": true}]' \
    "$T_TOPO" >"$T_TOPO.new" && mv "$T_TOPO.new" "$T_TOPO"
test "$(jq .cluster.node_timeout_ms "$T_TOPO")" = "$NODE_TIMEOUT_MS" || { fail "node_timeout_ms"; exit 1; }
checks=0
LOST=euw-b1
LOST_ADDR=127.0.2.2
SPARE=euw-s1
SPARE_ADDR=127.0.2.9

"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/deploy.out" 2>&1 ||
    { cat "$T_DIR/deploy.out"; fail "deploy"; exit 1; }
record_pids
ADMIN=$(cat "$T_STATE/secrets/admin.pass")
adm() { rcli_as admin "$ADMIN" "$@"; }
stat_of() { # stat_of ADDR:PORT FIELD: a field of INFO
    adm -h "${1%:*}" -p "${1#*:}" info all | tr -d '\r' | awk -F: -v k="$2" '$1 == k {print $2}'
}
# live_nodes: ADDR:PORT of every node that answers (spares included)
live_nodes() {
    local a p
    for a in 127.0.1.1 127.0.1.2 127.0.2.1 127.0.2.2 127.0.3.1 127.0.3.2 \
        127.0.1.9 127.0.2.9 127.0.3.9; do
        for p in "$BASE" $((BASE + 1)); do
            adm -h "$a" -p "$p" ping >/dev/null 2>&1 && echo "$a:$p"
        done
    done
}
# node_down ADDR:PORT: it does not answer
node_down() { ! adm -h "${1%:*}" -p "${1#*:}" ping >/dev/null 2>&1; }
# old_nodes_down: neither node of the lost host answers
old_nodes_down() { node_down "$LOST_ADDR:$BASE" && node_down "$LOST_ADDR:$((BASE + 1))"; }
# masters: every live master with slots, from euw-a1's view
masters() {
    adm -h 127.0.2.1 -p "$BASE" cluster nodes |
        awk '$3 ~ /master/ && $3 !~ /fail/ && NF >= 9 {split($2, a, "@"); print a[1]}'
}
total_keys() {
    local n=0 m
    for m in $(masters); do n=$((n + $(adm -h "${m%:*}" -p "${m#*:}" dbsize))); done
    echo "$n"
}
# kill_host HOST: its agent first (nothing restarts the rest), then every
# node it ran, each by its pid file; the host stays down
kill_host() {
    local f
    kill -9 "$(cat "$T_STATE/hosts/$1/agent.pid")" 2>/dev/null
    for f in "$T_STATE/hosts/$1"/redis*/redis.pid; do
        [[ -f $f ]] && kill -9 "$(cat "$f")" 2>/dev/null
    done
    return 0
}

say "write 3000 keys across all slots"
for i in $(seq 1 3000); do echo "SET key:$i value-$i"; done | adm -c -h 127.0.1.1 -p "$BASE" >/dev/null
checks=$((checks + 1)); check "3000 keys over the masters" wait_for 10 test "$(total_keys)" = 3000

# The plan puts one master alone on each of use-a1, euw-a1 and aps-a1: make
# euw-b1 hold a master (shard 2, its node :BASE+1) and a replica (shard 1,
# its node :BASE) by a manual failover.
say "$LOST:$((BASE + 1)) takes shard 2 over (CLUSTER FAILOVER)"
adm -h "$LOST_ADDR" -p $((BASE + 1)) cluster failover >/dev/null
lost_is_master() { masters | grep -qx "$LOST_ADDR:$((BASE + 1))"; }
checks=$((checks + 1)); check "$LOST holds shard 2's master and a replica of shard 1" \
    wait_for 10 lost_is_master
synced() { # every replica's link is up
    local n
    for n in $(live_nodes); do
        [[ $(stat_of "$n" role) == master ]] && continue
        [[ $(stat_of "$n" master_link_status) == up ]] || return 1
    done
}
checks=$((checks + 1)); check "every replica linked" wait_for 10 synced
declare -A FULL
for n in $(live_nodes); do FULL[$n]=$(stat_of "$n" sync_full); done
say "sync_full before: $(for n in "${!FULL[@]}"; do printf '%s=%s ' "$n" "${FULL[$n]}"; done)"

say "$LOST is lost for good"
kill_host "$LOST"
t0=$(now_ms)
"$MERIDIAN" heal "$T_TOPO" --state "$T_STATE" >"$T_DIR/heal.out" 2>&1
rc=$?
t1=$(now_ms)
record_pids
cat "$T_DIR/heal.out"
limit=$((NODE_TIMEOUT_MS + REPLACE_AFTER_S * 1000 + 15000))
checks=$((checks + 1)); check "heal exits 1 (healed something): $rc" test "$rc" = 1
checks=$((checks + 1)); check "heal says +host-lost $LOST" grep -q "+host-lost $LOST" "$T_DIR/heal.out"
checks=$((checks + 1)); check "heal says +host-replaced $LOST by $SPARE" \
    grep -q "+host-replaced $LOST by $SPARE" "$T_DIR/heal.out"
checks=$((checks + 1)); check "replaced in $((t1 - t0)) ms (node_timeout + replace_after_s + 15 s: $limit ms)" \
    test $((t1 - t0)) -le "$limit"

"$MERIDIAN" status "$T_TOPO" --state "$T_STATE" >"$T_DIR/st.out" 2>&1
rc=$?
if [[ $rc != 0 ]]; then
    cat "$T_DIR/st.out"
fi
checks=$((checks + 1)); check "status is OK (exit $rc)" test "$rc" = 0
checks=$((checks + 1)); check "3000 keys over the masters after it" test "$(total_keys)" = 3000
missing=$(for i in $(seq 1 3000); do echo "GET key:$i"; done |
    adm -c -h 127.0.1.1 -p "$BASE" | grep -c '^$')
checks=$((checks + 1)); check "every key readable through the cluster ($missing missing)" test "$missing" = 0
# A restore's snapshot is a SYNC: it counts in its source's sync_full.  The
# sources are replicas (never a master), so a grown sync_full is allowed
# only on the snapshot sources the spare's agent names, by one each.
LOG="$T_STATE/hosts/$SPARE/agent.log"
grep -E '\+(snapshot-fetched|partial-resync|full-resync)' "$LOG"
sources=$(grep '+snapshot-fetched' "$LOG" | grep -o '([0-9.]*:[0-9]*)' | tr -d '()' | sort)
checks=$((checks + 1)); check "the spare fetched 2 snapshots, none from a master" \
    test "$(wc -w <<<"$sources") $(grep '+snapshot-fetched' "$LOG" | grep -c 'the master')" = "2 0"
checks=$((checks + 1)); check "the spare's 2 nodes linked by partial resync, no full one" \
    test "$(grep -c '+partial-resync' "$LOG") $(grep -c '+full-resync' "$LOG")" = "2 0"
grown=""
for n in "${!FULL[@]}"; do
    [[ ${n%:*} == "$LOST_ADDR" ]] && continue
    now=$(stat_of "$n" sync_full)
    want=$((FULL[$n] + $(grep -cx "$n" <<<"$sources")))
    [[ $now == "$want" ]] || grown+=" $n:${FULL[$n]}->$now"
done
checks=$((checks + 1)); check "sync_full grew only by the snapshots (no full resync):${grown:- none}" test -z "$grown"
# stale_nodes: the live nodes whose CLUSTER NODES lists the old host
stale_nodes() {
    local n
    for n in $(live_nodes); do
        adm -h "${n%:*}" -p "${n#*:}" cluster nodes | grep -q " $LOST_ADDR:" && printf ' %s' "$n"
    done
}
stale=$(stale_nodes)
not_ok=""
nodes=$(live_nodes)
for n in $nodes; do
    [[ $(adm -h "${n%:*}" -p "${n#*:}" cluster info | tr -d '\r' | grep cluster_state) == cluster_state:ok ]] ||
        not_ok+=" $n"
done
checks=$((checks + 1)); check "9 nodes answer, 2 of them on $SPARE" \
    test "$(wc -w <<<"$nodes") $(grep -c "^$SPARE_ADDR:" <<<"$nodes")" = "9 2"
checks=$((checks + 1)); check "no node lists $LOST's address (CLUSTER FORGET):${stale:- none}" test -z "$stale"
checks=$((checks + 1)); check "cluster_state ok on every node:${not_ok:- all}" test -z "$not_ok"

say "the old host's agent comes back: it starts nothing and says it was replaced"
"$AGENT" run --daemon --manifest "$T_STATE/hosts/$LOST/manifest.json" >"$T_DIR/back.out" 2>&1
record_pids
sleep 2
checks=$((checks + 1)); check "its nodes do not answer" \
    old_nodes_down
code=$(agent_curl "$LOST_ADDR" /v1/health -s -o "$T_DIR/h.json" -w '%{http_code}')
checks=$((checks + 1)); check "its health is 503 retired, replaced by $SPARE ($code)" \
    test "$code $(jq -r '.status + " " + .replaced_by' "$T_DIR/h.json")" = "503 retired $SPARE"

say "a later deploy leaves the replaced host alone"
"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/deploy2.out" 2>&1
rc=$?
record_pids
cat "$T_DIR/deploy2.out"
checks=$((checks + 1)); check "deploy exits 0 ($rc)" test "$rc" = 0
checks=$((checks + 1)); check "deploy leaves $LOST alone" grep -q "$LOST.*replaced by $SPARE" "$T_DIR/deploy2.out"
checks=$((checks + 1)); check "$LOST's nodes still do not answer" \
    old_nodes_down
checks=$((checks + 1)); check "3000 keys over the masters at the end" test "$(total_keys)" = 3000
# CLUSTER FORGET bans a node id for 60 s only: after that, a node that
# still knew the old ones would gossip them back to every other
say "the old host stays forgotten once CLUSTER FORGET's 60 s ban is over"
while (($(now_ms) < t1 + 62000)); do sleep 1; done
stale=$(stale_nodes)
checks=$((checks + 1)); check "62 s after the heal, no node lists $LOST's address:${stale:- none}" test -z "$stale"
say "heal took $((t1 - t0)) ms"
finish "$checks"
