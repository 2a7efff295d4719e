#!/usr/bin/env bash
# The scale drill on a real Redis Cluster (regions/local-cluster.json's 6
# hosts, node timeout 2 s): 3 shards deployed and loaded with keys, then
# cluster.shards changed to 5 in the topology file and `meridian drill T
# scale --json` run instead of deploy.  It passes (exit 0) with the
# writer's acknowledged writes all read back, five masters own slots
# afterwards, and every key loaded before the scale is still readable
# through the cluster.  A second run, with nothing left to change, is
# refused with a sentence; so is scale in sentinel mode.
source "$(dirname "$0")/lib.sh"

BASE=${PORT_BASE:-11200}   # nodes BASE.. (up to 3 a host at 5 shards); bus BASE+10000..; agents BASE+1000
KEYS=3000
T_TOPO="$T_DIR/cluster.json"
write_cluster_topology "$T_TOPO" itcscale "$BASE"
checks=0

"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/deploy.out" 2>&1 ||
    { cat "$T_DIR/deploy.out"; fail "deploy of 3 shards"; exit 1; }
record_pids
ADMIN=$(cat "$T_STATE/secrets/admin.pass")

# admin_c ARGS...: redis-cli -c (follows MOVED and ASK) as admin on use-a1's
# first node, which stays through the scale
admin_c() { rcli_as admin "$ADMIN" -c -h 127.0.1.1 -p "$BASE" "$@"; }

say "loading $KEYS keys into 3 shards"
seq 1 "$KEYS" | awk '{printf "SET pre:%d v%d\n", $1, $1}' | admin_c >/dev/null
checks=$((checks + 1)); check "$KEYS keys loaded before the scale" \
    test "$(seq 1 "$KEYS" | awk '{printf "EXISTS pre:%d\n", $1}' | admin_c | grep -c '^1$')" -eq "$KEYS"

jq '.cluster.shards = 5' "$T_TOPO" >"$T_TOPO.new" && mv "$T_TOPO.new" "$T_TOPO"
say "cluster.shards 3 -> 5: meridian drill scale"
t0=$(now_ms)
"$MERIDIAN" drill "$T_TOPO" scale --state "$T_STATE" --json --rate 200 --timeout 20 \
    --out "$T_DIR/scale" >"$T_DIR/scale.json" 2>"$T_DIR/scale.err"
rc=$?
record_pids
say "the drill took $(($(now_ms) - t0)) ms"
[[ $rc -eq 0 ]] || { say "drill exited $rc"; tail -30 "$T_DIR/scale.err"; }
R="$T_DIR/scale.json"
checks=$((checks + 1)); check "the drill passes (exit $rc): $(jq -r .verdict_reason "$R" 2>/dev/null)" \
    test "$rc" -eq 0 -a "$(jq -r .verdict "$R")" = pass
checks=$((checks + 1)); check "stdout is the report alone (deploy's progress went to stderr)" \
    test "$(jq -r .scenario "$R")" = scale -a -n "$(grep -F 'reshard' "$T_DIR/scale.err")"
acked=$(jq .writes_acked "$R")
checks=$((checks + 1)); check "$acked acknowledged writes, 0 lost, every write read back" \
    test "${acked:-0}" -gt 0 -a "$(jq .acked_writes_lost "$R")" = 0 -a \
    "$(jq .scale.readback_complete "$R")" = true
checks=$((checks + 1)); check "the deploy exited 0; 3 -> 5 shards, 2 added" \
    test "$(jq -c '[.scale.deploy_exit, .scale.shards_before, .scale.shards_after, .scale.shards_added]' "$R")" = "[0,3,5,2]"
checks=$((checks + 1)); check "gap, throughput and duration reported: $(jq -c '.scale | {longest_gap_ms, acked_per_s_before, acked_per_s_during, scale_ms}' "$R")" \
    test "$(jq '.scale | [.longest_gap_ms, .acked_per_s_before, .acked_per_s_during, .scale_ms] | map(select(. != null and . > 0)) | length' "$R")" -eq 4
checks=$((checks + 1)); check "report.json, report.txt and timeline.svg written" \
    test -s "$T_DIR/scale/report.json" -a -s "$T_DIR/scale/report.txt" -a -s "$T_DIR/scale/timeline.svg"

masters=$(admin_c cluster nodes | awk '$3 ~ /master/ && $3 !~ /fail/ && NF >= 9' | wc -l)
checks=$((checks + 1)); check "5 masters own slots (CLUSTER NODES: $masters)" test "$masters" -eq 5
readable=$(seq 1 "$KEYS" | awk '{printf "GET pre:%d\n", $1}' | admin_c | grep -v '^-> Redirected' |
    paste -d' ' <(seq 1 "$KEYS") - | awk '$2 == "v" $1' | wc -l)
checks=$((checks + 1)); check "every key loaded before the scale is readable ($readable of $KEYS)" \
    test "$readable" -eq "$KEYS"

out=$("$MERIDIAN" drill "$T_TOPO" scale --state "$T_STATE" 2>&1)
rc=$?
checks=$((checks + 1)); check "run again with nothing to change: refused (exit $rc) with a sentence" \
    test "$rc" -eq 1 -a -n "$(grep -F "asks for no change" <<<"$out")"

write_topology "$T_DIR/sentinel.json" itcscales "$BASE"
out=$("$MERIDIAN" drill "$T_DIR/sentinel.json" scale --state "$T_DIR/sentinel-state" 2>&1)
rc=$?
checks=$((checks + 1)); check "sentinel mode: refused (exit $rc) with a sentence" \
    test "$rc" -eq 64 -a -n "$(grep -F "needs cluster mode" <<<"$out")"

finish "$checks"
