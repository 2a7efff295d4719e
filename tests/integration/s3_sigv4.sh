#!/usr/bin/env bash
# integration.s3_sigv4: every request the S3 client (orchestrator/backup/
# s3.c) sends carries a Signature V4 that botocore, an independent
# implementation, computes the same from what was received.
#
# tests/integration/s3_sigcheck.py stands in for S3 on 127.0.0.1 and checks
# each request (see its header); s3_driver drives the client through every
# call: PUT of a small object, a multipart upload (a 12 MiB file in 5 MiB
# parts: CreateMultipartUpload, three UploadPart, CompleteMultipartUpload),
# GET, HEAD, ListObjectsV2 with a prefix that needs encoding
# ("prod/a b+c/") and a continuation token that does too, DELETE,
# ListMultipartUploads over two pages, AbortMultipartUpload; once with
# credentials from the environment and no session token, once from a 0600
# credentials file with a session token.  A wrong secret must be refused
# (the checker is not a rubber stamp).  Ports: BASE (no token), BASE+1
# (token).  Python is Debian's (/usr/bin/python3 with python3-botocore).
source "$(dirname "$0")/lib.sh"
checks=0
BASE=${PORT_BASE:-24471}
DRIVER=$BUILD/s3_driver
CHECKER=$SRC/tests/integration/s3_sigcheck.py
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3
umask 077

need_tools jq "$PY"
[[ -x $DRIVER ]] || bail "the s3_driver is missing: $DRIVER (build the tests first)"
"$PY" -c 'import botocore.auth' 2>/dev/null ||
    bail "botocore is missing (scripts/install-deps.sh installs python3-botocore)"

export S3_REGION=eu-west-1 S3CHECK_REGION=eu-west-1
ACCESS=AKIDMERIDIANTEST
SECRET="$(od -An -tx1 -N20 /dev/urandom | tr -d ' \n')/+x"
TOKEN="FwoGZXIvYXdzE+token/with=chars$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')"
head -c $((12 * 1024 * 1024)) /dev/urandom >"$T_DIR/big.bin"
BIG_SHA=$(sha256sum "$T_DIR/big.bin" | cut -d' ' -f1)

# checker PORT LOG TOKEN: start s3_sigcheck.py, wait until it answers.
checker() {
    S3CHECK_ACCESS_KEY=$ACCESS S3CHECK_SECRET_KEY=$SECRET S3CHECK_TOKEN=$3 \
        "$PY" "$CHECKER" "$1" "$2" 2>"$2.err" &
    T_PIDS+=("$!")
    wait_for 10 curl -s -o /dev/null "http://127.0.0.1:$1/" ||
        bail "s3_sigcheck.py did not start on port $1: $(cat "$2.err")"
}

# suite ENDPOINT TAG: every call of the client, each checked.
suite() {
    local ep=$1 tag=$2 out
    d() { "$DRIVER" "$ep" meridian "$@" 2>>"$T_DIR/$tag.err"; }
    ok "$tag: PUT of a small object" d putbytes "prod/a b+c/small.txt" hello
    out=$(S3_PART_SIZE=5242880 d put "prod/a b+c/big.rdb" "$T_DIR/big.bin")
    ok "$tag: multipart upload of 12 MiB in 5 MiB parts ($out)" \
        test "${out% *}" = "$BIG_SHA $((12 * 1024 * 1024))"
    ok "$tag: progress reported at least once per part" test "${out##* }" -ge 3
    out=$(d get "prod/a b+c/small.txt" "$T_DIR/$tag.small")
    ok "$tag: GET, its SHA-256 and size" \
        test "$out" = "$(printf hello | sha256sum | cut -d' ' -f1) 5"
    ok "$tag: the download is the object" test "$(cat "$T_DIR/$tag.small")" = hello
    out=$(d head "prod/a b+c/small.txt")
    ok "$tag: HEAD ($out)" test "$out" = "5 - 1714557600"
    out=$(d list "prod/a b+c/" | cut -f1 | tr '\n' ,)
    ok "$tag: ListObjectsV2 over two pages ($out)" \
        test "$out" = "prod/a b+c/a,prod/a b+c/b,prod/a b+c/c,"
    ok "$tag: DELETE" d delete "prod/a b+c/small.txt"
    out=$(d uploads "prod/a b+c/" | tr '\t\n' ' ,')
    ok "$tag: ListMultipartUploads over two pages ($out)" \
        test "$out" = "prod/a b+c/k1 id1,prod/a b+c/k2 id2,"
    ok "$tag: AbortMultipartUpload" d abort "prod/a b+c/big.rdb" "upload+id/1="
}

# ---- credentials from the environment, no session token
checker "$BASE" "$T_DIR/plain.log" ""
AWS_ACCESS_KEY_ID=$ACCESS AWS_SECRET_ACCESS_KEY=$SECRET suite "http://127.0.0.1:$BASE" env

# ---- a 0600 credentials file with a session token
checker "$((BASE + 1))" "$T_DIR/token.log" "$TOKEN"
cat >"$T_DIR/credentials" <<EOF2
# test credentials
[other]
aws_access_key_id = NOTTHISONE
[default]
aws_access_key_id = $ACCESS
aws_secret_access_key = $SECRET
aws_session_token = $TOKEN
EOF2
S3_CREDENTIALS_FILE=$T_DIR/credentials suite "http://127.0.0.1:$((BASE + 1))" token

# ---- the checker refuses a wrong signature
AWS_ACCESS_KEY_ID=$ACCESS AWS_SECRET_ACCESS_KEY=wrong-secret \
    "$DRIVER" "http://127.0.0.1:$BASE" meridian putbytes prod/x hello 2>"$T_DIR/wrong.err"
ok "a wrong secret is refused (exit 1)" test $? = 1
ok "... as an access denied sentence naming the object: $(cat "$T_DIR/wrong.err")" \
    grep -q "cannot upload s3://meridian/prod/x to http://127.0.0.1:$BASE: access denied: check the credentials (SignatureDoesNotMatch: the signature differs" "$T_DIR/wrong.err"
ok "the secret is in no message" bash -c "! grep -qF -- '$SECRET' $T_DIR/*.err"

# ---- what the checker saw (the readiness probe "GET /" and the wrong
# secret's request left out)
REAL='select(.path != "/" and .path != "/meridian/prod/x")'
for tag in plain token; do
    log=$T_DIR/$tag.log
    bad=$(jq -r "$REAL"' | select(.ok == false) | .method + " " + .path + "?" + .query + ": " + .reason' "$log")
    n=$(jq -s "map($REAL) | length" "$log")
    ok "$tag: every signature matches botocore's ($n requests)${bad:+: $bad}" test -z "$bad"
    ok "$tag: 14 requests (PUT, create, 3 parts, complete, GET, HEAD, 2 lists, DELETE, 2 upload lists, abort)" \
        test "$n" = 14
    ok "$tag: the parts went with their own payload hash" \
        test "$(jq -r 'select(.method == "PUT" and (.query | test("partNumber"))) | .bytes' "$log" | tr '\n' ,)" = "5242880,5242880,2097152,"
    ok "$tag: x-amz-meta-sha256 is signed on CreateMultipartUpload" \
        test "$(jq -r 'select(.method == "POST" and .query == "uploads=") | .signed | index("x-amz-meta-sha256") != null' "$log")" = true
    ok "$tag: the prefix went encoded" \
        grep -q '"query": "list-type=2&prefix=prod%2Fa%20b%2Bc%2F"' "$log"
done
ok "token: every request signed x-amz-security-token" \
    test "$(jq -s "map($REAL | select(.signed | index(\"x-amz-security-token\") == null)) | length" "$T_DIR/token.log")" = 0

finish "$checks"
