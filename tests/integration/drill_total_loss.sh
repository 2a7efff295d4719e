#!/usr/bin/env bash
# `meridian drill TOPOLOGY total-loss` on real processes: a backup to
# s3rver under the writer's load, every redis-server of every region
# SIGKILLed, the backup restored.  The report's RPO is recounted here from
# the keys the restored leader holds, and every key of the backup (read
# from s3rver's copy with a redis-server of the test's own) is looked for.
# Ports: nodes 24900.., agents 25900, sentinels 34900, s3rver 24482, the
# test's own redis-server 24950 (127.0.0.1).
source "$(dirname "$0")/lib.sh"

BASE=${PORT_BASE:-24900}
SPORT=$((BASE + 10000))
S3PORT=24482
T_TOPO="$T_DIR/tl.json"
checks=0
need_tools jq redis-cli redis-server curl

s3rver_start "$S3PORT" "$T_DIR/s3" || bail "s3rver"
# the keys in a 0600 AWS credentials file (s3rver takes any secret)
(umask 077 && printf '[default]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n' \
    >"$T_DIR/s3.cred")
write_topology "$T_DIR/plain.json" ittl "$BASE"
jq --arg ep "http://127.0.0.1:$S3PORT" --arg cred "$T_DIR/s3.cred" \
    '.backup = {endpoint: $ep, bucket: "meridian", credentials_file: $cred}' \
    "$T_DIR/plain.json" >"$T_TOPO"
deploy_sentinel_test ittl

say "refusals before anything runs"
"$MERIDIAN" drill "$T_DIR/plain.json" total-loss --state "$T_STATE" >/dev/null 2>"$T_DIR/nob.err"
rc=$?
ok "no backup section: refused in preflight (exit 1) with a sentence" \
    test "$rc" -eq 1 -a "$(grep -c 'has no backup section' "$T_DIR/nob.err")" -eq 1
# (never deployed: its ports only have to pass the topology's checks)
write_cluster_topology "$T_DIR/cl.json" ittlc 21960
"$MERIDIAN" drill "$T_DIR/cl.json" total-loss --state "$T_DIR/clstate" >/dev/null \
    2>"$T_DIR/cl.err"
rc=$?
ok "cluster mode: refused as the wrong mode (exit 64)" \
    test "$rc" -eq 64 -a "$(grep -c 'sentinel-only' "$T_DIR/cl.err")" -eq 1

say "data that is not the writer's, in the backup"
addr=$(leader)
for i in $(seq 1 200); do printf 'SET pre:%d v%d\n' "$i" "$i"; done |
    adm -h "$addr" -p "$BASE" >/dev/null

say "the drill"
start=$(now_ms)
"$MERIDIAN" drill "$T_TOPO" total-loss --state "$T_STATE" --out "$T_DIR/tl" --duration 6 \
    --rate 100 --wait >"$T_DIR/tl.out" 2>"$T_DIR/tl.err"
rc=$?
record_pids
say "the drill took $(( ($(now_ms) - start) / 1000 )) s"
[[ $rc -eq 0 ]] || { tail -40 "$T_DIR/tl.err"; tail -20 "$T_DIR/s3.log"; }
sed 's/^/# /' "$T_DIR/tl/report.txt" 2>/dev/null | sed -n '1,/^# TIMELINE/p'
R="$T_DIR/tl/report.json"
tl() { jq -r ".total_loss.$1" "$R"; }
ok "total-loss passes (exit 0)" test "$rc" -eq 0
ok "report.json, report.txt and timeline.svg are written" \
    test -s "$R" -a -s "$T_DIR/tl/report.txt" -a -s "$T_DIR/tl/timeline.svg"
ok "every node was killed ($(tl nodes_killed) of $(tl nodes_total))" \
    test "$(tl nodes_killed)" = "$(tl nodes_total)" -a "$(tl nodes_total)" = 6
ok "nothing acknowledged before the backup was lost" test "$(tl lost_before_backup)" = 0
ok "nothing acknowledged after the restore was lost ($(tl acked_after_restore) acked)" \
    test "$(tl lost_after_restore)" = 0 -a "$(tl acked_after_restore)" -gt 0
rpo=$(tl rpo_writes)
ok "writes acknowledged after the backup are lost: rpo_writes $rpo > 0" test "$rpo" -gt 0
ok "RTO writable ($(tl rto_writable_ms) ms) and healthy ($(tl rto_healthy_ms) ms) are measured" \
    test "$(tl rto_writable_ms)" -gt 0 -a "$(tl rto_healthy_ms)" -ge "$(tl rto_writable_ms)"

status_json
ok "the deployment is healthy after the drill" test "$(jq -r .health "$T_DIR/st.json")" = ok
addr=$(leader)

# the report's RPO, recounted: every write acknowledged since the backup
# (its ranges of seqs) looked up on the restored leader
prefix=$(tl key_prefix)
jq -r '.total_loss.acked_since_backup_seqs[] | "\(.[0]) \(.[1])"' "$R" |
    while read -r a b; do seq "$a" "$b"; done >"$T_DIR/since.seqs"
missing=$(awk -v p="$prefix" '{printf "EXISTS %s:%s\n", p, $1}' "$T_DIR/since.seqs" |
    adm -h "$addr" -p "$BASE" | grep -c '^0$')
ok "rpo_writes $rpo is the count of writes acknowledged since the backup that are missing ($missing of $(wc -l <"$T_DIR/since.seqs"))" \
    test "$missing" -eq "$rpo"
jq -r '.total_loss.lost_seqs[] | "\(.[0]) \(.[1])"' "$R" |
    while read -r a b; do seq "$a" "$b"; done >"$T_DIR/lost.seqs"
present=$(awk -v p="$prefix" '{printf "EXISTS %s:%s\n", p, $1}' "$T_DIR/lost.seqs" |
    adm -h "$addr" -p "$BASE" | grep -c '^1$')
ok "the $(wc -l <"$T_DIR/lost.seqs") writes the report lists as lost are missing ($present found)" \
    test "$present" -eq 0 -a "$(wc -l <"$T_DIR/lost.seqs")" -eq "$rpo"

# every key of the backup: its RDB as s3rver keeps it, loaded by a
# redis-server of the test's own, each key looked up on the restored leader
rdb=$(find "$T_DIR/s3/meridian" -path "*$(tl backup_id)*" -name 'shard-0.rdb._S3rver_object' |
    head -1)
ok "the backup's RDB is in the bucket" test -s "$rdb"
mkdir -p "$T_DIR/bk"
cp "$rdb" "$T_DIR/bk/dump.rdb"
redis_conf bk "bind 127.0.0.1" "port $((BASE + 50))" "dbfilename dump.rdb"
redis_start bk
wait_for 10 redis-cli -h 127.0.0.1 -p "$((BASE + 50))" ping >/dev/null 2>&1
redis-cli -h 127.0.0.1 -p "$((BASE + 50))" --scan >"$T_DIR/bk.keys"
nbk=$(wc -l <"$T_DIR/bk.keys")
lacking=$(awk '{printf "EXISTS %s\n", $1}' "$T_DIR/bk.keys" | adm -h "$addr" -p "$BASE" |
    grep -c '^0$')
ok "every key of the backup ($nbk, the report says $(tl backup_keys)) is on the restored leader ($lacking missing)" \
    test "$lacking" -eq 0 -a "$nbk" -eq "$(tl backup_keys)" -a "$nbk" -gt 200
ok "the 200 keys written before the drill are there" \
    test "$(grep -c '^pre:' "$T_DIR/bk.keys")" -eq 200
kill -9 "${REDIS_PID[bk]}" 2>/dev/null

finish "$checks"
