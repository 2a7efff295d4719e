#!/usr/bin/env bash
# TLS on every link, on real processes: a deployment of the local layout
# with tls.enabled answers only TLS clients that trust its CA (nodes,
# sentinels, agent API); a replication link carries no key, value or
# password in clear; an independent Sentinel-aware client (ioredis, TLS)
# writes through a failover without losing an acknowledged write; a lost
# replica is rebuilt over TLS with a partial resync; meridian refuses a
# server whose certificate its CA did not sign, and never falls back to
# plaintext; a certificate that no longer fits is renewed by deploy and
# loaded by the running node (same pid); an operator's CA and certificates
# are checked before use (a world-readable key or a certificate for another
# address is refused with the file named), and status warns about one that
# expires within 30 days.
source "$(dirname "$0")/lib.sh"

BASE=${PORT_BASE:-18350}
SPORT=$((BASE + 10000))
APORT=$((BASE + 1000))
T_TLS=1
T_TOPO="$T_DIR/tls.json"
write_topology "$T_TOPO" ittls "$BASE"
checks=0
HOSTS=(use-a1 use-b1 euw-a1 euw-b1 aps-a1 aps-b1)
ADDRS=(127.0.1.1 127.0.1.2 127.0.2.1 127.0.2.2 127.0.3.1 127.0.3.2)
SENTINELS=(127.0.1.1 127.0.2.1 127.0.3.1)

install_clients || exit 1
deploy_sentinel_test ittls
APP=$(cat "$T_STATE/secrets/app.pass")

say "connect-info"
"$MERIDIAN" connect-info "$T_TOPO" --state "$T_STATE" --json >"$T_DIR/ci.json"
checks=$((checks + 1)); check "connect-info --json says tls and names the CA certificate" \
    test "$(jq -r '.tls' "$T_DIR/ci.json")" = true -a "$(jq -r .ca_file "$T_DIR/ci.json")" = "$T_CA"
checks=$((checks + 1)); check "the CA certificate exists, its key is 0600" \
    test -s "$T_CA" -a "$(stat -c %a "$T_STATE/secrets/tls/ca.key")" = 600
keys_0600=$(find "$T_STATE/secrets/tls" -name '*.key' -perm /077 | wc -l)
checks=$((checks + 1)); check "no TLS key is readable by group or others" test "$keys_0600" -eq 0

say "who can talk to the nodes and sentinels"
plain=0 tls_ok=0
for a in "${ADDRS[@]/%/ $BASE}" "${SENTINELS[@]/%/ $SPORT}"; do
    out=$(timeout 5 redis-cli -h "${a% *}" -p "${a#* }" --user app --pass "$APP" \
        --no-auth-warning ping 2>&1)
    [[ $out != *PONG* ]] && plain=$((plain + 1))
    out=$(rcli_as app "$APP" -h "${a% *}" -p "${a#* }" ping 2>&1)
    [[ $out == PONG ]] && tls_ok=$((tls_ok + 1))
done
checks=$((checks + 1)); check "a plaintext redis-cli gets nothing from 6 nodes and 3 sentinels" test "$plain" -eq 9
checks=$((checks + 1)); check "redis-cli --tls --cacert (connect-info's CA) gets PONG from all 9" test "$tls_ok" -eq 9
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=other \
    -keyout "$T_DIR/other.key" -out "$T_DIR/other.crt" 2>/dev/null
out=$(REDISCLI_AUTH=$APP redis-cli --tls --cacert "$T_DIR/other.crt" --user app \
    --no-auth-warning -h 127.0.1.1 -p "$BASE" ping 2>&1)
checks=$((checks + 1)); check "a client trusting another CA is refused by verification ($out)" \
    grep -qi "certificate verify failed" <<<"$out"

say "meridian refuses a server its CA did not sign, and never falls back"
cp -a "$T_STATE" "$T_DIR/state-wrong"
cp "$T_DIR/other.crt" "$T_DIR/state-wrong/secrets/tls/ca.crt"
"$MERIDIAN" status "$T_TOPO" --state "$T_DIR/state-wrong" >"$T_DIR/wrong.out" 2>&1
rc=$?
checks=$((checks + 1)); check "status with the wrong CA is not OK (exit $rc)" test "$rc" -ne 0
checks=$((checks + 1)); check "it names a node and the certificate failure" \
    grep -qE "127\.0\.[0-9]\.[0-9]:$BASE.*certificate" "$T_DIR/wrong.out"
rm -rf "$T_DIR/state-wrong"

say "the replication link in clear holds nothing"
tcpdump -i lo -U -w "$T_DIR/repl.pcap" "tcp port $BASE or tcp port $SPORT" 2>"$T_DIR/tcpdump.err" &
TCPDUMP=$!
T_PIDS+=("$TCPDUMP")
wait_for 5 grep -q listening "$T_DIR/tcpdump.err"
REPL=$(cat "$T_STATE/secrets/replication.pass")
adm -h "$(leader)" -p "$BASE" set tls:probe "plaintext-canary-7f3a" >/dev/null
sleep 2 # replicated to all five, and sentinel gossip goes on
kill "$TCPDUMP"
wait "$TCPDUMP" 2>/dev/null
bytes=$(stat -c %s "$T_DIR/repl.pcap")
checks=$((checks + 1)); check "the capture holds traffic ($bytes bytes)" test "$bytes" -gt 10000
clear=$(tcpdump -r "$T_DIR/repl.pcap" -A 2>/dev/null | grep -c -e "plaintext-canary" -e "$REPL" -e "$ADMIN" -e "$APP")
checks=$((checks + 1)); check "no key value or password is in clear on the wire ($clear lines)" test "$clear" -eq 0

say "the agent API"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.2.2:$APORT/v1/health")
checks=$((checks + 1)); check "plain HTTP to an agent gets no HTTP answer (code $code)" test "$code" = 000
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$T_CA" "https://127.0.2.2:$APORT/v1/health")
checks=$((checks + 1)); check "HTTPS with the CA gets an answer (code $code)" test "$code" = 200 -o "$code" = 503
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$T_DIR/other.crt" "https://127.0.2.2:$APORT/v1/health")
checks=$((checks + 1)); check "HTTPS trusting another CA is refused (code $code)" test "$code" = 000

say "a Sentinel-aware client (ioredis over TLS) writes through a failover"
sentinel_writer_start ittls w
old=$(leader)
old_host=${HOSTS[0]}
for i in "${!ADDRS[@]}"; do [[ ${ADDRS[$i]} == "$old" ]] && old_host=${HOSTS[$i]}; done
kill -9 "$(cat "$T_STATE/hosts/$old_host/redis/redis.pid")"
wait_for 30 test "$(leader)" != "$old"
new=$(leader)
moved=$(now_ms)
sleep 2
sentinel_writer_stop w >"$T_DIR/w.summary"
say "writer: $(cat "$T_DIR/w.summary")"
after=$(awk -v t="$moved" '$1 > t {n++} END {print n + 0}' "$T_DIR/w.acked")
checks=$((checks + 1)); check "the sentinels moved the leader ($old -> $new)" test "$new" != "$old"
checks=$((checks + 1)); check "the client wrote on after the failover ($after acknowledged)" test "$after" -gt 50
lost=$(sentinel_writer_lost w "$new")
checks=$((checks + 1)); check "no acknowledged write is missing on the new leader ($lost)" test "$lost" -eq 0

say "heal over TLS: the old leader rebuilt from a peer's snapshot"
full0=$(adm -h "$new" -p "$BASE" info stats | tr -d '\r' | awk -F: '$1 == "sync_full" {print $2}')
"$MERIDIAN" heal "$T_TOPO" --state "$T_STATE" >"$T_DIR/heal.out" 2>&1
rc=$?
record_pids
checks=$((checks + 1)); check "heal exits 0 ($rc)" test "$rc" -eq 0 || cat "$T_DIR/heal.out"
wait_for 30 test "$(adm -h "$old" -p "$BASE" info replication | tr -d '\r' | awk -F: '$1 == "master_link_status" {print $2}')" = up
full1=$(adm -h "$new" -p "$BASE" info stats | tr -d '\r' | awk -F: '$1 == "sync_full" {print $2}')
checks=$((checks + 1)); check "the rebuilt node replicates from the new leader over TLS" \
    test "$(adm -h "$old" -p "$BASE" get tls:probe)" = plaintext-canary-7f3a
checks=$((checks + 1)); check "with a partial resync: the leader made no full sync ($full0 -> $full1)" test "$full0" = "$full1"

say "renewal: a certificate that no longer fits is replaced and loaded live"
# euw-a1 runs a node, a sentinel and an agent
pid=$(cat "$T_STATE/hosts/euw-a1/redis/redis.pid")
spid=$(cat "$T_STATE/hosts/euw-a1/sentinel/sentinel.pid")
cp "$T_STATE/secrets/tls/hosts/euw-b1.crt" "$T_STATE/secrets/tls/hosts/euw-a1.crt"
"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/renew.out" 2>&1
rc=$?
record_pids
checks=$((checks + 1)); check "deploy exits 0 ($rc)" test "$rc" -eq 0 || cat "$T_DIR/renew.out"
say "$(grep "euw-a1: " "$T_DIR/renew.out")"
checks=$((checks + 1)); check "deploy says why euw-a1's certificate was replaced" \
    grep -q "euw-a1: certificate replaced: key .*euw-a1.key is not the key of certificate" "$T_DIR/renew.out"
checks=$((checks + 1)); check "and what loaded it" \
    grep -q "euw-a1: new certificate loaded by 1 node, its sentinel and its agent" "$T_DIR/renew.out"
serial() { openssl s_client -connect "$1" -CAfile "$T_CA" </dev/null 2>/dev/null | openssl x509 -noout -serial; }
want=$(openssl x509 -noout -serial -in "$T_STATE/secrets/tls/hosts/euw-a1.crt")
checks=$((checks + 1)); check "euw-a1's node serves the new certificate ($want)" test "$(serial "127.0.2.1:$BASE")" = "$want"
checks=$((checks + 1)); check "without a restart (same pid)" test "$(cat "$T_STATE/hosts/euw-a1/redis/redis.pid")" = "$pid"
checks=$((checks + 1)); check "its sentinel serves it (restarted: pid $spid -> $(cat "$T_STATE/hosts/euw-a1/sentinel/sentinel.pid"))" \
    test "$(serial "127.0.2.1:$SPORT")" = "$want"
checks=$((checks + 1)); check "and its agent" test "$(serial "127.0.2.1:$APORT")" = "$want"
"$MERIDIAN" status "$T_TOPO" --state "$T_STATE" >"$T_DIR/st-renew.out" 2>&1
checks=$((checks + 1)); check "status is OK after the renewal" grep -q "ok - healthy" "$T_DIR/st-renew.out"

say "an operator's CA and certificates"
OP="$T_DIR/op"
mkdir -p "$OP/certs"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=op-ca \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign,cRLSign \
    -keyout "$OP/ca.key" -out "$OP/ca.crt" 2>/dev/null
issue() { # issue HOST ADDRESS DAYS
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
        -keyout "$OP/certs/$1.key" -out "$OP/$1.csr" 2>/dev/null
    printf 'subjectAltName=IP:%s,DNS:%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$2" "$1" >"$OP/$1.ext"
    openssl x509 -req -in "$OP/$1.csr" -CA "$OP/ca.crt" -CAkey "$OP/ca.key" -CAcreateserial \
        -days "$3" -extfile "$OP/$1.ext" -out "$OP/certs/$1.crt" 2>/dev/null
    chmod 600 "$OP/certs/$1.key"
}
issue solo1 127.0.1.1 10
OBASE=$((BASE + 60))
write_single "$T_DIR/op.json" ittlsop "$OBASE"
jq --arg ca "$OP/ca.crt" --arg dir "$OP/certs" '.tls = {enabled: true, ca_file: $ca, cert_dir: $dir}' \
    "$T_DIR/op.json" >"$T_DIR/op2.json"
OSTATE="$T_DIR/opstate"
track "$T_DIR/op2.json" "$OSTATE"
chmod 644 "$OP/certs/solo1.key"
"$MERIDIAN" deploy "$T_DIR/op2.json" --state "$OSTATE" --timeout 60 >"$T_DIR/op.out" 2>&1
rc=$?
checks=$((checks + 1)); check "a world-readable key is refused (exit $rc)" test "$rc" -ne 0
checks=$((checks + 1)); check "naming the key file" grep -q "$OP/certs/solo1.key" "$T_DIR/op.out"
checks=$((checks + 1)); check "before anything started" test ! -e "$OSTATE/hosts/solo1/redis/redis.pid"
chmod 600 "$OP/certs/solo1.key"
issue solo1 127.0.9.9 10
"$MERIDIAN" deploy "$T_DIR/op2.json" --state "$OSTATE" --timeout 60 >"$T_DIR/op.out" 2>&1
rc=$?
checks=$((checks + 1)); check "a certificate for another address is refused (exit $rc)" test "$rc" -ne 0
checks=$((checks + 1)); check "saying which address it lacks" grep -q "does not name its address 127.0.1.1" "$T_DIR/op.out"
issue solo1 127.0.1.1 10
"$MERIDIAN" deploy "$T_DIR/op2.json" --state "$OSTATE" --timeout 60 >"$T_DIR/op.out" 2>&1
rc=$?
record_pids
checks=$((checks + 1)); check "the operator's pair deploys (exit $rc)" test "$rc" -eq 0 || cat "$T_DIR/op.out"
# 10 days from issue: 9 days and some hours left, or 10 within the second
checks=$((checks + 1)); check "deploy warns it expires soon" grep -qE "expires in (9|10) days" "$T_DIR/op.out"
out=$(REDISCLI_AUTH=$(cat "$OSTATE/secrets/app.pass") redis-cli --tls --cacert "$OP/ca.crt" \
    --user app --no-auth-warning -h 127.0.1.1 -p "$OBASE" ping 2>&1)
checks=$((checks + 1)); check "its node answers TLS clients of the operator's CA ($out)" test "$out" = PONG
"$MERIDIAN" status "$T_DIR/op2.json" --state "$OSTATE" >"$T_DIR/opst.out" 2>&1
rc=$?
checks=$((checks + 1)); check "status warns (exit $rc), naming the host and the days left" \
    grep -qE "certificate of solo1 expires in (9|10) days" "$T_DIR/opst.out"

finish "$checks"
