#!/usr/bin/env bash
# tests/fuzz/seeds.sh BUILD OUTDIR: gather the seed corpus of every harness
# into OUTDIR/<target>/ from the repository's fixtures (nothing here is
# committed twice):
#   topology  tests/fixtures/topology/**/*.json, regions/*.json
#   jsonpos   the topology seeds and the manifest seeds
#   info      tests/fixtures/info/* (real Redis 7 captures)
#   rdb       RDBs made now by a throwaway redis-server on a unix socket
#             (no TCP port): one SAVEd, one fetched with redis-cli --rdb
#             (repl-id and repl-offset aux fields, as the snapshot fetch
#             sees them), with integer-encoded and LZF-compressed strings
#   rdb_scan  tests/fixtures/rdb/*.rdb (tests/fixtures/rdb/make.sh: every
#             type, streams, TTLs, several databases, a function, the
#             replication form) and the rdb seeds above
#   manifest  what deploy writes for the shipped local topologies and the
#             valid local fixtures (BUILD/fuzz_manifest_seeds)
#   snapshot  the server's side of a snapshot fetch around each RDB seed
#             ($<len> and $EOF:<mark> forms, with and without AUTH)
#   api_request  a few requests to each endpoint of the agent API, and
#             the start of a TLS ClientHello
#   sentinel  tests/fixtures/sentinel/*.resp (replies recorded from a real
#             redis-sentinel: GET-MASTER-ADDR-BY-NAME, REPLICAS, SENTINELS,
#             MASTER, pipelined as sentinel_get_view() asks them)
#   cluster_nodes  tests/fixtures/cluster/**/* (CLUSTER NODES, CLUSTER INFO
#             and nodes.conf files captured from real Redis 7.0.15 nodes)
#   s3_xml    tests/fixtures/s3/* (S3's answers and a credentials file)
#   catalog   tests/fixtures/catalog/* (backup manifests, a listing)
# plus tests/fuzz/regressions/<target>/* (inputs of past findings) for each.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:?usage: seeds.sh BUILD OUTDIR}" && pwd)
OUT=${2:?usage: seeds.sh BUILD OUTDIR}
mkdir -p "$OUT"

# copy_seeds TARGET FILE...: FILE as OUT/TARGET/<path with / as ->
copy_seeds() {
    local target=$1 f
    shift
    mkdir -p "$OUT/$target"
    for f in "$@"; do
        [[ -f $f ]] || continue
        local rel=${f#"$SRC"/}
        cp "$f" "$OUT/$target/${rel//\//-}"
    done
}

shopt -s nullglob globstar
topology=("$SRC"/tests/fixtures/topology/**/*.json "$SRC"/regions/*.json)
copy_seeds topology "${topology[@]}"
copy_seeds jsonpos "${topology[@]}"
copy_seeds info "$SRC"/tests/fixtures/info/*
copy_seeds sentinel "$SRC"/tests/fixtures/sentinel/*.resp
copy_seeds cluster_nodes "$SRC"/tests/fixtures/cluster/**/*
copy_seeds s3_xml "$SRC"/tests/fixtures/s3/*.xml "$SRC"/tests/fixtures/s3/credentials
copy_seeds catalog "$SRC"/tests/fixtures/catalog/*

mkdir -p "$OUT/manifest"
"$BUILD/fuzz_manifest_seeds" "$OUT/manifest" "$SRC"/regions/*.json \
    "$SRC"/tests/fixtures/topology/valid/*.json >/dev/null 2>"$OUT/manifest.log" || {
    cat "$OUT/manifest.log" >&2
    exit 1
}
# one with webhooks too (no shipped local topology has them)
jq -c '.webhooks = ["https://hooks.example/meridian", "http://127.0.0.1:8080/x"]' \
    "$OUT/manifest/local-use-a1.json" >"$OUT/manifest/local-use-a1-webhooks.json"
copy_seeds jsonpos "$OUT"/manifest/*.json

# RDBs from a real redis-server, stopped by its recorded pid.
mkdir -p "$OUT/rdb"
command -v redis-server >/dev/null && command -v redis-cli >/dev/null || {
    echo "seeds.sh: redis-server and redis-cli are needed for the RDB seeds:" \
        "run scripts/install-deps.sh" >&2
    exit 1
}
rdir=$(mktemp -d "${TMPDIR:-/tmp}/meridian-fuzz-rdb.XXXXXX")
sock=$rdir/redis.sock
redis-server --port 0 --unixsocket "$sock" --unixsocketperm 700 --dir "$rdir" \
    --save '' --appendonly no --repl-diskless-sync-delay 0 --logfile "$rdir/redis.log" &
rpid=$!
trap 'kill "$rpid" 2>/dev/null; wait "$rpid" 2>/dev/null; rm -rf "$rdir"' EXIT
for _ in $(seq 100); do
    [[ -S $sock ]] && redis-cli -s "$sock" ping >/dev/null 2>&1 && break
    sleep 0.05
done
cli() { redis-cli -s "$sock" "$@" >/dev/null; }
cli save
cp "$rdir/dump.rdb" "$OUT/rdb/empty.rdb"
cli set small value
cli set counter 12345                       # integer-encoded
cli set negative -70000                     # 32-bit integer
cli set long "$(printf 'meridian%.0s' {1..40})" # LZF-compressed
cli rpush list a b c
cli hset hash field1 v1 field2 v2
cli sadd set m1 m2 m3
cli zadd zset 1 one 2 two
cli save
cp "$rdir/dump.rdb" "$OUT/rdb/save.rdb"
redis-cli -s "$sock" --rdb "$OUT/rdb/sync.rdb" >/dev/null 2>&1
[[ -s $OUT/rdb/sync.rdb && -s $OUT/rdb/save.rdb ]] || {
    echo "seeds.sh: redis-server made no RDB (see $rdir/redis.log)" >&2
    exit 1
}
copy_seeds rdb_scan "$SRC"/tests/fixtures/rdb/*.rdb
cp "$OUT"/rdb/*.rdb "$OUT/rdb_scan/"

# The snapshot fetch: the server's side of a connection that ends in each
# RDB, in both payload forms, with and without AUTH (byte 0, bit 0).
mkdir -p "$OUT/snapshot"
mark=0123456789abcdef0123456789abcdef01234567
for f in "$OUT"/rdb/*.rdb; do
    b=$(basename "$f" .rdb)
    len=$(stat -c %s "$f")
    { printf '\x00+OK\r\n+OK\r\n\n\n$%d\r\n' "$len"; cat "$f"; } >"$OUT/snapshot/$b-len"
    { printf '\x01+OK\r\n+OK\r\n-ERR unknown option\r\n\n$EOF:%s\r\n' "$mark"; cat "$f"
      printf '%s' "$mark"; } >"$OUT/snapshot/$b-eof-auth"
done
printf '\x01-WRONGPASS invalid username-password pair\r\n' >"$OUT/snapshot/wrongpass"
printf '\x00+OK\r\n+OK\r\n-NOMASTERLINK Can'"'"'t SYNC while not connected\r\n' \
    >"$OUT/snapshot/nomasterlink"

# Requests to the agent API (token "t0ken", as fuzz_api_request uses).
mkdir -p "$OUT/api_request"
req() { printf "$2" >"$OUT/api_request/$1"; }
req health 'GET /v1/health HTTP/1.1\r\nHost: 127.0.1.1:17379\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n'
req health-head 'HEAD /v1/health HTTP/1.0\r\n\r\n'
req nodes 'GET /v1/nodes HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer t0ken\r\n\r\n'
req nodes-wrong-token 'GET /v1/nodes HTTP/1.1\r\nAuthorization: Bearer nope\r\n\r\n'
req heal 'POST /v1/heal HTTP/1.1\r\nHost: h\r\nAuthorization: bearer t0ken\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}'
req heal-chunked 'POST /v1/heal HTTP/1.1\r\nAuthorization: Bearer t0ken\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n'
req metrics 'GET /metrics?x=1 HTTP/1.1\nAuthorization: Bearer t0ken\n\n'
req escaped 'GET /v1/%%68ealth HTTP/1.1\r\n\r\n'
req no-route 'DELETE /v1/nodes HTTP/1.1\r\n\r\n'
# the start of a TLS ClientHello (api_request_parse_hello), whole and cut
req client-hello '\026\003\001\000\010\001\000\000\004\003\003\000\000'
req client-hello-cut '\026\003\001\002\000\001\000\001\374\003\003'

for dir in "$SRC"/tests/fuzz/regressions/*/; do
    target=$(basename "$dir")
    copy_seeds "$target" "$dir"*
done

for d in "$OUT"/*/; do
    printf '%s %s\n' "$(basename "$d")" "$(find "$d" -type f | wc -l)"
done >"$OUT/counts.txt"
