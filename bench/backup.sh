#!/usr/bin/env bash
# bench/backup.sh [ROUNDS]: a backup of a loaded six-host deployment to
# S3-compatible storage (s3rver 3.7.1 on loopback) and its restore into an
# empty deployment, against what operators do today with cron scripts, in
# the same run, on the same data and the same s3rver.
#
# backup
#   meridian  `meridian backup TOPOLOGY --json`: the RDB of a healthy replica
#             (fetched over the replication protocol: the replica forks, the
#             leader does not), checked (CRC64, keys counted), uploaded with
#             its SHA-256 in 16 MiB parts (multipart) and read back (HEAD:
#             size and SHA-256), then the manifest.
#   baseline  the cron script: `BGSAVE` on the leader (it forks), wait until
#             it is done, then `curl --aws-sigv4 -T dump.rdb` (one PUT, with
#             x-amz-content-sha256: UNSIGNED-PAYLOAD, which s3rver requires:
#             no checksum computed, nothing read back).
#   Measured: wall time, MB/s (RDB bytes / wall time), the leader's CPU
#   seconds over the backup (utime + stime + cutime + cstime of its
#   redis-server in /proc/PID/stat: the BGSAVE child's CPU counts once the
#   leader has reaped it), the leader's forks (total_forks delta) and its
#   latest_fork_usec, the forks of the replicas, and the CPU of the client
#   (meridian, the snapshot fetch included, or curl) and of s3rver.
#
# restore (each into a fresh, empty deployment: destroy, then deploy)
#   meridian  `meridian restore TOPOLOGY --from ID --yes --json`: download,
#             checksum, the leader's agent loads it while the replicas are
#             held unpromotable, the replicas sync from the leader.
#   baseline  the manual procedure of a runbook, the agents stopped (as if
#             meridian were not there): download the RDB with curl, set
#             replica-priority 0 on every replica (else the sentinels would
#             promote an empty replica while the leader is down), stop the
#             leader (SIGTERM, by pid), move the RDB into its data dir as
#             dump.rdb, start it with its config; the replicas full-sync
#             from it by themselves.
#   floor     one bare redis-server loading the same RDB from a local disk
#             (no download, no replicas): what no restore of the leader can
#             beat.
#   Measured from the start of the restore: "writable", the leader accepts
#   writes: a master that finished loading with the linked replicas
#   min_replicas_to_write asks (INFO min_slaves_good_slaves; meridian: its
#   writable_ms, the same test); "every key on every node", polled from outside on all 6 nodes
#   (DBSIZE = KEYS, every replica linked and not syncing); meridian's own
#   healthy_ms (status healthy); the leader's full syncs (sync_full).
#
# Environment: KEYS (1000000), VALUE_BYTES (180: random characters that LZF
# cannot compress, so the RDB is about as big as the data), CHUNKS (4
# redis-cli --pipe runs for the load), KEEP_LOGS (a folder: every
# deployment's logs and meridian's progress are copied there before it is
# destroyed).  Ports: nodes 29000, agents 30000, sentinels 39000
# (127.0.R.H), s3rver 24483 and the floor's redis-server 29009 (127.0.0.1).
# Loopback only.  About 90 s a round on 2 cores.  About 200 MB of disk per
# copy of the RDB: s3rver holds 2 per round, the state dir 1, each node 1.
BUILD=${BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
SRC=${SRC:-$(cd "$(dirname "$0")/.." && pwd)}
export BUILD SRC
source "$SRC/tests/integration/lib.sh"
BENCH=backup
T0_RUN=$(now_ms)
source "$SRC/bench/lib.sh"

ROUNDS=${1:-1}
KEYS=${KEYS:-1000000}
VALUE_BYTES=${VALUE_BYTES:-180}
CHUNKS=${CHUNKS:-4}
BASE=29000 # nodes; agents 30000, sentinels 39000
S3PORT=24483
FLOOR_PORT=29009
EP=http://127.0.0.1:$S3PORT
ADDRS=(127.0.1.1 127.0.1.2 127.0.2.1 127.0.2.2 127.0.3.1 127.0.3.2)
HOSTS=(use-a1 use-b1 euw-a1 euw-b1 aps-a1 aps-b1)
TICK=$(getconf CLK_TCK)
umask 077

for t in curl jq node npm redis-server redis-cli; do
    command -v "$t" >/dev/null || die "$t is not installed (scripts/install-deps.sh installs it)"
done
s3rver_start "$S3PORT" "$T_DIR/s3data" meridian || die "s3rver did not start"
# s3rver stopped (by its pid) before lib.sh's cleanup destroys the rest
trap 'rc=$?; { kill "$S3RVER_PID" && wait "$S3RVER_PID"; } 2>/dev/null; (exit $rc); cleanup' EXIT
CREDS="$T_DIR/s3.credentials"
printf '[default]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n' >"$CREDS"
chmod 0600 "$CREDS"

TOPO="$T_DIR/t.json"
write_topology "$TOPO" benchbk "$BASE"
jq --arg ep "$EP" --arg creds "$CREDS" '.store.maxmemory = "1gb" |
    .store.repl_backlog = "64mb" |
    .backup = {endpoint: $ep, bucket: "meridian", prefix: "bench/", credentials_file: $creds}' \
    "$TOPO" >"$TOPO.new" && mv "$TOPO.new" "$TOPO"

# ---- helpers
# s3rver requires x-amz-content-sha256: the lightest value, no checksum
S3CURL=(curl -sS --fail --aws-sigv4 "aws:amz:us-east-1:s3" --user S3RVER:S3RVER
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
s3curl() { "${S3CURL[@]}" "$@"; }
info_of() { # info_of ADDR FIELD: FIELD of INFO all on ADDR:BASE
    rcli_as admin "$ADMIN" -h "$1" -p "$BASE" info all 2>/dev/null | tr -d '\r' |
        awk -F: -v k="$2" '$1 == k {print $2}'
}
dbsize() { rcli_as admin "$ADMIN" -h "$1" -p "$BASE" dbsize 2>/dev/null; }
leader() {
    rcli_as admin "$ADMIN" -h 127.0.2.1 -p "$((BASE + 10000))" \
        sentinel get-master-addr-by-name benchbk 2>/dev/null | head -1
}
host_of() { # host_of ADDR: its host name
    local i
    for i in "${!ADDRS[@]}"; do [[ ${ADDRS[$i]} == "$1" ]] && echo "${HOSTS[$i]}"; done
}
# cpu_ticks PID: utime + stime + cutime + cstime (clock ticks; the fields
# after the command name, which may hold spaces)
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13 + $14 + $15}'; }
cpu_s() { awk -v t="$1" -v k="$TICK" 'BEGIN { printf "%.2f", t / k }'; }
mb_s() { awk -v b="$1" -v ms="$2" 'BEGIN { printf "%.1f", (ms > 0 ? b / 1e6 / (ms / 1000) : 0) }'; }
# forks_of ADDR...: "total_forks latest_fork_usec" of each node, a line each
forks_of() {
    local a
    for a in "$@"; do echo "$(info_of "$a" total_forks) $(info_of "$a" latest_fork_usec)"; done
}
# fork_delta BEFORE AFTER (forks_of's): "FORKS USEC", the forks made in
# between and the latest_fork_usec of the nodes that forked, added
fork_delta() {
    paste -d' ' <(echo "$1") <(echo "$2") |
        awk '$3 > $1 { n += $3 - $1; us += $4 } END { print n + 0, us + 0 }'
}

deploy() { # deploy STATE: a fresh, empty deployment
    STATE=$1
    track "$TOPO" "$STATE"
    "$MERIDIAN" deploy "$TOPO" --state "$STATE" >"$T_DIR/deploy.out" 2>&1 ||
        { cat "$T_DIR/deploy.out"; die "deploy failed"; }
    record_pids
    ADMIN=$(cat "$STATE/secrets/admin.pass")
    sleep 1.5 # the agents' first passes: every node ready
    LEAD=$(leader)
    [[ -n $LEAD ]] || die "no leader named by the sentinels"
    REPLICAS=()
    local a
    for a in "${ADDRS[@]}"; do [[ $a == "$LEAD" ]] || REPLICAS+=("$a"); done
}
# destroy: the deployment gone; with KEEP_LOGS, its logs kept there first
destroy() {
    if [[ -n ${KEEP_LOGS:-} ]]; then
        local f d="$KEEP_LOGS/${STATE##*/}"
        mkdir -p "$d"
        while IFS= read -r f; do
            cp "$f" "$d/$(echo "${f#"$STATE"/}" | tr / _)"
        done < <(find "$STATE" -name '*.log')
        cp "$T_DIR"/m-*.err "$d/" 2>/dev/null
    fi
    "$MERIDIAN" destroy "$TOPO" --state "$STATE" --yes >/dev/null 2>&1
}

# RESP for SET key:<i> <value> (as bench/rebuild.sh): each value a random
# string from a pool of 4096, prefixed with the key's number
awk -v n=4096 -v len=$((VALUE_BYTES - 11)) 'BEGIN {
    srand(42); cs = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    for (i = 0; i < n; i++) { s = ""; for (j = 0; j < len; j++) s = s substr(cs, int(rand() * 64) + 1, 1); print s }
}' >"$T_DIR/pool.txt"
gen_resp() { # gen_resp FIRST LAST
    awk -v a="$1" -v b="$2" '
        NR == FNR { pool[NR - 1] = $0; np = NR; next }
        END {
            for (i = a; i <= b; i++) {
                k = "key:" i; v = sprintf("%010d", i) ":" pool[i % np]
                printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, length(v), v
            }
        }' "$T_DIR/pool.txt" /dev/null
}
load() {
    local per=$(((KEYS + CHUNKS - 1) / CHUNKS)) first last
    for ((first = 1; first <= KEYS; first += per)); do
        last=$((first + per - 1))
        ((last > KEYS)) && last=$KEYS
        gen_resp "$first" "$last" |
            rcli_as admin "$ADMIN" -h "$LEAD" -p "$BASE" --pipe >"$T_DIR/pipe.out" 2>&1
        grep -q 'errors: 0, replies' "$T_DIR/pipe.out" || { cat "$T_DIR/pipe.out"; die "load failed"; }
    done
}
# all_keys: every node holds KEYS keys, every replica linked and not syncing
all_keys() {
    local a
    for a in "${ADDRS[@]}"; do [[ $(dbsize "$a") == "$KEYS" ]] || return 1; done
    for a in "${REPLICAS[@]}"; do
        [[ $(info_of "$a" master_link_status) == up &&
            $(info_of "$a" master_sync_in_progress) == 0 ]] || return 1
    done
}
loaded_master() { # loaded_master ADDR: answers as a master that finished loading
    [[ $(info_of "$1" loading) == 0 && $(info_of "$1" role) == master ]]
}
writable_master() { # writable_master ADDR: loaded, and as many replicas linked as
    # min-replicas-to-write asks (it refuses writes with NOREPLICAS before)
    local want good
    loaded_master "$1" || return 1
    want=$(rcli_as admin "$ADMIN" -h "$1" -p "$BASE" config get min-replicas-to-write | sed -n 2p)
    good=$(info_of "$1" min_slaves_good_slaves)
    ((${want:-0} == 0 || ${good:-0} >= want))
}

# ---- the two backups, on one loaded deployment: results in R[...]
declare -A R
backup_meridian() { # backup_meridian ROUND
    local lpid=$1 t0 t1 c0 c1 s0 s1 f0 r0 f us
    c0=$(cpu_ticks "$lpid") s0=$(cpu_ticks "$S3RVER_PID")
    f0=$(forks_of "$LEAD") r0=$(forks_of "${REPLICAS[@]}")
    t0=$(now_ms)
    /usr/bin/time -f '%U %S' -o "$T_DIR/m.time" "$MERIDIAN" backup "$TOPO" --state "$STATE" \
        --json >"$T_DIR/m-backup.json" 2>"$T_DIR/m-backup.err" ||
        { tail -5 "$T_DIR/m-backup.err"; die "meridian backup failed"; }
    t1=$(now_ms)
    c1=$(cpu_ticks "$lpid") s1=$(cpu_ticks "$S3RVER_PID")
    R[m_b_ms]+=" $((t1 - t0))"
    R[m_b_bytes]=$(jq -r .bytes "$T_DIR/m-backup.json")
    R[m_b_rate]+=" $(mb_s "${R[m_b_bytes]}" $((t1 - t0)))"
    R[m_b_cpu]+=" $(cpu_s $((c1 - c0)))"
    read -r f us < <(fork_delta "$f0" "$(forks_of "$LEAD")")
    R[m_b_forks]+=" $f" R[m_b_forkus]+=" $us"
    read -r f us < <(fork_delta "$r0" "$(forks_of "${REPLICAS[@]}")")
    R[m_b_rforks]+=" $f" R[m_b_rforkus]+=" $us"
    R[m_b_client]+=" $(awk '{printf "%.2f", $1 + $2}' "$T_DIR/m.time")"
    R[m_b_s3]+=" $(cpu_s $((s1 - s0)))"
    ID=$(jq -r .id "$T_DIR/m-backup.json")
    [[ $(jq -r .keys "$T_DIR/m-backup.json") == "$KEYS" ]] ||
        die "meridian backup $ID holds $(jq -r .keys "$T_DIR/m-backup.json") keys, not $KEYS"
    progress "meridian backup $ID: $(secs $((t1 - t0))) s, ${R[m_b_bytes]} bytes"
    sed 's/^/#   /' "$T_DIR/m-backup.err"
}
backup_baseline() { # backup_baseline ROUND
    local i=$1 lpid=$2 t0 t1 ts c0 c1 s0 s1 f0 r0 f us last dir size
    dir="$STATE/hosts/$(host_of "$LEAD")/redis/data"
    c0=$(cpu_ticks "$lpid") s0=$(cpu_ticks "$S3RVER_PID")
    f0=$(forks_of "$LEAD") r0=$(forks_of "${REPLICAS[@]}")
    last=$(info_of "$LEAD" rdb_last_save_time)
    t0=$(now_ms)
    rcli_as admin "$ADMIN" -h "$LEAD" -p "$BASE" bgsave >/dev/null || die "BGSAVE refused"
    saved() { [[ $(info_of "$LEAD" rdb_bgsave_in_progress) == 0 &&
        $(info_of "$LEAD" rdb_last_save_time) != "$last" ]]; }
    wait_for 120 saved || die "BGSAVE did not finish in 120 s"
    [[ $(info_of "$LEAD" rdb_last_bgsave_status) == ok ]] || die "BGSAVE failed"
    ts=$(now_ms)
    /usr/bin/time -f '%U %S' -o "$T_DIR/b.time" \
        "${S3CURL[@]}" -T "$dir/dump.rdb" "$EP/meridian/baseline/dump-$i.rdb" -o /dev/null ||
        die "the baseline's upload failed"
    t1=$(now_ms)
    c1=$(cpu_ticks "$lpid") s1=$(cpu_ticks "$S3RVER_PID")
    size=$(stat -c %s "$dir/dump.rdb")
    [[ $(s3curl -I "$EP/meridian/baseline/dump-$i.rdb" | tr -d '\r' |
        awk -F': ' 'tolower($1) == "content-length" {print $2}') == "$size" ]] ||
        die "the baseline's object is not $size bytes"
    rm -f "$dir/dump.rdb"
    R[b_b_ms]+=" $((t1 - t0))"
    R[b_b_bytes]=$size
    R[b_b_rate]+=" $(mb_s "$size" $((t1 - t0)))"
    R[b_b_cpu]+=" $(cpu_s $((c1 - c0)))"
    read -r f us < <(fork_delta "$f0" "$(forks_of "$LEAD")")
    R[b_b_forks]+=" $f" R[b_b_forkus]+=" $us"
    read -r f us < <(fork_delta "$r0" "$(forks_of "${REPLICAS[@]}")")
    R[b_b_rforks]+=" $f" R[b_b_rforkus]+=" $us"
    R[b_b_client]+=" $(awk '{printf "%.2f", $1 + $2}' "$T_DIR/b.time")"
    R[b_b_s3]+=" $(cpu_s $((s1 - s0)))"
    progress "baseline backup: BGSAVE $(secs $((ts - t0))) s, upload $(secs $((t1 - ts))) s, $size bytes"
}

restore_meridian() {
    local t0 t1 t2
    t0=$(now_ms)
    "$MERIDIAN" restore "$TOPO" --from "$ID" --yes --state "$STATE" --json \
        >"$T_DIR/m-restore.json" 2>"$T_DIR/m-restore.err" ||
        { tail -5 "$T_DIR/m-restore.err"; die "meridian restore failed"; }
    t1=$(now_ms)
    record_pids
    LEAD=$(leader)
    REPLICAS=()
    local a
    for a in "${ADDRS[@]}"; do [[ $a == "$LEAD" ]] || REPLICAS+=("$a"); done
    wait_for 300 all_keys || die "after meridian's restore, not every node holds $KEYS keys"
    t2=$(now_ms)
    R[m_r_writable]+=" $(jq -r .writable_ms "$T_DIR/m-restore.json")"
    R[m_r_healthy]+=" $(jq -r .healthy_ms "$T_DIR/m-restore.json")"
    R[m_r_cmd]+=" $((t1 - t0))"
    R[m_r_all]+=" $((t2 - t0))"
    R[m_r_full]+=" $(info_of "$LEAD" sync_full)" R[m_r_forks]+=" $(info_of "$LEAD" total_forks)"
    progress "meridian restore: writable $(secs "$(jq -r .writable_ms "$T_DIR/m-restore.json")") s, healthy $(secs "$(jq -r .healthy_ms "$T_DIR/m-restore.json")") s, every key on every node $(secs $((t2 - t0))) s"
    sed 's/^/#   /' "$T_DIR/m-restore.err"
}
restore_baseline() { # restore_baseline ROUND
    local i=$1 t0 td tw t2 h a dir pid prio=()
    for h in "${HOSTS[@]}"; do
        "$BUILD/meridian-agent" stop --manifest "$STATE/hosts/$h/manifest.json" --agent-only \
            >/dev/null 2>&1 || die "could not stop the agent of $h"
    done
    dir="$STATE/hosts/$(host_of "$LEAD")/redis"
    t0=$(now_ms)
    s3curl "$EP/meridian/baseline/dump-$i.rdb" -o "$T_DIR/dl.rdb" || die "the baseline's download failed"
    td=$(now_ms)
    for a in "${REPLICAS[@]}"; do
        prio+=("$(rcli_as admin "$ADMIN" -h "$a" -p "$BASE" config get replica-priority | sed -n 2p)")
        rcli_as admin "$ADMIN" -h "$a" -p "$BASE" config set replica-priority 0 >/dev/null
    done
    pid=$(cat "$dir/redis.pid")
    kill "$pid"
    while pid_alive "$pid"; do sleep 0.02; done
    mv "$T_DIR/dl.rdb" "$dir/data/dump.rdb"
    (cd "$dir" && redis-server "$dir/redis.conf" --daemonize yes >/dev/null) ||
        die "the leader did not start"
    wait_for 5 test -s "$dir/redis.pid" || die "the leader wrote no pid file"
    T_PIDS+=("$(cat "$dir/redis.pid")")
    wait_for 300 writable_master "$LEAD" || die "the leader did not load the RDB"
    tw=$(now_ms)
    wait_for 300 all_keys || die "after the baseline's restore, not every node holds $KEYS keys"
    t2=$(now_ms)
    for i in "${!REPLICAS[@]}"; do
        rcli_as admin "$ADMIN" -h "${REPLICAS[$i]}" -p "$BASE" config set replica-priority \
            "${prio[$i]}" >/dev/null
    done
    R[b_r_dl]+=" $((td - t0))"
    R[b_r_writable]+=" $((tw - t0))"
    R[b_r_all]+=" $((t2 - t0))"
    R[b_r_full]+=" $(info_of "$LEAD" sync_full)" R[b_r_forks]+=" $(info_of "$LEAD" total_forks)"
    progress "baseline restore: download $(secs $((td - t0))) s, writable $(secs $((tw - t0))) s, every key on every node $(secs $((t2 - t0))) s"
    # the floor: the same RDB loaded by one bare redis-server from disk
    mkdir -p "$T_DIR/floor" && cp "$dir/data/dump.rdb" "$T_DIR/floor/dump.rdb"
    sync
    t0=$(now_ms)
    redis-server --bind 127.0.0.1 --port "$FLOOR_PORT" --dir "$T_DIR/floor" --save '' \
        --appendonly no --daemonize yes --pidfile "$T_DIR/floor/redis.pid" \
        --logfile "$T_DIR/floor/redis.log" >/dev/null || die "the floor's redis-server did not start"
    floor_loaded() { [[ $(redis-cli -h 127.0.0.1 -p "$FLOOR_PORT" info persistence 2>/dev/null |
        tr -d '\r' | awk -F: '$1 == "loading" {print $2}') == 0 ]]; }
    wait_for 300 floor_loaded || die "the floor's redis-server did not load the RDB"
    t2=$(now_ms)
    pid=$(cat "$T_DIR/floor/redis.pid")
    T_PIDS+=("$pid")
    [[ $(redis-cli -h 127.0.0.1 -p "$FLOOR_PORT" dbsize) == "$KEYS" ]] ||
        die "the floor's redis-server does not hold $KEYS keys"
    kill "$pid"
    while pid_alive "$pid"; do sleep 0.02; done
    rm -rf "$T_DIR/floor"
    R[f_r]+=" $((t2 - t0))"
    progress "floor: one redis-server loaded the RDB from disk in $(secs $((t2 - t0))) s"
}

for ((i = 1; i <= ROUNDS; i++)); do
    progress "round $i: deploy, load $KEYS keys of $VALUE_BYTES bytes"
    deploy "$T_DIR/state-$i"
    load
    wait_for 300 all_keys || die "the replicas do not all hold $KEYS keys"
    lpid=$(cat "$STATE/hosts/$(host_of "$LEAD")/redis/redis.pid")
    progress "round $i: loaded; leader $(host_of "$LEAD") (pid $lpid), used_memory $(info_of "$LEAD" used_memory_human)"
    sleep 2 # a quiet leader before measuring
    if ((i % 2)); then
        backup_meridian "$lpid"
        backup_baseline "$i" "$lpid"
    else
        backup_baseline "$i" "$lpid"
        backup_meridian "$lpid"
    fi
    destroy
    deploy "$T_DIR/state-$i-m"
    restore_meridian
    destroy
    deploy "$T_DIR/state-$i-b"
    restore_baseline "$i"
    destroy
done

# ---- the table: medians over the rounds
med() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
row() { # LABEL MERIDIAN BASELINE: the medians and baseline / meridian
    awk -v l="$1" -v a="$2" -v b="$3" 'BEGIN {
        printf "  %-40s %10s %10s %10s\n", l, a, b, (a > 0 && b != "-" ? sprintf("%.2f", b / a) : "-") }'
}
ms_s() { secs "$(med "$1")"; }
echo
echo "backup and restore, $KEYS keys of $VALUE_BYTES bytes (RDB $(awk -v b="${R[m_b_bytes]}" 'BEGIN { printf "%.0f", b / 1e6 }') MB), s3rver on loopback, $ROUNDS round(s) (medians)"
printf '  %-40s %10s %10s %10s\n' "" meridian baseline base/mrd
echo "  backup (baseline: BGSAVE on the leader, then curl -T)"
row "time (s)" "$(ms_s "${R[m_b_ms]}")" "$(ms_s "${R[b_b_ms]}")"
row "rate (MB/s)" "$(med "${R[m_b_rate]}")" "$(med "${R[b_b_rate]}")"
row "leader CPU, with its fork child (s)" "$(med "${R[m_b_cpu]}")" "$(med "${R[b_b_cpu]}")"
row "leader forks" "$(med "${R[m_b_forks]}")" "$(med "${R[b_b_forks]}")"
row "leader fork time (latest_fork_usec)" "$(med "${R[m_b_forkus]}")" "$(med "${R[b_b_forkus]}")"
row "replicas' forks" "$(med "${R[m_b_rforks]}")" "$(med "${R[b_b_rforks]}")"
row "replicas' fork time (latest_fork_usec)" "$(med "${R[m_b_rforkus]}")" "$(med "${R[b_b_rforkus]}")"
row "client CPU (meridian / curl, s)" "$(med "${R[m_b_client]}")" "$(med "${R[b_b_client]}")"
row "s3rver CPU (s)" "$(med "${R[m_b_s3]}")" "$(med "${R[b_b_s3]}")"
echo "  restore into an empty deployment (baseline: curl, leader stopped, dump.rdb, started)"
row "download (s)" "-" "$(ms_s "${R[b_r_dl]}")"
row "writable: loaded, a replica linked (s)" "$(ms_s "${R[m_r_writable]}")" "$(ms_s "${R[b_r_writable]}")"
row "every key on every node (s)" "$(ms_s "${R[m_r_all]}")" "$(ms_s "${R[b_r_all]}")"
row "healthy (meridian status, s)" "$(ms_s "${R[m_r_healthy]}")" "-"
row "leader's full syncs" "$(med "${R[m_r_full]}")" "$(med "${R[b_r_full]}")"
row "leader's forks (one RDB stream each)" "$(med "${R[m_r_forks]}")" "$(med "${R[b_r_forks]}")"
printf '  %-40s %10s\n' "floor: one redis-server loads it (s)" "$(ms_s "${R[f_r]}")"
echo "  base/mrd: baseline / meridian (time: above 1, meridian is faster)"
