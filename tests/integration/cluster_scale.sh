#!/usr/bin/env bash
# Grow a loaded Redis Cluster from 3 shards to 5 and back, online, as an
# operator does it: edit cluster.shards, run `meridian deploy`.  While
# independent clients write (redis-cli, SET then WAIT 1, on three hash tags
# whose slots move), the test:
#   - grows to 5: the plan diff is printed before anything changes; the
#     deploy is killed with -9 in the middle of the slot moves, and every
#     loaded key is still readable then (ASK); the next deploy finishes:
#     5 masters own slots, all 16384 covered, each shard its quota, the new
#     masters where `plan` put them, no region holds half of the masters,
#     the 9 running nodes kept their host and port;
#   - a shard count the planner refuses is refused before anything moves;
#   - shrinks back to 3, first with the remaining masters full: the move
#     stops naming the key, its slot and both nodes, every key stays
#     readable; then it resumes, is killed with -9 while it retires the
#     drained shards, and the next deploy finishes: the retired shards'
#     processes stop, every node forgets them, 3 masters own the slots;
#   - no loaded key and no acknowledged write is lost.
source "$(dirname "$0")/lib.sh"

BASE=${PORT_BASE:-19100}
T_TOPO="$T_DIR/cluster.json"
KEYS=30000
checks=0
write_cluster_topology "$T_TOPO" itscale "$BASE"

"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/deploy.out" 2>&1 ||
    { cat "$T_DIR/deploy.out"; fail "deploy"; exit 1; }
record_pids
ADMIN=$(cat "$T_STATE/secrets/admin.pass")
APP=$(cat "$T_STATE/secrets/app.pass")
adm() { rcli_as admin "$ADMIN" "$@"; }
M() { "$MERIDIAN" "$@" "$T_TOPO" --state "$T_STATE"; }
cluster_nodes "$BASE"
for a in 127.0.1.1 127.0.1.2 127.0.2.1 127.0.2.2 127.0.3.1 127.0.3.2; do NODES+=("$a:$((BASE + 2))"); done
masters() { view | awk '$3 ~ /master/ && $3 !~ /fail/ && NF >= 9 {split($2, a, "@"); print a[1]}'; }
on() { local n=$1; shift; adm -h "${n%:*}" -p "${n#*:}" "$@"; }
set_shards() { jq --argjson n "$1" '.cluster.shards = $n' "$T_TOPO" >"$T_TOPO.new" && mv "$T_TOPO.new" "$T_TOPO"; }
# missing_keys: how many of key:1..KEYS the cluster does not return
missing_keys() {
    seq 1 "$KEYS" | awk '{printf "GET key:%d\n", $1}' | adm -c -h 127.0.2.1 -p "$BASE" | grep -c '^$'
}

say "load $KEYS keys over the 16384 slots"
"$BUILD/cluster-keys" resp 0-5460 "$KEYS" 32 | adm -h 127.0.1.1 -p "$BASE" --pipe >/dev/null
"$BUILD/cluster-keys" resp 5461-10921 "$KEYS" 32 | adm -h 127.0.2.1 -p "$BASE" --pipe >/dev/null
"$BUILD/cluster-keys" resp 10922-16383 "$KEYS" 32 | adm -h 127.0.3.1 -p "$BASE" --pipe >/dev/null
checks=$((checks + 1)); check "every loaded key readable" test "$(missing_keys)" -eq 0

say "independent clients write on three tags whose slots move to the new shards"
TAGS=("$(tag_in 5000 5460)" "$(tag_in 10500 10921)" "$(tag_in 16000 16383)")
# a key with a NUL byte in a slot that moves: MIGRATE must name it exactly
bin_tag=${TAGS[0]}
printf '*3\r\n$3\r\nSET\r\n$%d\r\n{%s}bin\0ary\r\n$1\r\nv\r\n' $((${#bin_tag} + 9)) "$bin_tag" |
    adm -h 127.0.1.1 -p "$BASE" --pipe >/dev/null
bin_keys() { local m n=0; for m in $(masters); do n=$((n + $(on "$m" keys "{$bin_tag}bin?ary" | grep -ac .))); done; echo "$n"; }
checks=$((checks + 1)); check "a key with a NUL byte written" test "$(bin_keys)" -eq 1
for t in "${TAGS[@]}"; do writer "$t" "$T_DIR/w-$t.log" & T_PIDS+=($!); done
stop_writers() { touch "$T_DIR/stop"; wait "${T_PIDS[@]: -3}" 2>/dev/null; }

say "a shard count the planner refuses (4 over 3 regions): refused, nothing changes"
set_shards 4
M deploy >"$T_DIR/refused.out" 2>&1
rc=$?
checks=$((checks + 1)); check "deploy with 4 shards exits 2 naming the fix (exit $rc)" \
    test "$rc" -eq 2 -a -n "$(grep 'use 3 or 5 shards' "$T_DIR/refused.out")"
checks=$((checks + 1)); check "... and 3 masters still own the slots" test "$(masters | wc -l)" -eq 3

say "grow to 5 shards; deploy killed with -9 in the middle of the slot moves"
set_shards 5
M plan --json >"$T_DIR/plan5.json"
"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/grow1.out" 2>&1 &
dpid=$!
moving() { grep -q 'reshard .* of [0-9]* slots' "$T_DIR/grow1.out"; }
wait_for 60 moving
kill -9 "$dpid"
wait "$dpid" 2>/dev/null
record_pids
checks=$((checks + 1)); check "the plan diff came first (new nodes, moves, estimate)" \
    test -n "$(grep 'new node' "$T_DIR/grow1.out")" -a -n "$(grep 'move slots *shard 1 -> shard 4' "$T_DIR/grow1.out")" -a -n "$(grep 'estimated' "$T_DIR/grow1.out")"
checks=$((checks + 1)); check "killed mid-move: every loaded key still readable" test "$(missing_keys)" -eq 0
M deploy >"$T_DIR/grow2.out" 2>&1
rc=$?
tail -5 "$T_DIR/grow2.out"
checks=$((checks + 1)); check "the next deploy finishes (exit $rc)" test "$rc" -eq 0
checks=$((checks + 1)); check "5 masters own slots" test "$(masters | wc -l)" -eq 5
covered() { [[ $(on 127.0.1.1:"$BASE" cluster info | tr -d '\r' | awk -F: '$1 == "cluster_slots_assigned" {print $2}') == 16384 ]]; }
checks=$((checks + 1)); check "all 16384 slots covered" covered
quota_ok() {
    view | awk '$3 ~ /master/ && NF >= 9 { n = 0; for (i = 9; i <= NF; i++) { split($i, r, "-"); n += (r[2] == "" ? 1 : r[2] - r[1] + 1) } print n }' |
        sort -n | tr '\n' ' ' | grep -q '^3276 3277 3277 3277 3277 $'
}
checks=$((checks + 1)); check "each shard owns its quota (3276 or 3277 slots)" quota_ok
planned_masters() { jq -r '.shards[] | .master as $m | .nodes[] | select(.role == "master") | "\(.host):\(.port)"' "$T_DIR/plan5.json" | sort; }
live_masters() {
    local m
    for m in $(masters); do jq -r --arg a "${m%:*}" --argjson p "${m#*:}" \
        '.hosts[] | select(.address == $a) | .host + ":" + ($p | tostring)' "$T_DIR/plan5.json"; done | sort
}
checks=$((checks + 1)); check "the masters are where plan said" test "$(planned_masters)" = "$(live_masters)"
per_region() { masters | awk '{split($1, a, "."); r[a[3]]++} END {for (k in r) print r[k]}' | sort -n | tail -1; }
checks=$((checks + 1)); check "no region holds half of the 5 masters (most: $(per_region))" test "$(per_region)" -le 2
kept() { jq -r '.nodes[:9][] | "\(.host):\(.port)"' "$T_STATE/placement.json"; }
checks=$((checks + 1)); check "the placement keeps the 9 running nodes first, 15 in all" \
    test "$(jq '.nodes | length' "$T_STATE/placement.json")" -eq 15 -a "$(kept | sort -u | wc -l)" -eq 9
checks=$((checks + 1)); check "every loaded key readable after the grow" test "$(missing_keys)" -eq 0
checks=$((checks + 1)); check "... and the key with a NUL byte, on its new shard" test "$(bin_keys)" -eq 1
M deploy >"$T_DIR/again.out" 2>&1
checks=$((checks + 1)); check "a second deploy moves nothing" test -z "$(grep 'moved [0-9]* slot' "$T_DIR/again.out")"

say "shrink back to 3 shards"
retired_pids=()
for s in 3 4; do
    for n in $(jq -r --argjson s "$((s + 1))" '.nodes[] | select(.shard == $s) | "\(.host)/\(.port)"' "$T_STATE/placement.json"); do
        h=${n%/*} p=${n#*/} d=redis-${n#*/}
        [[ $p == "$BASE" ]] && d=redis
        retired_pids+=("$(cat "$T_STATE/hosts/$h/$d/redis.pid")")
    done
done
set_shards 3
say "... first with the remaining masters full (maxmemory 1mb): a key they refuse stops the move"
remaining=(127.0.1.1:"$BASE" 127.0.2.1:"$BASE" 127.0.3.1:"$BASE")
for m in "${remaining[@]}"; do on "$m" config set maxmemory 1mb >/dev/null; done
M deploy >"$T_DIR/full.out" 2>&1
rc=$?
grep -m1 'could not move' "$T_DIR/full.out"
checks=$((checks + 1)); check "the deploy stops (exit $rc) naming the key, its slot and both nodes" \
    test "$rc" -eq 2 -a -n "$(grep -E 'key "key:[0-9]+" of slot [0-9]+ could not move from [a-z]+-[ab]1:[0-9]+ to [a-z]+-[ab]1:[0-9]+' "$T_DIR/full.out")"
for m in "${remaining[@]}"; do on "$m" config set maxmemory 64mb >/dev/null; done
checks=$((checks + 1)); check "... the slot left open, every loaded key still readable" test "$(missing_keys)" -eq 0
say "... then resumed, and killed with -9 once the drained shards' nodes are being retired"
"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/shrink1.out" 2>&1 &
dpid=$!
retiring() { grep -q 'drained shards. nodes are retired' "$T_DIR/shrink1.out"; }
wait_for 90 retiring
kill -9 "$dpid"
wait "$dpid" 2>/dev/null
checks=$((checks + 1)); check "killed while retiring: every loaded key readable" test "$(missing_keys)" -eq 0
M deploy >"$T_DIR/shrink.out" 2>&1
rc=$?
tail -5 "$T_DIR/shrink.out"
checks=$((checks + 1)); check "the shrink deploy succeeds (exit $rc)" test "$rc" -eq 0
checks=$((checks + 1)); check "3 masters own slots" test "$(masters | wc -l)" -eq 3
gone() { local p; for p in "${retired_pids[@]}"; do pid_alive "$p" && return 1; done; return 0; }
checks=$((checks + 1)); check "the 6 retired nodes' processes stopped" wait_for 10 gone
known() { on 127.0.1.1:"$BASE" cluster nodes | wc -l; }
checks=$((checks + 1)); check "the remaining nodes know 9 nodes (retired ones forgotten): $(known)" test "$(known)" -eq 9
checks=$((checks + 1)); check "every loaded key readable after the shrink" test "$(missing_keys)" -eq 0

stop_writers
for t in "${TAGS[@]}"; do
    acked=$(awk '$3 == "ok"' "$T_DIR/w-$t.log" | wc -l)
    lost=$(lost_writes "$t" "$T_DIR/w-$t.log" 127.0.2.1:"$BASE")
    checks=$((checks + 1)); check "tag $t: $acked acknowledged writes, $lost lost" test "$acked" -gt 0 -a "$lost" -eq 0
done
finish "$checks"
