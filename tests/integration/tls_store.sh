#!/usr/bin/env bash
# integration.tls_store: store/ over TLS (store_set_tls) against real
# redis-server processes: connections with AUTH, probes, pub/sub and
# snapshot fetches go through OpenSSL and verify the server; a wrong CA, an
# address the certificate does not name and a plaintext server are refused,
# never served in plaintext; a TLS-only server is refused cleanly in
# plaintext mode.  The checks themselves are the cases of the tls_store
# driver (tests/integration/tls_store.c), one named check each.
#
# Starts its own redis-server processes, on ports 23900-23903 only:
#   23900 TLS only, on 127.0.0.1 and 127.0.0.3 (its certificate names
#         127.0.0.1 and localhost, not 127.0.0.3); no client certificates
#   23901 TLS only, a replica of 23900 over TLS (tls-replication yes)
#   23902 plaintext
#   23903 TLS only, client certificates required (tls-auth-clients yes)
# The certificates come from common/certs.c (the driver's "certs").
# Passwords come from /dev/urandom, live in 0600 files (the redis.conf
# files, a password file for the driver, REDISCLI_AUTH for redis-cli),
# never on a command line.  lib.sh stops exactly the pids recorded in
# T_PIDS on exit.
source "$(dirname "$0")/lib.sh"
checks=0
DRIVER=$BUILD/tls_store
PORT_BASE=23900
TLS_PORT=$PORT_BASE
REPLICA_PORT=$((PORT_BASE + 1))
PLAIN_PORT=$((PORT_BASE + 2))
MTLS_PORT=$((PORT_BASE + 3))
KEYS=2000
umask 077

need_tools redis-server redis-cli redis-check-rdb
[[ -x $DRIVER ]] || bail "the tls_store driver is missing: $DRIVER (build the tests first)"

TLS=$T_DIR/tls
mkdir -p "$TLS" "$T_DIR/out"
"$DRIVER" certs "$TLS" || bail "the driver could not make the certificates"

hexpass() { od -An -tx1 -N24 /dev/urandom | tr -d ' \n'; }
ADMIN_PASS=$(hexpass)
REPL_PASS=$(hexpass)
printf '%s\n' "$ADMIN_PASS" >"$T_DIR/admin.pass"

# write_conf NAME [LINE...]: NAME's redis.conf (lib.sh's redis_conf) with
# the users and the certificates every server here shares.
write_conf() {
    local name=$1
    shift
    redis_conf "$name" "tls-cert-file $TLS/server.crt" "tls-key-file $TLS/server.key" \
        "tls-ca-cert-file $TLS/ca/ca.crt" "user default off" \
        "user admin on >$ADMIN_PASS ~* &* +@all" \
        "user replication on >$REPL_PASS +psync +sync +replconf +ping" "$@"
}

# cli PORT ARGS...: redis-cli as admin on 127.0.0.1:PORT, over TLS unless
# PORT is the plaintext one.
cli() {
    local port=$1
    shift
    local tls=(--tls --cacert "$TLS/ca/ca.crt")
    [[ $port == "$PLAIN_PORT" ]] && tls=()
    [[ $port == "$MTLS_PORT" ]] && tls+=(--cert "$TLS/client.crt" --key "$TLS/client.key")
    rcli_as admin "$ADMIN_PASS" "${tls[@]}" -h 127.0.0.1 -p "$port" "$@"
}

field() { cli "$1" info "$2" 2>/dev/null | tr -d '\r' | awk -F: -v k="$3" '$1 == k { print $2 }'; }
answers_ping() { [[ $(cli "$1" ping 2>/dev/null) == PONG ]]; }
link_up() { [[ $(field "$REPLICA_PORT" replication master_link_status) == up ]]; }

# the_case NAME: run the driver's case NAME, its lines in the log
the_case() {
    TLS_DIR=$TLS TLS_PORT=$TLS_PORT REPLICA_PORT=$REPLICA_PORT PLAIN_PORT=$PLAIN_PORT \
        MTLS_PORT=$MTLS_PORT PASS_FILE=$T_DIR/admin.pass OUT_DIR=$T_DIR/out \
        "$DRIVER" "$1" >"$T_DIR/$1.out" 2>&1
    local rc=$?
    sed 's/^/#   /' "$T_DIR/$1.out"
    return "$rc"
}

rdb_ok() { redis-check-rdb "$1" 2>&1 | grep -q 'RDB looks OK'; }
kv() { sed -n "s/^$1 .*\\b$2=\\([^ ]*\\).*/\\1/p" "$T_DIR/snapshot.out"; }

# ---- the servers ----
write_conf master "bind 127.0.0.1 127.0.0.3" "port 0" "tls-port $TLS_PORT" \
    "tls-auth-clients no" "tls-replication yes"
write_conf replica "bind 127.0.0.1" "port 0" "tls-port $REPLICA_PORT" \
    "tls-auth-clients no" "tls-replication yes" "replicaof 127.0.0.1 $TLS_PORT" \
    "masteruser replication" "masterauth $REPL_PASS"
write_conf plain "bind 127.0.0.1" "port $PLAIN_PORT"
write_conf mtls "bind 127.0.0.1" "port 0" "tls-port $MTLS_PORT" "tls-auth-clients yes"
for s in master plain mtls; do redis_start "$s"; done
wait_for 10 answers_ping "$TLS_PORT" || bail "the TLS server did not start (see $T_DIR/master/redis.log)"
wait_for 10 answers_ping "$PLAIN_PORT" || bail "the plaintext server did not start"
wait_for 10 answers_ping "$MTLS_PORT" || bail "the client-certificate server did not start"
redis_start replica
wait_for 15 link_up || bail "the TLS replica did not link to its master (see $T_DIR/replica/redis.log)"

awk -v n="$KEYS" 'BEGIN { for (i = 1; i <= n; i++) printf "SET tls:%d value-%d\n", i, i }' |
    cli "$TLS_PORT" >/dev/null
ok "the TLS master took $KEYS writes" test "$(cli "$TLS_PORT" dbsize)" -ge "$KEYS"

# ---- TLS on: served and verified ----
ok "store_conn over TLS: AUTH pipelined, round trip, source address, by name" the_case conn
ok "probes over TLS, a plaintext server in the same batch refused" the_case probe
ok "pub/sub over TLS" the_case pubsub
ok "snapshot fetches over TLS from the replica and the master" the_case snapshot
REPLID=$(field "$TLS_PORT" replication master_replid)
for from in replica master; do
    ok "the $from's snapshot passes redis-check-rdb" rdb_ok "$T_DIR/out/$from.rdb"
    ok "the $from's snapshot carries the master's repl-id" test "$(kv "$from" repl_id)" = "$REPLID"
    ok "the $from's reported size is the file's" \
        test "$(kv "$from" bytes)" = "$(stat -c %s "$T_DIR/out/$from.rdb" 2>/dev/null)"
done
ok "client certificates: refused without one, served with one" the_case client_cert

# ---- TLS on: refused, never plaintext ----
ok "another CA: refused, naming the server and the CA" the_case wrong_ca
ok "an address the certificate does not name: refused" the_case wrong_address
BEFORE=$(field "$PLAIN_PORT" stats total_commands_processed)
ok "a plaintext server: refused under TLS, no fallback" the_case plain_server
AFTER=$(field "$PLAIN_PORT" stats total_commands_processed)
# between the two readings: the first reading (redis-cli's AUTH and INFO)
# and the case's own plaintext AUTH + PING once TLS was off; nothing of
# the refused attempts ran
ok "the plaintext server ran no command of the refused attempts ($BEFORE -> $AFTER)" \
    test "$AFTER" = "$((BEFORE + 4))"
ok "no snapshot was left by a refused fetch" \
    test ! -e "$T_DIR/out/wrong-ca.rdb" -a ! -e "$T_DIR/out/plain.rdb"

# ---- TLS off: a TLS-only server refused cleanly ----
ok "plaintext mode: a TLS-only server is refused with a hint" the_case tls_server_in_plain
ok "the TLS server is still up" answers_ping "$TLS_PORT"

finish "$checks"
