#!/usr/bin/env bash
# meridian switchover in cluster mode, on a real 3-shard Redis Cluster (9
# nodes, 6 hosts, regions/local-cluster.json's layout):
#
#   shard 1  use-a1 (us-east)   replicas euw-b1 (eu-west), use-b1:BASE+1
#   shard 2  euw-a1 (eu-west)   replicas aps-b1 (ap-south), euw-b1:BASE+1
#   shard 3  aps-a1 (ap-south)  replicas use-b1 (us-east), aps-b1:BASE+1
#
# With 3 shards over 3 regions every region holds exactly one master: moving
# any master to another region puts 2 of the 3 in one region, whose loss
# would leave 1 master, below the 2 that must vote a replica in.  So under
# the topology's default `survive: region` every cross-region switchover
# must be refused (the unsafe case this test checks: shard 2 to ap-south).
# The operator then lowers the deployment's level to `survive: zone` (one
# host per zone here): shard 2's master may then go to aps-b1 (ap-south-b,
# a zone without a master), which the test does under a WAIT-acknowledged
# writer on shard 2's slots, and checks that the move is recorded in
# STATE/placement.json and kept by status, heal and rebalance; it switches
# back to eu-west under the writer.  Then a switchover to ap-south is
# killed (kill -9) once aps-b1 is promoted, before it recorded the move:
# `meridian heal` records it instead of moving the master back.  Last, the
# master goes back to euw-a1 and the layout is the deployed one again.
source "$(dirname "$0")/lib.sh"

BASE=${PORT_BASE:-17850}
REGION_TOPO="$T_DIR/cluster.json"
ZONE_TOPO="$T_DIR/cluster-zone.json"
write_cluster_topology "$REGION_TOPO" itswclus "$BASE"
jq '.survive = "zone"' "$REGION_TOPO" >"$ZONE_TOPO"
T_TOPO=$REGION_TOPO
checks=0
cluster_nodes "$BASE"
PLACEMENT="$T_STATE/placement.json"
EUW_A1=127.0.2.1:$BASE
EUW_B1_2=127.0.2.2:$((BASE + 1))
APS_B1=127.0.3.2:$BASE

t0=$(now_ms)
"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/deploy.out" 2>&1 ||
    { cat "$T_DIR/deploy.out"; fail "deploy"; exit 1; }
record_pids
track "$ZONE_TOPO" "$T_STATE" # a failed run may leave a layout only survive: zone accepts
ADMIN=$(cat "$T_STATE/secrets/admin.pass")
APP=$(cat "$T_STATE/secrets/app.pass")
M() { "$MERIDIAN" "$1" "$T_TOPO" --state "$T_STATE" "${@:2}"; }
sw() { M switchover "$@"; }
status_ok() { M status >/dev/null 2>&1; }
# the node the placement records as shard N's master: "HOST:PORT"
placed_master() {
    jq -r --argjson s "$1" '.nodes[] | select(.shard == $s and .master) | "\(.host):\(.port)"' \
        "$PLACEMENT"
}
placement_is() { diff <(jq -S . "$PLACEMENT") <(jq -S . "$T_DIR/placement.orig") >/dev/null; }
shard2_master() { master_of 5461; }
# shard 2's master is ADDR:PORT in the view of every node (9 answer: the
# layout's 12 addresses include 3 where no node runs)
shard2_at() {
    local n v m seen=0
    for n in "${NODES[@]}"; do
        v=$(rcli_as admin "$ADMIN" -h "${n%:*}" -p "${n#*:}" cluster nodes 2>/dev/null) || continue
        seen=$((seen + 1))
        m=$(awk '$3 ~ /master/ && $3 !~ /fail/ { for (i = 9; i <= NF; i++) if ($i ~ /^5461-/) {
                 split($2, a, "@"); print a[1] } }' <<<"$v")
        [[ $m == "$1" ]] || { say "$n sees ${m:-no master} serving slot 5461"; return 1; }
    done
    ((seen == 9)) || { say "$seen nodes answer, not 9"; return 1; }
}
nothing_changed() {
    test "$(shard2_master)" = "$EUW_A1" && placement_is && test ! -e "$T_STATE/switchover.json"
}

checks=$((checks + 1)); check "status OK after the deploy" wait_for 30 status_ok
cp "$PLACEMENT" "$T_DIR/placement.orig"
checks=$((checks + 1)); check "shard 2's master is euw-a1 as planned, and the placement says so" \
    test "$(shard2_master)" = "$EUW_A1" -a "$(placed_master 2)" = "euw-a1:$BASE"

say "what must be refused (survive: region)"
sw --shard 2 --to ap-south --yes >"$T_DIR/unsafe.out" 2>&1
rc=$?
cat "$T_DIR/unsafe.out"
checks=$((checks + 1)); check "shard 2 to ap-south is refused: the loss of region ap-south would stop the cluster" \
    grep -q "refused (nothing was changed): with shard 2's master there, the loss of region ap-south would stop the cluster" \
    "$T_DIR/unsafe.out"
checks=$((checks + 1)); check "... exit 2 (exit $rc)" test "$rc" -eq 2
checks=$((checks + 1)); check "... and nothing changed" nothing_changed
sw --shard 2 --to eu-west --yes >"$T_DIR/already.out" 2>&1
rc=$?
checks=$((checks + 1)); check "the master's own region: nothing to do (exit $rc)" \
    test "$rc" -eq 0 -a -n "$(grep "shard 2's master euw-a1 is on eu-west already" "$T_DIR/already.out")"
sw --shard 4 --to ap-south --yes >"$T_DIR/noshard.out" 2>&1
rc=$?
checks=$((checks + 1)); check "an unknown shard is refused (exit $rc), naming it" \
    test "$rc" -eq 64 -a -n "$(grep -- "--shard 4 does not exist" "$T_DIR/noshard.out")"
checks=$((checks + 1)); check "... nothing changed" nothing_changed

say "the operator lowers the level to survive: zone"
T_TOPO=$ZONE_TOPO
sw --shard 2 --to ap-south >"$T_DIR/dry.out" 2>&1
rc=$?
cat "$T_DIR/dry.out"
checks=$((checks + 1)); check "the dry run exits 1 and names the move" \
    test "$rc" -eq 1 -a -n "$(grep "would send CLUSTER FAILOVER (coordinated) to aps-b1 (ap-south), which takes shard 2 over from euw-a1 (eu-west)" "$T_DIR/dry.out")"
checks=$((checks + 1)); check "... and changes nothing" nothing_changed

# a writer on shard 2's slots through the whole switchover
tag=$(tag_in 5461 10921)
log="$T_DIR/writer.log"
start_writer "$tag" "$log"
sleep 1
say "switchover --shard 2 --to ap-south --yes under writes to {$tag}"
sw --shard 2 --to ap-south --yes >"$T_DIR/sw.out" 2>&1
rc=$?
t_done=$(now_ms)
cat "$T_DIR/sw.out"
sleep 1
stop_writer
checks=$((checks + 1)); check "switchover exits 0 and says done (exit $rc)" \
    test "$rc" -eq 0 -a -n "$(grep "switchover done: euw-a1 (eu-west) -> aps-b1 (ap-south)" "$T_DIR/sw.out")"
checks=$((checks + 1)); check "aps-b1 serves shard 2 in every view" shard2_at "$APS_B1"
acked=$(grep -c ' ok$' "$log")
after=$(awk -v t="$t_done" '$1 > t && $3 == "ok"' "$log" | wc -l)
lost=$(lost_writes "$tag" "$log" "$APS_B1")
say "$acked writes acknowledged ($after after the switchover), $lost lost"
checks=$((checks + 1)); check "no acknowledged write lost ($acked acknowledged, $lost lost)" \
    test "$acked" -gt 0 -a "$lost" -eq 0
checks=$((checks + 1)); check "the writer was acknowledged by the new master ($after writes)" \
    test "$after" -gt 0
checks=$((checks + 1)); check "no switchover.json left" test ! -e "$T_STATE/switchover.json"
checks=$((checks + 1)); check "placement.json records aps-b1 as shard 2's master ($(placed_master 2))" \
    test "$(placed_master 2)" = "aps-b1:$BASE"
checks=$((checks + 1)); check "... and nothing else changed in it" \
    diff <(jq -S 'del(.nodes[] | select(.shard == 2) | .master)' "$PLACEMENT") \
         <(jq -S 'del(.nodes[] | select(.shard == 2) | .master)' "$T_DIR/placement.orig")

M status >"$T_DIR/st.out" 2>&1
rc=$?
head -3 "$T_DIR/st.out"
checks=$((checks + 1)); check "status is OK (exit $rc)" test "$rc" -eq 0
checks=$((checks + 1)); check "... and does not call shard 2's master off plan" \
    test -z "$(grep -E "outside (its|their) planned region|holds 2 masters|would move" "$T_DIR/st.out")"
M heal >"$T_DIR/heal.out" 2>&1
rc=$?
grep -E "master-moved|rebalance" "$T_DIR/heal.out"
checks=$((checks + 1)); check "heal does not move it back (exit $rc)" \
    test "$rc" -eq 0 -a -z "$(grep "master-moved" "$T_DIR/heal.out")"
checks=$((checks + 1)); check "... aps-b1 still serves shard 2" shard2_at "$APS_B1"
M rebalance >"$T_DIR/rebal.out" 2>&1
rc=$?
cat "$T_DIR/rebal.out"
checks=$((checks + 1)); check "rebalance says balanced (exit $rc)" \
    test "$rc" -eq 0 -a -n "$(grep balanced "$T_DIR/rebal.out")"

# the masters vote once per shard per 2 x node timeout (2 x 2 s here): a
# switchover right after another is refused for that long
cooldown() { sleep 4; }

say "switch back to eu-west under writes"
cooldown
log2="$T_DIR/writer2.log"
start_writer "$tag" "$log2"
sw --shard 2 --to eu-west --yes >"$T_DIR/back.out" 2>&1
rc=$?
cat "$T_DIR/back.out"
sleep 1
stop_writer
# either eu-west node of shard 2 may be chosen (the least lag)
back=$(shard2_master)
case $back in
"$EUW_A1") back_name=euw-a1 ;;
"$EUW_B1_2") back_name=euw-b1 ;;
*) back_name=none ;;
esac
checks=$((checks + 1)); check "switchover back exits 0 (exit $rc), to $back_name ($back)" \
    test "$rc" -eq 0 -a -n "$(grep "switchover done: aps-b1 (ap-south) -> $back_name.* (eu-west)" "$T_DIR/back.out")"
checks=$((checks + 1)); check "... which serves shard 2 in every view" shard2_at "$back"
lost=$(lost_writes "$tag" "$log2" "$back")
checks=$((checks + 1)); check "no acknowledged write lost ($(grep -c ' ok$' "$log2") acknowledged, $lost lost)" \
    test "$lost" -eq 0
checks=$((checks + 1)); check "placement.json records it as shard 2's master ($(placed_master 2))" \
    test "$(placed_master 2)" = "$back_name:${back#*:}"

say "a switchover to ap-south killed (kill -9) once aps-b1 is promoted"
cooldown
"$MERIDIAN" switchover "$T_TOPO" --state "$T_STATE" --shard 2 --to ap-south --yes \
    >"$T_DIR/killed.out" 2>&1 &
spid=$!
T_PIDS+=("$spid")
# polled as fast as redis-cli starts: the run records the move once every
# view agrees, a few hundred ms after the promotion
promoted=
for _ in $(seq 1 3000); do
    r=$(rcli_as admin "$ADMIN" -h "${APS_B1%:*}" -p "${APS_B1#*:}" role 2>/dev/null | head -1)
    [[ $r == master ]] && { promoted=1; break; }
done
kill -9 "$spid"
[[ -n $promoted ]] || fail "aps-b1 was not promoted"
wait "$spid" 2>/dev/null
checks=$((checks + 1)); check "killed before it recorded the move (placement: $(placed_master 2), switchover.json kept)" \
    test "$(placed_master 2)" = "$back_name:${back#*:}" -a -e "$T_STATE/switchover.json"
M heal >"$T_DIR/heal2.out" 2>"$T_DIR/heal2.err"
rc=$?
cat "$T_DIR/heal2.err"
grep -E "master-moved|rebalance" "$T_DIR/heal2.out"
checks=$((checks + 1)); check "heal records the killed run's move (exit $rc)" \
    test "$rc" -eq 0 -a -n "$(grep "a killed switchover had moved shard 2's master to aps-b1: recorded in the placement" "$T_DIR/heal2.err")"
checks=$((checks + 1)); check "... and does not move it back" \
    test -z "$(grep "master-moved" "$T_DIR/heal2.out")"
checks=$((checks + 1)); check "... aps-b1 serves shard 2 in every view" shard2_at "$APS_B1"
checks=$((checks + 1)); check "... placement.json says so ($(placed_master 2)), switchover.json is gone" \
    test "$(placed_master 2)" = "aps-b1:$BASE" -a ! -e "$T_STATE/switchover.json"
checks=$((checks + 1)); check "status OK" status_ok

say "back to euw-a1, the deployed layout"
cooldown
sw --shard 2 --to euw-a1 --yes >"$T_DIR/last.out" 2>&1
rc=$?
cat "$T_DIR/last.out"
checks=$((checks + 1)); check "switchover to euw-a1 exits 0 (exit $rc)" test "$rc" -eq 0
checks=$((checks + 1)); check "euw-a1 serves shard 2 in every view" shard2_at "$EUW_A1"
checks=$((checks + 1)); check "placement.json is the deployed one again" placement_is
T_TOPO=$REGION_TOPO
M status >"$T_DIR/st2.out" 2>&1
rc=$?
head -1 "$T_DIR/st2.out"
checks=$((checks + 1)); check "status OK under survive: region again (exit $rc)" test "$rc" -eq 0
M rebalance >"$T_DIR/rebal2.out" 2>&1
rc=$?
checks=$((checks + 1)); check "rebalance says balanced (exit $rc)" \
    test "$rc" -eq 0 -a -n "$(grep balanced "$T_DIR/rebal2.out")"
say "test $(($(now_ms) - t0)) ms"
finish "$checks"
