#!/usr/bin/env bash
# integration.backup: issue 17 as a new user would check it.  s3rver on
# 127.0.0.1:24481 (S3_PORT), a sentinel deployment on BASE (18250..,
# agents 19250, sentinels 28250) with a backup section; keys in db0 (strings,
# hashes, lists, some with a TTL) and db3; `meridian backup --json`, status
# shows its age; FLUSHALL through `meridian redis-cli` (the mistake),
# `destroy`, `deploy` (empty), `restore --from` the backup: every key is
# back on every node, compared by a digest of each key's DUMP.
#
# Then what goes wrong, each its own check: a restore over keys (refused
# without --force), an unknown or malformed id, a wrong access key, a
# missing bucket, an unreachable endpoint (S3_PORT+5, where nothing
# listens), a credentials file readable by others, credentials from the
# AWS_* environment, a damaged object (checksum mismatch, the deployment
# untouched), a backup killed (kill -9) after its RDB was uploaded and
# before its manifest (a proxy on S3_PORT+4 holds the manifest's PUT: the
# kill lands in that window every time), retention (keep_last 2,
# keep_days 0), and status past backup.warn_after_h.
source "$(dirname "$0")/lib.sh"
checks=0
BASE=${PORT_BASE:-18250}
SPORT=$((BASE + 10000))
APORT=$((BASE + 1000))
S3PORT=${S3_PORT:-24481}
PROXY=$((S3PORT + 4))
NOBODY=$((S3PORT + 5))
EP=http://127.0.0.1:$S3PORT
NAME=itbackup
S3DIR=$T_DIR/s3data
T_TOPO=$T_DIR/backup.json
CREDS=$T_DIR/s3.creds
PFX="s3://meridian/prod/$NAME"
NODES=(127.0.1.1 127.0.1.2 127.0.2.1 127.0.2.2 127.0.3.1 127.0.3.2)
declare -A HOST=([127.0.1.1]=use-a1 [127.0.1.2]=use-b1 [127.0.2.1]=euw-a1
                 [127.0.2.2]=euw-b1 [127.0.3.1]=aps-a1 [127.0.3.2]=aps-b1)
umask 077

need_tools curl jq python3 redis-cli

printf '[default]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n' >"$CREDS"
chmod 600 "$CREDS"
write_topology "$T_DIR/plain.json" "$NAME" "$BASE"
# topo FILE JQ [JQ ARGS...]: a variant of the topology, its backup section
# changed by JQ
topo() {
    jq --arg ep "$EP" --arg creds "$CREDS" "${@:3}" '.backup = {endpoint: $ep, bucket: "meridian",
        prefix: "prod/", credentials_file: $creds, keep_last: 7, keep_days: 30} | '"$2" \
        "$T_DIR/plain.json" >"$1"
}
topo "$T_TOPO" .

s3rver_start "$S3PORT" "$S3DIR" meridian || bail "s3rver did not start"
deploy_sentinel_test "$NAME"

# m COMMAND TOPOLOGY ARGS...: meridian with the test's state dir
m() { "$MERIDIAN" "$1" "$2" --state "$T_STATE" "${@:3}"; }
# run NAME CMD...: CMD's stdout, stderr and exit code in $T_DIR/NAME.{out,err}, $rc
run() {
    local name=$1
    shift
    "$@" >"$T_DIR/$name.out" 2>"$T_DIR/$name.err"
    rc=$?
}
err_of() { tr '\n' ' ' <"$T_DIR/$1.err"; }
# ids [TOPO]: the backups --list shows, "ID:complete|incomplete", newest first
ids() {
    m backup "${1:-$T_TOPO}" --list --json | jq -r '.backups[] | "\(.id):\(if .complete then "complete" else "incomplete" end)"' | tr '\n' ' '
}

# digest ADDR: "dbN=COUNT ... ttl=K sha256" over every key of every db of
# the node at ADDR:BASE: each key's name, DUMP and whether it has a TTL.
digest() {
    ADMIN_PASS=$ADMIN python3 - "$1" "$BASE" <<'PY'
import hashlib, os, socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
f = s.makefile("rb")
def cmd(*a):
    a = [x if isinstance(x, bytes) else str(x).encode() for x in a]
    s.sendall(b"".join([b"*%d\r\n" % len(a)] + [b"$%d\r\n%s\r\n" % (len(x), x) for x in a]))
    return reply()
def reply():
    line = f.readline()[:-2]
    t, rest = line[:1], line[1:]
    if t == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2]
    if t == b"*":
        return [reply() for _ in range(int(rest))]
    if t == b":":
        return int(rest)
    if t == b"-":
        raise SystemExit("error: " + rest.decode())
    return rest
cmd("AUTH", "admin", os.environ["ADMIN_PASS"])
h = hashlib.sha256()
counts, ttls = [], 0
for db in range(16):
    cmd("SELECT", db)
    keys, cur = set(), b"0"
    while True:
        cur, batch = cmd("SCAN", cur, "COUNT", 1000)
        keys.update(batch)
        if cur == b"0":
            break
    for k in sorted(keys):
        ttl = cmd("PTTL", k) > 0
        ttls += ttl
        h.update(b"%d\0%s\0%s\0%d\n" % (db, k, cmd("DUMP", k), ttl))
    if keys:
        counts.append("db%d=%d" % (db, len(keys)))
print(" ".join(counts + ["ttl=%d" % ttls, h.hexdigest()]))
PY
}
# same_everywhere WANT: every node's digest is WANT
same_everywhere() {
    local a
    for a in "${NODES[@]}"; do
        [[ $(digest "$a") == "$1" ]] || { say "$a: $(digest "$a")"; return 1; }
    done
}
all_healthy() {
    m status "$T_TOPO" --json >"$T_DIR/st.json" 2>/dev/null
    jq -e '[.nodes[] | select(.healthy != true)] | length == 0' "$T_DIR/st.json" >/dev/null
}

# ==== the issue's check, as a new user would ====
run st0 m status "$T_TOPO"
ok "status before any backup: WARNING, no backup recorded (exit $rc)" \
    test "$rc" = 1 -a -n "$(grep "no backup of $NAME is recorded" "$T_DIR/st0.out")"

say "keys: 6000 strings, 300 hashes, 200 lists in db0 (50 with a TTL), 40 in db3"
{
    for i in $(seq 1 6000); do echo "SET user:$i value-$i-$((i * 7919 % 1000003))"; done
    for i in $(seq 1 300); do echo "HSET h:$i name n$i score $i"; done
    for i in $(seq 1 200); do echo "RPUSH l:$i a$i b$i c$i"; done
    for i in $(seq 1 50); do echo "SET ttl:$i t$i EX 3600"; done
    echo "SELECT 3"
    for i in $(seq 1 40); do echo "SET other:$i o$i"; done
} | m redis-cli "$T_TOPO" >/dev/null
L=$(leader)
adm -h "$L" -p "$BASE" wait 5 5000 >/dev/null
BEFORE=$(digest "$L")
say "before: $BEFORE"
ok "the keys are loaded (6550 in db0, 40 in db3, 50 with a TTL)" \
    test "${BEFORE% *}" = "db0=6550 db3=40 ttl=50"

run b1 m backup "$T_TOPO" --json
ID=$(jq -r .id "$T_DIR/b1.out" 2>/dev/null)
SRCHOST=$(jq -r '.shards[0].source' "$T_DIR/b1.out" 2>/dev/null)
ok "backup --json: exit 0, id $ID, 6590 keys, one shard, from a replica ($SRCHOST, the leader is ${HOST[$L]}) (exit $rc: $(err_of b1))" \
    test "$rc" = 0 -a "$(jq -r '[.keys, (.shards | length), (.bytes > 0)] | join(" ")' "$T_DIR/b1.out")" = "6590 1 true" \
    -a -n "$SRCHOST" -a "$SRCHOST" != "${HOST[$L]}"
ok "the backup's objects are in the bucket: shard-0.rdb and manifest.json" \
    test -n "$(find "$S3DIR/meridian/prod/$NAME/$ID" -path '*shard-0.rdb*' 2>/dev/null)" \
    -a -n "$(find "$S3DIR/meridian/prod/$NAME/$ID" -path '*manifest.json*' 2>/dev/null)"
run st1 m status "$T_TOPO"
ok "status: OK, backup: last good $ID, 0.0 hours ago (6590 keys) (exit $rc)" \
    test "$rc" = 0 -a -n "$(grep -F "backup: last good $ID, 0.0 hours ago (6590 keys)" "$T_DIR/st1.out")"
run st1j m status "$T_TOPO" --json
ok "status --json: backup has the id, age_s (0..60) and keys" \
    jq -e --arg id "$ID" '.backup.id == $id and .backup.age_s >= 0 and .backup.age_s < 60 and .backup.keys == 6590' "$T_DIR/st1j.out" >/dev/null

say "the mistake: FLUSHALL through meridian redis-cli, then destroy and deploy"
m redis-cli "$T_TOPO" -- FLUSHALL >/dev/null
ok "FLUSHALL emptied every node" wait_for 5 same_everywhere "ttl=0 $(printf '' | sha256sum | cut -d' ' -f1)"
run destroy m destroy "$T_TOPO" --yes
ok "destroy --yes (exit $rc)" test "$rc" = 0
deploy_sentinel_test "$NAME"
L=$(leader)
EMPTY="ttl=0 $(printf '' | sha256sum | cut -d' ' -f1)"
ok "the new deployment is empty" same_everywhere "$EMPTY"

run r0 m restore "$T_TOPO" --from "$ID"
ok "restore without --yes: exit 1, says what it would load ($(cat "$T_DIR/r0.out"))" \
    test "$rc" = 1 -a -n "$(grep -F "backup $ID (6590 keys) would be loaded" "$T_DIR/r0.out")"
ok "... and nothing changed" same_everywhere "$EMPTY"

t0=$(now_ms)
run r1 m restore "$T_TOPO" --from "$ID" --yes
say "restore took $(($(now_ms) - t0)) ms: $(cat "$T_DIR/r1.out")"
ok "restore --yes: exit 0, 6590 keys loaded ($(err_of r1))" \
    test "$rc" = 0 -a -n "$(grep -F "restored $ID: 6590 keys" "$T_DIR/r1.out")"
ok "the leader's keys are the backup's, value for value: $(digest "$L")" test "$(digest "$L")" = "$BEFORE"
ok "every node is healthy" all_healthy
ok "every replica holds the same keys" wait_for 10 same_everywhere "$BEFORE"
run st2 m status "$T_TOPO" --json
ok "status after the restore: its one warning is that this new state dir records no backup (exit $rc: $(jq -r .summary "$T_DIR/st2.out"))" \
    test "$rc" = 1 -a "$(jq -r '[.health, (.backup == null)] | join(" ")' "$T_DIR/st2.out")" = "warning true" \
    -a "$(jq -r .summary "$T_DIR/st2.out")" = "no backup of $NAME is recorded in this state dir: run \`meridian backup\`"

# ==== restore over keys ====
m redis-cli "$T_TOPO" -- SET marker after-the-backup >/dev/null
adm -h "$L" -p "$BASE" wait 5 5000 >/dev/null
WITH_MARKER=$(digest "$L")
run r2 m restore "$T_TOPO" --from "$ID" --yes
ok "restore over keys is refused: exit 2, names --force ($(err_of r2))" \
    test "$rc" = 2 -a -n "$(grep -F -- "--force" "$T_DIR/r2.err")"
ok "... the data is untouched (marker still there)" same_everywhere "$WITH_MARKER"

# ==== a damaged object: restore fails, the deployment untouched ====
run b2 m backup "$T_TOPO" --json
ID2=$(jq -r .id "$T_DIR/b2.out" 2>/dev/null)
ok "a second backup (with the marker): $ID2 (exit $rc)" test "$rc" = 0 -a "$(jq -r .keys "$T_DIR/b2.out")" = 6591
obj=$(find "$S3DIR/meridian/prod/$NAME/$ID2" -type f -path '*shard-0.rdb*' -size +10k | head -1)
if [[ -n $obj ]]; then
    # the same size and metadata, 16 bytes in the middle changed
    size=$(stat -c %s "$obj")
    printf 'damaged-bytes!!!' | dd of="$obj" bs=1 seek=$((size / 2)) conv=notrunc status=none
fi
ok "the shard object of $ID2 in s3rver's folder is overwritten in place (${obj#"$S3DIR"/})" test -n "$obj"
run r3 m restore "$T_TOPO" --from "$ID2" --yes --force
ok "restore of the damaged backup: exit 2, checksum mismatch naming the object ($(err_of r3))" \
    test "$rc" = 2 -a -n "$(grep -F "checksum mismatch: $PFX/$ID2/shard-0.rdb" "$T_DIR/r3.err")"
ok "... the deployment is untouched" same_everywhere "$WITH_MARKER"

run r4 m restore "$T_TOPO" --from "$ID" --yes --force
ok "restore --force over keys proceeds: exit 0 ($(err_of r4 | grep -o 'WARNING[^;]*'))" \
    test "$rc" = 0 -a -n "$(grep -F WARNING "$T_DIR/r4.err")"
ok "... the data is the backup's again (the marker is gone) on every node" \
    wait_for 10 same_everywhere "$BEFORE"

# ==== bad ids ====
run r5 m restore "$T_TOPO" --from 20200101T000000Z --yes
ok "restore --from an unknown id: exit 2, names the manifest object ($(err_of r5))" \
    test "$rc" = 2 -a -n "$(grep -F "$PFX/20200101T000000Z/manifest.json" "$T_DIR/r5.err")"
run r6 m restore "$T_TOPO" --from 'yesterday' --yes
ok "restore --from a malformed id: exit 2 ($(err_of r6))" \
    test "$rc" = 2 -a -n "$(grep -F "is not a backup id" "$T_DIR/r6.err")"

# ==== what goes wrong on the storage side: exit 2, a sentence, nothing deleted ====
LIST0=$(ids)
say "backups now: $LIST0"
ok "--list shows both backups, complete" test "$LIST0" = "$ID2:complete $ID:complete "

printf '[default]\naws_access_key_id = NOBODY\naws_secret_access_key = S3RVER\n' >"$T_DIR/bad.creds"
chmod 600 "$T_DIR/bad.creds"
topo "$T_DIR/badkey.json" '.backup.credentials_file = $c' --arg c "$T_DIR/bad.creds"
run e1 m backup "$T_DIR/badkey.json"
ok "a wrong access key: exit 2, names the object and access denied ($(err_of e1))" \
    test "$rc" = 2 -a -n "$(grep -F "$PFX/" "$T_DIR/e1.err" | grep -F "access denied")"
ok "... no new backup, the older ones intact" test "$(ids)" = "$LIST0"

topo "$T_DIR/nobucket.json" '.backup.bucket = "nobucket"'
run e2 m backup "$T_DIR/nobucket.json"
ok "a missing bucket: exit 2, the bucket does not exist ($(err_of e2))" \
    test "$rc" = 2 -a -n "$(grep -F "s3://nobucket/prod/$NAME/" "$T_DIR/e2.err" | grep -F "the bucket does not exist")"
ok "... nothing deleted" test "$(ids)" = "$LIST0"

topo "$T_DIR/nobody.json" '.backup.endpoint = $e' --arg e "http://127.0.0.1:$NOBODY"
run e3 m backup "$T_DIR/nobody.json"
ok "an unreachable endpoint: exit 2, cannot connect ($(err_of e3))" \
    test "$rc" = 2 -a -n "$(grep -F "http://127.0.0.1:$NOBODY" "$T_DIR/e3.err" | grep -F "cannot connect")"
ok "... nothing deleted" test "$(ids)" = "$LIST0"

chmod 644 "$CREDS"
run e4 m backup "$T_TOPO"
chmod 600 "$CREDS"
ok "a credentials file with mode 0644 is refused: exit 2, says chmod 600 ($(err_of e4))" \
    test "$rc" = 2 -a -n "$(grep -F "chmod 600 $CREDS" "$T_DIR/e4.err")"
ok "... nothing deleted" test "$(ids)" = "$LIST0"

# ==== credentials from the environment ====
topo "$T_DIR/env.json" 'del(.backup.credentials_file)'
run e5 env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY "$MERIDIAN" backup "$T_DIR/env.json" --state "$T_STATE"
ok "no credentials_file and no AWS_* environment: exit 2, names the variables ($(err_of e5))" \
    test "$rc" = 2 -a -n "$(grep -F AWS_ACCESS_KEY_ID "$T_DIR/e5.err")"
run e6 env AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER "$MERIDIAN" backup "$T_DIR/env.json" --state "$T_STATE" --json
ID3=$(jq -r .id "$T_DIR/e6.out" 2>/dev/null)
ok "credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY: backup $ID3, exit $rc" \
    test "$rc" = 0 -a "$(jq -r .keys "$T_DIR/e6.out")" = 6590
LIST1=$(ids)

# ==== a backup killed (kill -9) after its RDB was uploaded, before its manifest ====
# The proxy forwards everything to s3rver but holds a PUT of a manifest.json
# (never forwarded) and touches $T_DIR/held: the backup then waits in that
# window until it is killed.
python3 - "$PROXY" "$S3PORT" "$T_DIR/held" >"$T_DIR/proxy.log" 2>&1 <<'PY' &
import re, socket, sys, threading
listen, upstream, held = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
MANIFEST = re.compile(rb"PUT /[^ ]*/manifest\.json HTTP/1\.1\r\n")
def pipe(src, dst, inspect):
    tail = b""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if inspect:
                tail = (tail + data)[-4096:]
                if MANIFEST.search(tail):
                    open(held, "w").close()
                    while src.recv(65536):
                        pass
                    break
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", listen))
srv.listen(16)
print("listening", flush=True)
while True:
    c, _ = srv.accept()
    u = socket.create_connection(("127.0.0.1", upstream))
    threading.Thread(target=pipe, args=(c, u, True), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c, False), daemon=True).start()
PY
T_PIDS+=("$!")
disown "$!"
wait_for 5 grep -q listening "$T_DIR/proxy.log" || fail "the proxy did not start: $(cat "$T_DIR/proxy.log")"
topo "$T_DIR/proxy.json" '.backup.endpoint = $e' --arg e "http://127.0.0.1:$PROXY"
"$MERIDIAN" backup "$T_DIR/proxy.json" --state "$T_STATE" --json >"$T_DIR/killed.out" 2>"$T_DIR/killed.err" &
BPID=$!
T_PIDS+=("$BPID")
wait_for 30 test -e "$T_DIR/held"
held=$?
kill -9 "$BPID"
wait "$BPID" 2>/dev/null
KILLED=$(grep -o "^backup $NAME: [0-9TZ]*" "$T_DIR/killed.err" | awk '{print $3}')
ok "the backup ($KILLED) was killed while its manifest was on its way" test "$held" = 0 -a -n "$KILLED"
ok "--list shows it incomplete, beside the others" test "$(ids)" = "$KILLED:incomplete $LIST1"
run lk m backup "$T_TOPO" --list
ok "... as \"incomplete (interrupted)\" in the table" \
    test -n "$(grep "^$KILLED " "$T_DIR/lk.out" | grep -F "incomplete (interrupted)")"
run r7 m restore "$T_TOPO" --from "$KILLED" --yes --force
ok "restore --from it: exit 2, no manifest ($(err_of r7))" \
    test "$rc" = 2 -a -n "$(grep -F "$PFX/$KILLED/manifest.json has no manifest" "$T_DIR/r7.err")"
ok "... the deployment is untouched" same_everywhere "$BEFORE"
sleep 1
run b4 m backup "$T_TOPO" --json
ID4=$(jq -r .id "$T_DIR/b4.out" 2>/dev/null)
ok "the next backup ($ID4) deletes it: \"deleted\" is [$KILLED] ($(jq -c .deleted "$T_DIR/b4.out"))" \
    test "$rc" = 0 -a "$(jq -c .deleted "$T_DIR/b4.out")" = "[\"$KILLED\"]"
ok "... and --list no longer shows it" test "$(ids)" = "$ID4:complete $LIST1"

# ==== status past backup.warn_after_h ====
topo "$T_DIR/warn.json" '.backup.warn_after_h = 1'
run w1 m status "$T_DIR/warn.json"
ok "warn_after_h 1, the last backup seconds old: status OK (exit $rc)" test "$rc" = 0
LAST=$T_STATE/backup/last.json
jq '.created_unix -= 7200' "$LAST" >"$LAST.new" && mv "$LAST.new" "$LAST"
run w2 m status "$T_DIR/warn.json"
ok "last.json 2 hours old: status WARNING naming $ID4 (exit $rc: $(grep -F "$ID4" "$T_DIR/w2.out" | head -2 | tr '\n' ' '))" \
    test "$rc" = 1 -a -n "$(grep -F "the last good backup ($ID4) is 2.0 hours old" "$T_DIR/w2.out")"
run w3 m status "$T_DIR/warn.json" --json
ok "... status --json: backup.id $ID4, age_s about 7200" \
    jq -e --arg id "$ID4" '.backup.id == $id and .backup.age_s >= 7200 and .backup.age_s < 7300' "$T_DIR/w3.out" >/dev/null

# ==== retention: keep_last 2, keep_days 0 ====
topo "$T_DIR/keep2.json" '.backup.keep_last = 2 | .backup.keep_days = 0'
made=()
for i in 1 2 3 4; do
    sleep 1
    run k$i m backup "$T_DIR/keep2.json" --json
    [[ $rc == 0 ]] && made+=("$(jq -r .id "$T_DIR/k$i.out")") || say "backup $i: $(err_of "k$i")"
done
ok "4 backups with keep_last 2, keep_days 0: only the 2 newest remain ($(ids))" \
    test "${#made[@]}" = 4 -a "$(ids)" = "${made[3]}:complete ${made[2]}:complete "

finish "$checks"
