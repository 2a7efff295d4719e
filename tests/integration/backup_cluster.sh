#!/usr/bin/env bash
# integration.backup_cluster: a cluster-mode deployment backed up and
# restored through s3rver (tests/s3, 127.0.0.1:BASE+2634): one RDB per
# shard, each from a replica of that shard; after destroy and an empty
# deploy, restore gives every shard the backup shard that owned its slots,
# each master its keys, the replicas synced and released from
# cluster-replica-no-failover, and status healthy.  A restore into a
# deployment whose slots moved is refused, naming the shard.
source "$(dirname "$0")/lib.sh"

BASE=${PORT_BASE:-21850}
S3PORT=$((BASE + 2634))
T_TOPO="$T_DIR/bkc.json"
checks=0
write_cluster_topology "$T_DIR/plain.json" itbkc "$BASE"
printf '[default]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n' >"$T_DIR/creds"
chmod 600 "$T_DIR/creds"
jq --arg ep "http://127.0.0.1:$S3PORT" --arg cred "$T_DIR/creds" \
    '.backup = {endpoint: $ep, bucket: "meridian", prefix: "it/", credentials_file: $cred}' \
    "$T_DIR/plain.json" >"$T_TOPO"
s3rver_start "$S3PORT" "$T_DIR/s3" meridian || bail "s3rver did not start"
m() { "$MERIDIAN" "$1" "$T_TOPO" --state "$T_STATE" "${@:2}"; }
ADMIN() { cat "$T_STATE/secrets/admin.pass"; }
on() { # on ADDR:PORT ARGS...: redis-cli as admin on one node
    local node=$1
    shift
    rcli_as admin "$(ADMIN)" -h "${node%:*}" -p "${node#*:}" "$@"
}
status_json() { m status --json >"$T_DIR/st.json"; }
masters() { jq -r '.shards[].master | "\(.address):\(.port)"' "$T_DIR/st.json"; }
# every key and value the cluster holds, one "key value" line each, sorted
dump_all() {
    local n
    for n in $(masters); do
        on "$n" --scan >"$T_DIR/keys"
        awk '{print "GET " $1}' "$T_DIR/keys" | on "$n" >"$T_DIR/values"
        paste -d' ' "$T_DIR/keys" "$T_DIR/values"
    done | sort
}

m deploy --timeout 60 >"$T_DIR/deploy.out" 2>&1 || { cat "$T_DIR/deploy.out"; bail "deploy"; }
record_pids
seq 1 3000 | awk '{print "SET key:"$1" value-"$1}' >"$T_DIR/cmds"
m redis-cli <"$T_DIR/cmds" >/dev/null
status_json
total=0
for n in $(masters); do total=$((total + $(on "$n" DBSIZE))); done
ok "3000 keys written over 3 shards ($total)" test "$total" = 3000
dump_all >"$T_DIR/before.txt"

m backup --json >"$T_DIR/backup.json" 2>"$T_DIR/backup.err"
rc=$?
ID=$(jq -r .id "$T_DIR/backup.json")
ok "backup exits 0 with an id ($rc, $ID)" test "$rc" = 0 -a -n "$ID"
ok "one RDB per shard, 3000 keys in all" \
    test "$(jq -r '[(.shards | length), .keys] | join(" ")' "$T_DIR/backup.json")" = "3 3000"
# the nodes the backup fetched from, and the masters, as HOST:PORT
jq -r '.shards[] | "\(.source):\(.port)"' "$T_DIR/backup.json" | sort >"$T_DIR/sources"
jq -r '.shards[].master | "\(.host):\(.port)"' "$T_DIR/st.json" | sort >"$T_DIR/masters"
ok "each shard's snapshot came from a replica, never a master ($(paste -sd' ' "$T_DIR/sources"))" \
    test "$(wc -l <"$T_DIR/sources") $(comm -12 "$T_DIR/sources" "$T_DIR/masters" | wc -l)" = "3 0"
ok "the manifest keeps every shard's slot ranges" \
    test "$(curl -s "http://127.0.0.1:$S3PORT/meridian/it/itbkc/$ID/manifest.json" |
        jq '[.shards[].slots[] | .[1] - .[0] + 1] | add')" = 16384

m redis-cli -- FLUSHALL >/dev/null
m destroy --yes >/dev/null
m deploy --timeout 60 >"$T_DIR/deploy2.out" 2>&1 || { cat "$T_DIR/deploy2.out"; bail "deploy (empty)"; }
record_pids
m restore --from "$ID" >"$T_DIR/dry.out" 2>&1
ok "restore without --yes only checks (exit $?), naming each shard's master" \
    test "$?" = 1 -a "$(grep -c '^  shard [123]:' "$T_DIR/dry.out")" = 3
m restore --from "$ID" --yes --json >"$T_DIR/restore.json" 2>"$T_DIR/restore.err"
rc=$?
cat "$T_DIR/restore.err"
ok "restore exits 0 ($rc)" test "$rc" = 0
ok "every master loaded its shard's keys: 3000 in all" \
    test "$(jq -r '[.keys, .keys_loaded] | join(" ")' "$T_DIR/restore.json")" = "3000 3000"
status_json
ok "every node healthy after the restore" \
    test "$(jq '[.nodes[] | select(.healthy | not)] | length' "$T_DIR/st.json")" = 0
dump_all >"$T_DIR/after.txt"
ok "every key and value is back ($(wc -l <"$T_DIR/after.txt") of $(wc -l <"$T_DIR/before.txt"))" \
    bash -c "test \$(wc -l <'$T_DIR/before.txt') = 3000 && cmp -s '$T_DIR/before.txt' '$T_DIR/after.txt'"
ok "the replicas hold their shard's keys and may fail over again" bash -c '
    for r in $(jq -r ".nodes[] | select(.role == \"replica\") | \"\(.address):\(.port) \(.shard)\"" "'"$T_DIR"'/st.json" | tr " " ","); do
        node=${r%,*}; shard=${r#*,}
        master=$(jq -r --argjson s "$shard" ".shards[\$s - 1].master | \"\(.address):\(.port)\"" "'"$T_DIR"'/st.json")
        [[ $(REDISCLI_AUTH=$(cat "'"$T_STATE"'/secrets/admin.pass") redis-cli --no-auth-warning --user admin -h ${node%:*} -p ${node#*:} DBSIZE) == $(REDISCLI_AUTH=$(cat "'"$T_STATE"'/secrets/admin.pass") redis-cli --no-auth-warning --user admin -h ${master%:*} -p ${master#*:} DBSIZE) ]] || exit 1
        [[ $(REDISCLI_AUTH=$(cat "'"$T_STATE"'/secrets/admin.pass") redis-cli --no-auth-warning --user admin -h ${node%:*} -p ${node#*:} CONFIG GET cluster-replica-no-failover | tail -1) == no ]] || exit 1
    done'

# a slot moved by hand: the shards no longer own what the backup's did
m redis-cli -- FLUSHALL >/dev/null
first=$(masters | head -1)
second=$(masters | sed -n 2p)
id2=$(on "$second" CLUSTER MYID)
slot=$(jq -r '.shards[0].slot_ranges[0][0]' "$T_DIR/st.json")
for n in $(masters); do on "$n" CLUSTER SETSLOT "$slot" NODE "$id2" >/dev/null; done
sleep 1
m restore --from "$ID" --yes >"$T_DIR/moved.out" 2>&1
rc=$?
ok "a deployment whose slots moved is refused, naming the shard (exit $rc)" \
    bash -c "test $rc = 2 && grep -q 'shard 1 of itbkc owns .* no shard of backup $ID owned exactly those' '$T_DIR/moved.out'"

finish "$checks"
