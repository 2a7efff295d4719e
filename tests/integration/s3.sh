#!/usr/bin/env bash
# integration.s3: the S3 client (orchestrator/backup/s3.c) against a real
# S3-compatible server, s3rver 3.7.1 (tests/s3, installed from its lock
# file), on 127.0.0.1:BASE.  Round trips with their SHA-256, a multipart
# upload (12 MiB in 5 MiB parts), a listing by prefix, deletion, and the
# sentences for what goes wrong: a missing bucket, an unknown access key,
# an unreachable endpoint (BASE+9, where nothing listens), a missing
# object, a credentials file readable by others, a download into a full
# disk (a 1 MiB tmpfs; needs root, skipped otherwise).
#
# s3rver 3.7.1 does not check signatures (a wrong secret gets 200: see
# integration.s3_sigv4 for that), answers ListMultipartUploads with 501
# NotImplemented and AbortMultipartUpload with 405 MethodNotAllowed, so
# neither is used here.
source "$(dirname "$0")/lib.sh"
checks=0
BASE=${PORT_BASE:-24470}
DRIVER=$BUILD/s3_driver
EP=http://127.0.0.1:$BASE
NOBODY=http://127.0.0.1:$((BASE + 9))
FULL=$T_DIR/full
umask 077

need_tools curl sha256sum
[[ -x $DRIVER ]] || bail "the s3_driver is missing: $DRIVER (build the tests first)"
# the tmpfs is unmounted before lib.sh's cleanup removes the folder
trap 'rc=$?; mountpoint -q "$FULL" && umount "$FULL"; (exit $rc); cleanup' EXIT
s3rver_start "$BASE" "$T_DIR/s3data" meridian || bail "s3rver did not start"

export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
d() { "$DRIVER" "$EP" meridian "$@"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

# ---- round trips
head -c $((1024 * 1024 + 7)) /dev/urandom >"$T_DIR/one.bin"
head -c $((12 * 1024 * 1024)) /dev/urandom >"$T_DIR/big.bin"
out=$(d put prod/one.rdb "$T_DIR/one.bin")
ok "PUT of a 1 MiB file in one request ($out)" test "${out% *}" = "$(sha "$T_DIR/one.bin") $((1024 * 1024 + 7))"
out=$(d get prod/one.rdb "$T_DIR/one.out")
ok "GET: the SHA-256 computed while writing is the file's" test "$out" = "$(sha "$T_DIR/one.bin") $((1024 * 1024 + 7))"
ok "GET: the download is the file" cmp -s "$T_DIR/one.bin" "$T_DIR/one.out"
ok "GET: the download is mode 0600" test "$(stat -c %a "$T_DIR/one.out")" = 600
out=$(d head prod/one.rdb)
ok "HEAD: size and x-amz-meta-sha256 ($out)" test "${out% *}" = "$((1024 * 1024 + 7)) $(sha "$T_DIR/one.bin")"
out=$(S3_PART_SIZE=$((5 * 1024 * 1024)) d put prod/big.rdb "$T_DIR/big.bin")
ok "multipart upload of 12 MiB in 5 MiB parts ($out)" test "${out% *}" = "$(sha "$T_DIR/big.bin") $((12 * 1024 * 1024))"
out=$(d get prod/big.rdb "$T_DIR/big.out")
ok "the multipart object downloads as the file" \
    test "$out" = "$(sha "$T_DIR/big.bin") $((12 * 1024 * 1024))" -a -n "$(cmp "$T_DIR/big.bin" "$T_DIR/big.out" && echo same)"
out=$(d head prod/big.rdb)
ok "HEAD of the multipart object: size and x-amz-meta-sha256" test "${out% *}" = "$((12 * 1024 * 1024)) $(sha "$T_DIR/big.bin")"
ok "a small object from memory" d putbytes "prod/a b+c/k1" hello
ok "... read back into memory" test "$(d getbytes "prod/a b+c/k1" 100)" = hello
d getbytes "prod/a b+c/k1" 3 2>"$T_DIR/max.err"
ok "... refused past its size cap: $(cat "$T_DIR/max.err")" grep -q "larger than 3 bytes" "$T_DIR/max.err"

# ---- listing by prefix, deletion
d putbytes "prod/a b+c/k2" two && d putbytes "prod/a b+c/k3" three && d putbytes "prod/a b+cd" other
out=$(d list "prod/a b+c/" | tr '\t\n' ' ,')
ok "list by a prefix that needs encoding ($out)" test "$out" = "prod/a b+c/k1 5,prod/a b+c/k2 3,prod/a b+c/k3 5,"
ok "DELETE" d delete "prod/a b+c/k2"
out=$(d list "prod/a b+c/" | cut -f1 | tr '\n' ,)
ok "the deleted object is gone from the listing ($out)" test "$out" = "prod/a b+c/k1,prod/a b+c/k3,"
ok "deleting an absent object is not an error" d delete "prod/a b+c/k2"
ok "the whole bucket lists 5 objects" test "$(d list "" | wc -l)" = 5

# ---- what goes wrong, as sentences
expect_error() { # WHAT EXPECTED_TEXT DRIVER_ARGS...
    local what=$1 want=$2
    shift 2
    "$@" >/dev/null 2>"$T_DIR/err" && { fail "$what: succeeded"; return; }
    ok "$what: $(cat "$T_DIR/err")" grep -qF -- "$want" "$T_DIR/err"
}
expect_error "a missing bucket" \
    "not found: cannot upload s3://nobucket/prod/x to $EP: the bucket does not exist (NoSuchBucket)" \
    "$DRIVER" "$EP" nobucket putbytes prod/x hello
expect_error "an unknown access key" \
    "cannot upload s3://meridian/prod/x to $EP: access denied: check the credentials (InvalidAccessKeyId: " \
    env AWS_ACCESS_KEY_ID=NOBODY "$DRIVER" "$EP" meridian putbytes prod/x hello
expect_error "an unreachable endpoint" \
    "connection failed: cannot download s3://meridian/prod/one.rdb from $NOBODY: cannot connect: Connection refused" \
    "$DRIVER" "$NOBODY" meridian get prod/one.rdb "$T_DIR/nobody.out"
ok "... and no file is left" test ! -e "$T_DIR/nobody.out" -a -z "$(ls "$T_DIR" | grep nobody)"
expect_error "a missing object" \
    "cannot download s3://meridian/prod/none from $EP: the object does not exist (NoSuchKey)" \
    d get prod/none "$T_DIR/none.out"
expect_error "HEAD of a missing object" \
    "not found: cannot read the metadata of s3://meridian/prod/none on $EP: no such object (HTTP 404)" \
    d head prod/none
printf '[default]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n' >"$T_DIR/creds"
chmod 644 "$T_DIR/creds"
expect_error "a credentials file readable by others" \
    "the S3 credentials file $T_DIR/creds is readable by others (mode 644): run \`chmod 600 $T_DIR/creds\`" \
    env S3_CREDENTIALS_FILE="$T_DIR/creds" "$DRIVER" "$EP" meridian head prod/one.rdb
chmod 600 "$T_DIR/creds"
ok "... accepted once it is 0600" env S3_CREDENTIALS_FILE="$T_DIR/creds" "$DRIVER" "$EP" meridian head prod/one.rdb >/dev/null

# ---- a download into a full disk leaves the old file as it was
mkdir -p "$FULL"
if mount -t tmpfs -o size=1m tmpfs "$FULL" 2>/dev/null; then
    echo old >"$FULL/big.rdb"
    expect_error "a download into a full disk" \
        "input/output error: cannot download s3://meridian/prod/big.rdb from $EP: cannot write $FULL/big.rdb: No space left on device" \
        d get prod/big.rdb "$FULL/big.rdb"
    ok "... the file there is untouched" test "$(cat "$FULL/big.rdb")" = old
    ok "... no temporary file is left" test "$(ls -A "$FULL")" = big.rdb
else
    say "skipped: the full-disk download needs a tmpfs mount (root)"
fi

finish "$checks"
