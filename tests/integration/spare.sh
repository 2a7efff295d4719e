#!/usr/bin/env bash
# A host that never comes back (sentinel mode), on real processes: spares
# in the plan, a lost host found by `meridian heal` and replaced on the
# spare of its zone's region from a peer's snapshot (the master's
# sync_full unchanged), the old host fenced when its agent returns, a
# later deploy keeping the replacement, a heal killed with -9 in the
# middle that the next one finishes, and a lost host with no spare left
# (CRITICAL, no action).
source "$(dirname "$0")/lib.sh"

BASE=${PORT_BASE:-22000}
SPORT=$((BASE + 10000))
APORT=$((BASE + 1000))
T_TOPO="$T_DIR/spare.json"
write_topology "$T_TOPO" itspare "$BASE"
# one spare per region (in its first zone), replace after 3 s
jq '.agent.replace_after_s = 3 |
    .regions[0].zones[0].hosts += [{"name": "use-s1", "address": "127.0.1.9", "spare": true}] |
    .regions[1].zones[0].hosts += [{"name": "euw-s1", "address": "127.0.2.9", "spare": true}] |
    .regions[2].zones[0].hosts += [{"name": "aps-s1", "address": "127.0.3.9", "spare": true}]' \
    "$T_TOPO" >"$T_TOPO.new" && mv "$T_TOPO.new" "$T_TOPO"
AGENT="$BUILD/meridian-agent"
checks=0

say "plan: spares place nothing and say which losses they repair"
"$MERIDIAN" plan "$T_TOPO" --json >"$T_DIR/plan.json" 2>"$T_DIR/plan.err"
checks=$((checks + 1)); check "no node and no sentinel on a spare" \
    test "$(jq '[.shards[].nodes[] | select(.host | test("-s1$"))] | length' "$T_DIR/plan.json")" = 0
checks=$((checks + 1)); check "the loss of euw-a1 is repaired by euw-s1" \
    test "$(jq -r '.host_losses[] | select(.host == "euw-a1") | .spare' "$T_DIR/plan.json")" = euw-s1

"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/deploy.out" 2>&1 ||
    { cat "$T_DIR/deploy.out"; fail "deploy"; exit 1; }
record_pids
checks=$((checks + 1)); check "deploy set up no spare (no host folder for euw-s1)" \
    test ! -e "$T_STATE/hosts/euw-s1/manifest.json"
ADMIN=$(cat "$T_STATE/secrets/admin.pass")
adm() { rcli_as admin "$ADMIN" "$@"; }
leader_addr() {
    local a
    for a in 127.0.1.1 127.0.2.2 127.0.3.2; do
        adm -h "$a" -p "$SPORT" sentinel get-master-addr-by-name itspare 2>/dev/null | head -1 &&
            return 0
    done
}
stat_of() { # stat_of ADDR FIELD: a field of INFO on ADDR
    adm -h "$1" -p "$BASE" info all | tr -d '\r' | awk -F: -v k="$2" '$1 == k {print $2}'
}
# node_down ADDR: the node on ADDR does not answer
node_down() { ! adm -h "$1" -p "$BASE" ping >/dev/null 2>&1; }
# stale_entries ADDR: how many replicas the sentinel on ADDR lists on
# euw-a1's address
stale_entries() {
    adm -h "$1" -p "$SPORT" sentinel replicas itspare | grep -c '^127\.0\.2\.1$'
}
# kill_host HOST: its agent first (nothing restarts the rest), then every
# process it ran, each by its pid file; the host stays down
kill_host() {
    local f
    kill -9 "$(cat "$T_STATE/hosts/$1/agent.pid")" 2>/dev/null
    for f in "$T_STATE/hosts/$1"/redis*/redis.pid "$T_STATE/hosts/$1"/sentinel/sentinel.pid; do
        [[ -f $f ]] && kill -9 "$(cat "$f")" 2>/dev/null
    done
    return 0
}

say "write a dataset through the leader"
for i in $(seq 1 5000); do echo "SET key:$i value-$i"; done | adm -h 127.0.1.1 -p "$BASE" >/dev/null
wait_for 10 test "$(stat_of 127.0.2.1 db0 | cut -d, -f1)" = "keys=5000"
full_before=$(stat_of 127.0.1.1 sync_full)

say "euw-a1 (a replica and a sentinel) is lost for good"
kill_host euw-a1
t0=$(now_ms)
"$MERIDIAN" heal "$T_TOPO" --state "$T_STATE" >"$T_DIR/heal1.out" 2>&1
rc=$?
t1=$(now_ms)
record_pids
cat "$T_DIR/heal1.out"
checks=$((checks + 1)); check "heal exits 1 (healed something): $rc" test "$rc" = 1
checks=$((checks + 1)); check "heal says +host-lost and +host-replaced" \
    grep -q '+host-replaced euw-a1 by euw-s1' "$T_DIR/heal1.out"
checks=$((checks + 1)); check "replaced within replace_after_s + 10 s of the loss ($((t1 - t0)) ms)" \
    test $((t1 - t0)) -le 13000
checks=$((checks + 1)); check "the spare's node holds every key" \
    wait_for 10 test "$(stat_of 127.0.2.9 db0 | cut -d, -f1)" = "keys=5000"
checks=$((checks + 1)); check "the leader's sync_full is unchanged ($full_before)" \
    test "$(stat_of 127.0.1.1 sync_full)" = "$full_before"
"$MERIDIAN" status "$T_TOPO" --state "$T_STATE" --json >"$T_DIR/st.json" 2>/dev/null
rc=$?
checks=$((checks + 1)); check "status is OK (exit $rc)" test "$rc" = 0
checks=$((checks + 1)); check "status: euw-s1 stands in for euw-a1, euw-a1 replaced at generation 2" \
    test "$(jq -r '[.hosts[] | select(.host == "euw-s1") | .stands_for,
                   (.generation | tostring)] | join(" ")' "$T_DIR/st.json")" = "euw-a1 2"
for a in 127.0.1.1 127.0.2.9 127.0.3.1; do
    checks=$((checks + 1)); check "the sentinel on $a forgot euw-a1's node" \
        test "$(stale_entries $a)" = 0
done
"$MERIDIAN" plan "$T_TOPO" --state "$T_STATE" >"$T_DIR/plan2.out" 2>&1
checks=$((checks + 1)); check "plan --state shows the spare standing in" \
    grep -q 'euw-s1.*stands in for euw-a1' "$T_DIR/plan2.out"

say "the old host's agent comes back: it starts nothing and says it was replaced"
"$AGENT" run --daemon --manifest "$T_STATE/hosts/euw-a1/manifest.json" >"$T_DIR/back.out" 2>&1
record_pids
sleep 2
checks=$((checks + 1)); check "its node does not answer" node_down 127.0.2.1
code=$(agent_curl 127.0.2.1 /v1/health -s -o "$T_DIR/h.json" -w '%{http_code}')
checks=$((checks + 1)); check "its health is 503 retired, replaced by euw-s1 ($code)" \
    test "$code $(jq -r '.status + " " + .replaced_by' "$T_DIR/h.json")" = "503 retired euw-s1"
checks=$((checks + 1)); check "its log says it was replaced" \
    grep -q 'replaced' "$T_STATE/hosts/euw-a1/agent.log"

say "a later deploy keeps the replacement"
"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/deploy2.out" 2>&1
rc=$?
cat "$T_DIR/deploy2.out"
checks=$((checks + 1)); check "deploy exits 0 ($rc)" test "$rc" = 0
checks=$((checks + 1)); check "deploy leaves euw-a1 alone" grep -q 'euw-a1.*replaced by euw-s1' "$T_DIR/deploy2.out"
checks=$((checks + 1)); check "euw-a1's node still does not answer" node_down 127.0.2.1

say "aps-b1 lost; heal killed with -9 mid-replacement; the next heal finishes"
kill_host aps-b1
"$MERIDIAN" heal "$T_TOPO" --state "$T_STATE" >"$T_DIR/heal2.out" 2>&1 &
hpid=$!
wait_for 20 grep -q '+host-lost aps-b1' "$T_DIR/heal2.out"
kill -9 "$hpid" 2>/dev/null
wait "$hpid" 2>/dev/null
record_pids
"$MERIDIAN" heal "$T_TOPO" --state "$T_STATE" >"$T_DIR/heal3.out" 2>&1
rc=$?
record_pids
cat "$T_DIR/heal3.out"
checks=$((checks + 1)); check "the next heal finished the replacement (exit $rc)" \
    grep -q '+host-replaced aps-b1 by aps-s1' "$T_DIR/heal3.out"
checks=$((checks + 1)); check "aps-s1's node holds every key" \
    wait_for 10 test "$(stat_of 127.0.3.9 db0 | cut -d, -f1)" = "keys=5000"
# the sentinels may still be taking in the reset (each sees every replica
# again within a few seconds)
status_ok() { "$MERIDIAN" status "$T_TOPO" --state "$T_STATE" >"$T_DIR/st2.out" 2>&1; }
checks=$((checks + 1)); check "status OK after it (within 20 s)" wait_for 20 status_ok
[[ $T_FAILS == 0 ]] || cat "$T_DIR/st2.out"
checks=$((checks + 1)); check "the leader's sync_full is still $full_before" \
    test "$(stat_of "$(leader_addr)" sync_full)" = "$full_before"

say "euw-s1 lost too: no idle spare keeps the layout safe"
kill_host euw-s1
sleep 4
"$MERIDIAN" heal "$T_TOPO" --state "$T_STATE" >"$T_DIR/heal4.out" 2>&1
rc=$?
cat "$T_DIR/heal4.out"
checks=$((checks + 1)); check "heal exits 2 (CRITICAL) and replaces nothing ($rc)" \
    test "$rc" = 2 -a "$(jq -r .generation "$T_STATE/replacements.json")" = 3
checks=$((checks + 1)); check "heal names the host and the fix" grep -q 'euw-s1.*add a spare in eu-west' "$T_DIR/heal4.out"
"$MERIDIAN" status "$T_TOPO" --state "$T_STATE" >"$T_DIR/st3.out" 2>&1
rc=$?
checks=$((checks + 1)); check "status is CRITICAL naming euw-s1 ($rc)" \
    test "$rc" = 2 && grep -q 'euw-s1 lost' "$T_DIR/st3.out"

finish "$checks"
