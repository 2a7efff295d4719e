#!/usr/bin/env bash
# integration.snapshot: store_snapshot_fetch() against a real replica, and
# the heal path it exists for: a node started from the fetched RDB with
# `replicaof <leader>` in its config resynchronises *partially*.
#
# Starts its own redis-server processes, all on port 17190:
#   127.0.9.1 leader, 127.0.9.2 replica (the snapshot source),
#   127.0.9.3 a new node started from the snapshot once the replica is gone.
# Nothing listens on 127.0.9.4.  Passwords come from /dev/urandom, live in
# 0600 files and reach redis-cli through REDISCLI_AUTH and the driver
# through a file, never a command line.  lib.sh stops exactly the pids
# recorded in T_PIDS on exit.
source "$(dirname "$0")/lib.sh"
checks=0
FETCH=$BUILD/snapshot_fetch
PORT=17190
LEADER=127.0.9.1
REPLICA=127.0.9.2
NODE3=127.0.9.3
NOBODY=127.0.9.4
KEYS=5000
BIG_KEYS=200
DELTA_KEYS=100
umask 077

need_tools redis-server redis-cli redis-check-rdb
[[ -x $FETCH ]] || bail "the snapshot_fetch driver is missing: $FETCH (build the tests first)"

hexpass() { od -An -tx1 -N24 /dev/urandom | tr -d ' \n'; }
ADMIN_PASS=$(hexpass)
REPL_PASS=$(hexpass)
printf '%s\n' "$REPL_PASS" >"$T_DIR/repl.pass"
printf '%s\n' "$(hexpass)" >"$T_DIR/wrong.pass"

# write_conf NAME ADDRESS [LINE...]: NAME's redis.conf (lib.sh's
# redis_conf) with this test's port and users.
write_conf() {
    local name=$1 addr=$2
    shift 2
    redis_conf "$name" "bind $addr" "port $PORT" "user default off" \
        "user admin on >$ADMIN_PASS ~* &* +@all" \
        "user replication on >$REPL_PASS +psync +sync +replconf +ping" \
        "user nosync on >$REPL_PASS +ping" "$@"
}

# stop NAME: stop that pid (and only it), wait for it to go.
stop() {
    kill "${REDIS_PID[$1]}" 2>/dev/null
    wait_for 10 not_alive "${REDIS_PID[$1]}"
}
not_alive() { ! pid_alive "$1"; }

admin() {
    local host=$1
    shift
    rcli_as admin "$ADMIN_PASS" -h "$host" -p "$PORT" "$@"
}

# field HOST SECTION NAME: one INFO field.
field() {
    admin "$1" info "$2" 2>/dev/null | tr -d '\r' | awk -F: -v k="$3" '$1 == k { print $2 }'
}

# wait_for SECONDS COMMAND...: poll COMMAND every 0.1 s until it succeeds.
wait_for() {
    local deadline=$(($(now_ms) + $1 * 1000))
    shift
    until "$@"; do
        (($(now_ms) > deadline)) && return 1
        sleep 0.1
    done
}

answers_ping() { [[ $(admin "$1" ping 2>/dev/null) == PONG ]]; }
link_up() { [[ $(field "$1" replication master_link_status) == up ]]; }
caught_up() {
    local want have
    want=$(field "$LEADER" replication master_repl_offset)
    have=$(field "$1" replication slave_repl_offset)
    [[ -n $want && $want == "$have" ]]
}

# fetch HOST PASSFILE DEST [USER]: run the driver; stdout in $out, stderr in
# $errout, exit status in $rc.
fetch() {
    out=$("$FETCH" "$1" "$PORT" "${4:-replication}" "$2" "$3" 5000 2>"$T_DIR/fetch.err")
    rc=$?
    errout=$(cat "$T_DIR/fetch.err")
}

kv() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$out"; }

# files_in DIR: the names in DIR, one line.
files_in() { (cd "$1" && ls -A | tr '\n' ' '); }

rdb_ok() { redis-check-rdb "$1" 2>&1 | grep -q 'RDB looks OK'; }

# ---- a leader and a replica ----
write_conf leader "$LEADER"
write_conf replica "$REPLICA" "replicaof $LEADER $PORT" "masteruser replication" \
    "masterauth $REPL_PASS" "repl-diskless-sync-delay 2"
redis_start leader
wait_for 10 answers_ping "$LEADER" || bail "the leader did not start (see $T_DIR/leader/redis.log)"
redis_start replica
wait_for 15 link_up "$REPLICA" || bail "the replica did not link to the leader"

# Real writes through the leader, replicated as commands (DEBUG POPULATE
# would not be): small strings, and bigger compressible values so the
# payload spans many reads and holds LZF strings.
awk -v n="$KEYS" -v big="$BIG_KEYS" 'BEGIN {
    for (i = 1; i <= n; i++) {
        k = "key:" i; v = "value:" i ":" sprintf("%08d", i * 7919)
        printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, length(v), v
    }
    for (i = 1; i <= big; i++) {
        k = "big:" i; v = ""
        for (j = 0; j < 64; j++) v = v sprintf("%d-%031d", i, j)
        printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, length(v), v
    }
}' | admin "$LEADER" --pipe >"$T_DIR/pipe.out" 2>&1
ok "the leader took $((KEYS + BIG_KEYS)) writes" grep -q "errors: 0, replies: $((KEYS + BIG_KEYS))" "$T_DIR/pipe.out"
wait_for 15 caught_up "$REPLICA" || bail "the replica did not catch up with the leader"
LEADER_REPLID=$(field "$LEADER" replication master_replid)
LEADER_OFFSET=$(field "$LEADER" replication master_repl_offset)

# ---- 1: diskless payload ($EOF:<mark>), keepalives during the 2 s delay ----
mkdir -p "$T_DIR/snap1"
fetch "$REPLICA" "$T_DIR/repl.pass" "$T_DIR/snap1/dump.rdb"
ok "a diskless fetch from the replica succeeds${errout:+ ($errout)}" test "$rc" -eq 0
ok "the replica sent it through a socket (diskless)" \
    grep -q 'target: replicas sockets' "$T_DIR/replica/redis.log"
ok "the snapshot starts with REDIS" test "$(head -c 5 "$T_DIR/snap1/dump.rdb" 2>/dev/null)" = REDIS
ok "its repl-id is the leader's master_replid" test "$(kv repl_id)" = "$LEADER_REPLID"
# (the leader's PINGs to its replicas move the offset on: a range)
ok "its repl-offset is that of the caught-up replica" \
    test "$(kv repl_offset)" -ge "$LEADER_OFFSET" -a \
    "$(kv repl_offset)" -le "$(field "$LEADER" replication master_repl_offset)"
ok "the reported size is the file's size" \
    test "$(kv bytes)" = "$(stat -c %s "$T_DIR/snap1/dump.rdb" 2>/dev/null)"
ok "the payload spans several reads (> 64 KiB)" test "$(kv bytes)" -gt 65536
ok "the snapshot has mode 0600" test "$(stat -c %a "$T_DIR/snap1/dump.rdb" 2>/dev/null)" = 600
ok "only dump.rdb is left in its folder" test "$(files_in "$T_DIR/snap1")" = "dump.rdb "
ok "redis-check-rdb accepts it" rdb_ok "$T_DIR/snap1/dump.rdb"
ok "the fetch waited through the diskless delay (keepalives)" test "$(kv duration_ms)" -ge 1500

# ---- 2: disk payload ($<len>) ----
admin "$REPLICA" config set repl-diskless-sync no >/dev/null
mkdir -p "$T_DIR/snap2"
fetch "$REPLICA" "$T_DIR/repl.pass" "$T_DIR/snap2/dump.rdb"
ok "a disk-based fetch from the replica succeeds${errout:+ ($errout)}" test "$rc" -eq 0
ok "the replica sent it from disk" grep -q 'target: disk' "$T_DIR/replica/redis.log"
ok "the disk-based snapshot carries the same repl-id" test "$(kv repl_id)" = "$LEADER_REPLID"
ok "redis-check-rdb accepts it" rdb_ok "$T_DIR/snap2/dump.rdb"
ok "the reported size is the file's size" \
    test "$(kv bytes)" = "$(stat -c %s "$T_DIR/snap2/dump.rdb" 2>/dev/null)"

# A second fetch over an existing file replaces it.
fetch "$REPLICA" "$T_DIR/repl.pass" "$T_DIR/snap2/dump.rdb"
ok "a fetch replaces an existing snapshot" test "$rc" -eq 0 -a "$(files_in "$T_DIR/snap2")" = "dump.rdb "

# ---- refusals leave DEST untouched ----
mkdir -p "$T_DIR/snap3"
printf 'old content\n' >"$T_DIR/snap3/dump.rdb"
fetch "$REPLICA" "$T_DIR/wrong.pass" "$T_DIR/snap3/dump.rdb"
ok "a wrong password fails" test "$rc" -ne 0
ok "the error is a sentence naming the source and WRONGPASS" \
    grep -q "cannot fetch a snapshot from $REPLICA:$PORT: .*WRONGPASS" <<<"$errout"
ok "the error shows no password" \
    test "$(grep -cF -e "$REPL_PASS" -e "$(cat "$T_DIR/wrong.pass")" <<<"$errout$out")" -eq 0
ok "DEST keeps its old content" test "$(cat "$T_DIR/snap3/dump.rdb")" = "old content"
ok "no temporary file is left" test "$(files_in "$T_DIR/snap3")" = "dump.rdb "

fetch "$REPLICA" "$T_DIR/repl.pass" "$T_DIR/snap3/dump.rdb" nosync
ok "a user without +sync is refused with NOPERM" \
    test "$rc" -ne 0 -a -n "$(grep 'NOPERM' <<<"$errout")"
ok "DEST still keeps its old content" test "$(cat "$T_DIR/snap3/dump.rdb")" = "old content"

fetch "$NOBODY" "$T_DIR/repl.pass" "$T_DIR/snap3/dump.rdb"
ok "nothing listening: the fetch fails to connect" \
    test "$rc" -ne 0 -a -n "$(grep "cannot fetch a snapshot from $NOBODY:$PORT: cannot connect" <<<"$errout")"
ok "no temporary file is left" test "$(files_in "$T_DIR/snap3")" = "dump.rdb "

# ---- heal: lose the replica, start a new node from the snapshot ----
FULL_BEFORE=$(field "$LEADER" stats sync_full)
PARTIAL_BEFORE=$(field "$LEADER" stats sync_partial_ok)
stop replica
# writes made after the snapshot: the delta the partial resync carries
for ((i = 1; i <= DELTA_KEYS; i++)); do
    printf 'SET delta:%d %d\n' "$i" "$i"
done | admin "$LEADER" >/dev/null
write_conf node3 "$NODE3" "replicaof $LEADER $PORT" "masteruser replication" \
    "masterauth $REPL_PASS"
cp "$T_DIR/snap1/dump.rdb" "$T_DIR/node3/dump.rdb"
redis_start node3
wait_for 10 answers_ping "$NODE3" || bail "the node started from the snapshot did not start"
wait_for 15 link_up "$NODE3"
ok "the new node links to the leader" link_up "$NODE3"
wait_for 15 caught_up "$NODE3"
ok "the new node catches up with the leader" caught_up "$NODE3"
ok "the leader accepted a partial resync (sync_partial_ok +1)" \
    test "$(field "$LEADER" stats sync_partial_ok)" = "$((PARTIAL_BEFORE + 1))"
ok "the leader did no full sync (sync_full unchanged)" \
    test "$(field "$LEADER" stats sync_full)" = "$FULL_BEFORE"
LEADER_SIZE=$(admin "$LEADER" dbsize)
ok "the new node holds as many keys as the leader ($LEADER_SIZE)" \
    test "$(admin "$NODE3" dbsize)" = "$LEADER_SIZE" -a "$LEADER_SIZE" = "$((KEYS + BIG_KEYS + DELTA_KEYS))"
ok "the new node has the writes made after the snapshot" \
    test "$(admin "$NODE3" get "delta:$DELTA_KEYS")" = "$DELTA_KEYS"

finish "$checks"
