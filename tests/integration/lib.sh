# lib.sh - shared by the integration tests (sourced, not run).
#
# Every test gets its own state dir and its own ports, so tests can run in
# parallel.  Every process a test starts is recorded by pid (from the pid
# files the agents and Redis write) and stopped by that pid on exit, even
# when an assertion fails.  Nothing here matches processes by name.

set -u
BUILD=${BUILD:?BUILD must name the build directory}
SRC=${SRC:?SRC must name the source directory}
MERIDIAN="$BUILD/meridian"
T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/meridian-test.XXXXXX")
T_STATE="$T_DIR/state"
T_FAILS=0
T_PIDS=()
T_DEPLOYS=()   # "TOPOLOGY|STATE" pairs that cleanup destroys

# MERIDIAN_TEST_TLS=1 runs a test against a deployment with tls.enabled
# (ctest's *_tls variants): write_topology adds the tls section, rcli_as
# and the writer verify the servers with the CA in $T_CA.
T_TLS=${MERIDIAN_TEST_TLS:-0}
T_CA="$T_STATE/secrets/tls/ca.crt"

say() { printf '# %s\n' "$*"; }

pass() { printf 'ok - %s\n' "$*"; }

fail() {
    printf 'FAIL - %s\n' "$*"
    T_FAILS=$((T_FAILS + 1))
}

# check DESCRIPTION COMMAND...: passes when COMMAND exits 0.
check() {
    local what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

# ok DESCRIPTION COMMAND...: check, counted in $checks (what the test
# passes to finish); bail MESSAGE: a failed check that ends the test.
ok() { checks=$((checks + 1)); check "$@"; }
bail() {
    fail "$*"
    finish "$checks"
    exit 1
}

# need_tools TOOL...: bail unless every TOOL is installed.
need_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null ||
            bail "$tool is not installed (scripts/install-deps.sh installs what the tests need)"
    done
}

# track TOPOLOGY STATE: cleanup will destroy that deployment.
track() { T_DEPLOYS+=("$1|$2"); }

# Record every pid named by a pid file under the test's folder.
record_pids() {
    local f pid
    while IFS= read -r f; do
        pid=$(cat "$f" 2>/dev/null) || continue
        [[ $pid =~ ^[0-9]+$ ]] && T_PIDS+=("$pid")
    done < <(find "$T_DIR" -name '*.pid' 2>/dev/null)
}

pid_alive() {
    local st
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $st && $st != Z && $st != X ]]
}

# Stop what the test started: first through meridian (by pid files), then
# any recorded pid that is still alive, by that pid.
cleanup() {
    local rc=$?
    # What a test made unremovable on purpose (parallel.sh)
    [[ -n ${T_IMMUTABLE:-} ]] && chattr -i "$T_IMMUTABLE" 2>/dev/null
    [[ -n ${T_READONLY_DIR:-} ]] && chmod 700 "$T_READONLY_DIR" 2>/dev/null
    record_pids
    [[ -n ${T_TOPO:-} ]] && track "$T_TOPO" "$T_STATE"
    local d pid
    for d in "${T_DEPLOYS[@]}"; do
        if [[ -d ${d#*|} ]]; then
            "$MERIDIAN" destroy "${d%%|*}" --state "${d#*|}" --yes >/dev/null 2>&1
        fi
    done
    for pid in "${T_PIDS[@]}"; do
        if pid_alive "$pid"; then
            kill -9 "$pid" 2>/dev/null
        fi
    done
    # MERIDIAN_TEST_KEEP=DIR: a failed test's folder (state, logs) is copied there
    if ((T_FAILS > 0)) && [[ -n ${MERIDIAN_TEST_KEEP:-} ]]; then
        mkdir -p "$MERIDIAN_TEST_KEEP" && cp -a "$T_DIR" "$MERIDIAN_TEST_KEEP/" 2>/dev/null
    fi
    rm -rf "$T_DIR"
    if ((T_FAILS > 0)); then
        printf '%d check(s) failed\n' "$T_FAILS"
        exit 1
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# npm_pinned NAME: the npm packages of tests/NAME, pinned by its lock
# file, installed once per build tree in $BUILD/NAME (tests running at once
# install it once: the first holds the lock).
npm_pinned() {
    local name=$1 dir="$BUILD/$1" lockfd
    command -v node >/dev/null && command -v npm >/dev/null ||
        { fail "node and npm are needed (scripts/install-deps.sh installs them)"; return 1; }
    exec {lockfd}>"$BUILD/$name.lock"
    flock "$lockfd"
    if ! cmp -s "$SRC/tests/$name/package-lock.json" "$dir/package-lock.json" ||
        [[ ! -d $dir/node_modules ]]; then
        mkdir -p "$dir"
        cp "$SRC/tests/$name/package.json" "$SRC/tests/$name/package-lock.json" "$dir/"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) ||
            { flock -u "$lockfd"; fail "npm ci of the pinned packages of tests/$name"; return 1; }
    fi
    flock -u "$lockfd"
}

# install_clients: the pinned client packages (tests/clients), in NODE_DIR.
install_clients() {
    NODE_DIR="$BUILD/clients"
    npm_pinned clients
}

# install_s3rver: the pinned S3-compatible test server (tests/s3: s3rver),
# in S3RVER_DIR.
install_s3rver() {
    S3RVER_DIR="$BUILD/s3"
    npm_pinned s3
}

# s3rver_start PORT DIR [BUCKET]: s3rver on 127.0.0.1:PORT only, its data
# in DIR, BUCKET (default meridian) created at start; its pid goes to
# T_PIDS (stopped by that pid on exit) and to S3RVER_PID.  Returns once it
# answers (at most 15 s).  It accepts any secret for its one access key,
# S3RVER (s3rver 3.7.1 does not check signatures).
s3rver_start() {
    local port=$1 dir=$2 bucket=${3:-meridian}
    install_s3rver || return 1
    mkdir -p "$dir"
    node "$S3RVER_DIR/node_modules/s3rver/bin/s3rver.js" --address 127.0.0.1 --port "$port" \
        --directory "$dir" --silent --configure-bucket "$bucket" >"$dir.log" 2>&1 &
    S3RVER_PID=$!
    T_PIDS+=("$S3RVER_PID")
    wait_for 15 curl -s -o /dev/null "http://127.0.0.1:$port/" ||
        { fail "s3rver did not answer on 127.0.0.1:$port: $(tail -5 "$dir.log")"; return 1; }
}

# deploy_sentinel_test NAME: deploy $T_TOPO (a write_topology layout named
# NAME on BASE) or end the test; then ADMIN, adm (redis-cli as admin) and
# leader (the address the sentinels name) are set.
deploy_sentinel_test() {
    T_NAME=$1
    "$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/deploy.out" 2>&1 ||
        { cat "$T_DIR/deploy.out"; fail "deploy"; exit 1; }
    record_pids
    ADMIN=$(cat "$T_STATE/secrets/admin.pass")
}
adm() { rcli_as admin "$ADMIN" "$@"; }
leader() { adm -h 127.0.2.1 -p "$SPORT" sentinel get-master-addr-by-name "$T_NAME" | head -1; }

# sentinel_writer_start MASTER PREFIX: an independent application writing
# through the sentinels on SPORT (ioredis, tests/clients/ioredis-writer.js:
# SET PREFIX:<seq> then WAIT 1) as the app user, once it has made its first
# acknowledged write; its acknowledged writes go to $T_DIR/PREFIX.acked.
# sentinel_writer_stop PREFIX stops it and prints its summary;
# sentinel_writer_lost PREFIX ADDR prints how many of them ADDR:$BASE lacks.
# (install_clients first.)
sentinel_writer_start() {
    rm -f "$T_DIR/$2.stop"
    local ca=""
    [[ $T_TLS == 1 ]] && ca=$T_CA
    SENTINELS="127.0.1.1:$SPORT,127.0.2.1:$SPORT,127.0.3.1:$SPORT" MASTER=$1 CA_FILE=$ca \
        APP_PASS_FILE="$T_STATE/secrets/app.pass" NODE_PATH="$NODE_DIR/node_modules" \
        node "$SRC/tests/clients/ioredis-writer.js" ioredis5 "$2" "$T_DIR/$2.stop" \
        >"$T_DIR/$2.acked" 2>"$T_DIR/$2.err" &
    T_WRITER=$!
    T_PIDS+=("$T_WRITER")
    wait_for 10 test -s "$T_DIR/$2.acked" || fail "the client wrote nothing"
}
sentinel_writer_stop() {
    sleep 1
    touch "$T_DIR/$1.stop"
    wait "$T_WRITER"
    cat "$T_DIR/$1.err"
}
sentinel_writer_lost() {
    awk -v p="$1" '{printf "GET %s:%s\n", p, $2}' "$T_DIR/$1.acked" |
        rcli_as admin "$ADMIN" -h "$2" -p "$BASE" | awk 'NF == 0 {n++} END {print n + 0}'
}

# ---- the agents' API ($APORT), over http:// or, with tls.enabled, https://

# agent_tls: the deployment under test ($T_TOPO) has tls.enabled.
agent_tls() { [[ -n ${T_TOPO:-} ]] && jq -e '.tls.enabled == true' "$T_TOPO" >/dev/null 2>&1; }

# agent_url ADDR PATH: the URL of PATH on the agent at ADDR:$APORT.
agent_url() {
    local scheme=http
    agent_tls && scheme=https
    printf '%s://%s:%s%s' "$scheme" "$1" "$APORT" "$2"
}

# agent_curl ADDR PATH [CURL ARGS...]: curl of agent_url ADDR PATH; with TLS
# it trusts the deployment's CA ($T_CA: --cacert) and checks that the
# certificate names ADDR, as meridian does.
agent_curl() {
    local addr=$1 path=$2 tls=()
    shift 2
    agent_tls && tls=(--cacert "$T_CA")
    curl "${tls[@]}" "$@" "$(agent_url "$addr" "$path")"
}

# agent_auth_hdr [TOKEN_FILE]: $T_DIR/auth.hdr (0600), the header that
# carries the agent token (default: the state dir's), for curl -H @FILE:
# the token never goes on a command line.
agent_auth_hdr() {
    printf 'Authorization: Bearer %s\n' "$(cat "${1:-$T_STATE/secrets/agent.token}")" \
        >"$T_DIR/auth.hdr"
    chmod 600 "$T_DIR/auth.hdr"
}

# agent_api METHOD ADDR PATH [CURL ARGS...]: METHOD PATH on the agent at
# ADDR; the body goes to $T_DIR/body, the HTTP status is printed.
agent_api() {
    local method=$1 addr=$2 path=$3
    shift 3
    agent_curl "$addr" "$path" -s -o "$T_DIR/body" -w '%{http_code}' -X "$method" "$@"
}

# write_topology FILE NAME PORT_BASE: the local three-region
# layout (2 hosts per region, one zone per host) on ports
# PORT_BASE (store), PORT_BASE+10000 (sentinel), PORT_BASE+1000 (agent).
write_topology() {
    local file=$1 name=$2 base=$3
    cat >"$file" <<JSON
{
  "name": "$name",
  "mode": "sentinel",
  "transport": { "kind": "local" },
  "store": { "port": $base, "leader_region": "us-east", "maxmemory": "64mb", "repl_backlog": "16mb" },
  "sentinel": { "count": 3, "port": $((base + 10000)), "down_after_ms": 1000, "failover_timeout_ms": 6000 },
  "consistency": { "min_replicas_to_write": 1, "min_replicas_max_lag_s": 5, "wait_replicas": 1 },
  "agent": { "port": $((base + 1000)), "interval_ms": 500 },
  "tls": { "enabled": $([[ $T_TLS == 1 ]] && echo true || echo false) },
  "regions": [
    { "name": "us-east", "zones": [
      { "name": "us-east-a", "hosts": [ { "name": "use-a1", "address": "127.0.1.1" } ] },
      { "name": "us-east-b", "hosts": [ { "name": "use-b1", "address": "127.0.1.2" } ] } ] },
    { "name": "eu-west", "zones": [
      { "name": "eu-west-a", "hosts": [ { "name": "euw-a1", "address": "127.0.2.1" } ] },
      { "name": "eu-west-b", "hosts": [ { "name": "euw-b1", "address": "127.0.2.2" } ] } ] },
    { "name": "ap-south", "zones": [
      { "name": "ap-south-a", "hosts": [ { "name": "aps-a1", "address": "127.0.3.1" } ] },
      { "name": "ap-south-b", "hosts": [ { "name": "aps-b1", "address": "127.0.3.2" } ] } ] }
  ]
}
JSON
}

# write_cluster_topology FILE NAME PORT_BASE: regions/local-cluster.json's
# layout (3 regions x 2 hosts, 3 shards, 2 replicas each) on ports
# PORT_BASE.. (nodes), PORT_BASE+10000.. (their cluster bus) and
# PORT_BASE+1000 (agent).
write_cluster_topology() {
    local file=$1 name=$2 base=$3
    jq --arg name "$name" --argjson base "$base" '
        .name = $name | .store.port = $base | .store.maxmemory = "64mb" |
        .store.repl_backlog = "16mb" | .agent.port = $base + 1000 | .agent.interval_ms = 500 |
        .cluster.node_timeout_ms = 2000 | .tls.enabled = ($tls == "1")' \
        --arg tls "$T_TLS" "$SRC/regions/local-cluster.json" >"$file"
}

# redis-cli as a given user, the password through the environment; over
# TLS, verified with $T_CA, when the test runs with TLS.
rcli_as() {
    local user=$1 pass=$2
    shift 2
    local tls=()
    [[ $T_TLS == 1 ]] && tls=(--tls --cacert "$T_CA")
    REDISCLI_AUTH=$pass redis-cli "${tls[@]}" --no-auth-warning --user "$user" "$@"
}

# finish: print the plain closing line and exit with the verdict.
finish() {
    local total=$1
    printf '%d passed, %d failed\n' $((total - T_FAILS)) "$T_FAILS"
}

# write_single FILE NAME PORT_BASE: one host, one sentinel, survive "none".
write_single() {
    local file=$1 name=$2 base=$3
    cat >"$file" <<JSON
{
  "name": "$name",
  "survive": "none",
  "store": { "port": $base, "leader_region": "solo", "maxmemory": "64mb", "repl_backlog": "16mb" },
  "sentinel": { "count": 1, "port": $((base + 10000)), "down_after_ms": 1000, "failover_timeout_ms": 6000 },
  "consistency": { "min_replicas_to_write": 0, "wait_replicas": 0 },
  "agent": { "port": $((base + 1000)), "interval_ms": 500 },
  "regions": [
    { "name": "solo", "zones": [
      { "name": "solo-a", "hosts": [ { "name": "solo1", "address": "127.0.1.1" } ] } ] }
  ]
}
JSON
}

# ==== redis-server processes a test runs itself (snapshot.sh, tls_store.sh) ====

# redis_conf NAME LINE...: $T_DIR/NAME/redis.conf, mode 0600 (it holds
# passwords): a server in the foreground with its pid file, log and data
# in $T_DIR/NAME, no persistence, diskless replication without delay, then
# the LINEs (bind, ports, users, TLS...; a later line overrides an earlier
# one).
redis_conf() {
    local dir=$T_DIR/$1
    shift
    mkdir -p "$dir"
    (
        umask 077
        printf '%s\n' "dir $dir" "daemonize no" "pidfile $dir/redis.pid" \
            "logfile $dir/redis.log" 'save ""' "appendonly no" "repl-diskless-sync yes" \
            "repl-diskless-sync-delay 0" "$@" >"$dir/redis.conf"
    )
    chmod 0600 "$dir/redis.conf"
}

# redis_start NAME: run NAME's redis-server (redis_conf) in the background;
# its pid goes to REDIS_PID[NAME] and T_PIDS (disowned: the shell does not
# report its end when cleanup kills it).
declare -A REDIS_PID
redis_start() {
    redis-server "$T_DIR/$1/redis.conf" >/dev/null 2>&1 &
    REDIS_PID[$1]=$!
    T_PIDS+=("$!")
    disown "$!"
}

# ==== drills (drill.sh, ssh_drill.sh): $T_TOPO deployed with state $T_STATE ====

# status_json: `meridian status --json` into $T_DIR/st.json.
status_json() { "$MERIDIAN" status "$T_TOPO" --state "$T_STATE" --json >"$T_DIR/st.json" 2>/dev/null; }
# region_of HOST: that host's region, from $T_DIR/st.json.
region_of() { jq -r --arg h "$1" '.nodes[] | select(.host == $h) | .region' "$T_DIR/st.json"; }
# field KEY NAME: KEY of the report.json of drill NAME.
field() { jq -r ".$1" "$T_DIR/$2/report.json"; }

# drill NAME ARGS...: run a short drill into $T_DIR/NAME (stdout and
# stderr in $T_DIR/NAME.out and .err); its exit code in $rc, then
# status_json.
drill() {
    local name=$1
    shift
    "$MERIDIAN" drill "$T_TOPO" "$@" --state "$T_STATE" --out "$T_DIR/$name" \
        --duration 6 --rate 100 --wait >"$T_DIR/$name.out" 2>"$T_DIR/$name.err"
    rc=$?
    record_pids
    [[ $rc -eq 0 ]] || { say "drill $name exited $rc"; tail -20 "$T_DIR/$name.err"; }
    status_json
}

# now_ms: wall clock in milliseconds.
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# wait_for SECONDS COMMAND...: poll until COMMAND succeeds (5 times a
# second); false when it has not within SECONDS.
wait_for() {
    local deadline=$(($(date +%s) + $1))
    shift
    until "$@"; do
        (($(date +%s) >= deadline)) && return 1
        sleep 0.2
    done
}

# ==== a region cut off (cluster mode; bench/cluster-partition.sh,
# cluster_fence.sh) ====

# partition: an nftables table $TABLE that drops every TCP packet between
# us-east's addresses (127.0.1.1, 127.0.1.2) and the writer's (127.0.1.250)
# and any other address, on the deployment's ports of $BASE only (nodes
# BASE and BASE+1, their bus, the agent).  unpartition removes it; the
# caller does so in a trap on every exit.
unpartition() { printf 'add table inet %s\ndelete table inet %s\n' "$TABLE" "$TABLE" | nft -f -; }
partition() {
    local p=$BASE
    nft -f - <<NFT
table inet $TABLE {
  set inside { type ipv4_addr; elements = { 127.0.1.1, 127.0.1.2, 127.0.1.250 } }
  set ports { type inet_service; elements = { $p, $((p + 1)), $((p + 10000)), $((p + 10001)), $((p + 1000)) } }
  chain output {
    type filter hook output priority 0; policy accept;
    ip saddr @inside ip daddr != @inside tcp dport @ports drop
    ip saddr @inside ip daddr != @inside tcp sport @ports drop
    ip daddr @inside ip saddr != @inside tcp dport @ports drop
    ip daddr @inside ip saddr != @inside tcp sport @ports drop
  }
  chain input {
    type filter hook input priority 0; policy accept;
    ip saddr @inside ip daddr != @inside tcp dport @ports drop
    ip saddr @inside ip daddr != @inside tcp sport @ports drop
    ip daddr @inside ip saddr != @inside tcp dport @ports drop
    ip daddr @inside ip saddr != @inside tcp sport @ports drop
  }
}
NFT
}

# inside_writer OUT SECONDS: from 127.0.1.250 (inside the partition) to
# use-a1's node on $BASE as app ($APP), SET {$tag}:<seq> + WAIT 1 200
# every ~10 ms, one line per attempt: "<unix ms> ok <seq>", else
# "<unix ms> <error ...>".
inside_writer() {
    APP_PASS=$APP python3 - "$1" "$2" "$BASE" "$tag" <<'PY'
import os, socket, sys, time
out, secs, port, tag = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def cmd(*a):
    return b"".join([b"*%d\r\n" % len(a)] + [b"$%d\r\n%s\r\n" % (len(x), x) for x in
                     (s if isinstance(s, bytes) else str(s).encode() for s in a)])
def conn():
    s = socket.socket()
    s.settimeout(1.0)
    s.bind(("127.0.1.250", 0))
    s.connect(("127.0.1.1", port))
    s.sendall(cmd("AUTH", "app", os.environ["APP_PASS"]))
    f = s.makefile("rb")
    f.readline()
    return s, f
end = time.time() + secs
seq = 0
with open(out, "w") as o:
    s = f = None
    while time.time() < end:
        seq += 1
        try:
            if s is None:
                s, f = conn()
            s.sendall(cmd("SET", "{%s}:%d" % (tag, seq), seq) + cmd("WAIT", 1, 200))
            a = f.readline().strip().decode()
            b = f.readline().strip().decode()
            ok = a == "+OK" and b.startswith(":") and int(b[1:]) >= 1
            o.write("%d %s %d\n" % (time.time() * 1000, "ok" if ok else (a + " " + b), seq))
        except Exception as e:
            o.write("%d %s\n" % (time.time() * 1000, type(e).__name__))
            s = f = None
        o.flush()
        time.sleep(0.01)
PY
}

# ==== cluster mode on regions/local-cluster.json's layout (cluster_fastpath.sh,
# cluster_replica_failover.sh): the test sets BASE (store.port), ADMIN and
# APP (the passwords) and calls cluster_nodes "$BASE" ====

declare -A HOST_OF=([127.0.1.1]=use-a1 [127.0.1.2]=use-b1 [127.0.2.1]=euw-a1
                    [127.0.2.2]=euw-b1 [127.0.3.1]=aps-a1 [127.0.3.2]=aps-b1)
NODES=()
# cluster_nodes BASE: NODES gets every node of the layout, ADDR:PORT
cluster_nodes() {
    local a
    NODES=()
    for a in 127.0.1.1 127.0.1.2 127.0.2.1 127.0.2.2 127.0.3.1 127.0.3.2; do
        NODES+=("$a:$1" "$a:$(($1 + 1))")
    done
}
# pid_file ADDR:PORT: that node's pid file
pid_file() {
    local a=${1%:*} p=${1#*:} d=redis
    [[ $p == "$BASE" ]] || d=redis-$p
    echo "$T_STATE/hosts/${HOST_OF[$a]}/$d/redis.pid"
}
# view: CLUSTER NODES of the first node that answers
view() {
    local n
    for n in "${NODES[@]}"; do
        rcli_as admin "$ADMIN" -h "${n%:*}" -p "${n#*:}" cluster nodes 2>/dev/null && return 0
    done
    return 1
}
# master_of FIRST_SLOT: ADDR:PORT of the live master whose slots start there
master_of() {
    view | awk -v s="$1" '$3 ~ /master/ && $3 !~ /fail/ {
        for (i = 9; i <= NF; i++) { split($i, r, "-"); if (r[1] == s) { split($2, a, "@"); print a[1] } } }'
}
# tag_in LO HI: a hash tag whose slot is in LO..HI
tag_in() {
    local i s
    for i in $(seq 0 200); do
        s=$(rcli_as admin "$ADMIN" -h 127.0.2.1 -p "$BASE" cluster keyslot "t$i")
        ((s >= $1 && s <= $2)) && { echo "t$i"; return; }
    done
}

# writer TAG LOG: SET {TAG}:<seq> then WAIT 1 500 on the node that serves
# the tag's slot (following MOVED, trying the next node when one refuses),
# one line per attempt "<unix ms> <seq> ok|fail", until $T_DIR/stop exists.
writer() {
    local tag=$1 log=$2 seq=0 cur=127.0.2.1:$BASE k=0 out t
    while [[ ! -e $T_DIR/stop ]]; do
        seq=$((seq + 1))
        out=$(printf 'SET {%s}:%d %d\nWAIT 1 500\n' "$tag" "$seq" "$seq" |
            rcli_as app "$APP" -h "${cur%:*}" -p "${cur#*:}" 2>&1 | tr -d '\r')
        t=${EPOCHREALTIME/./}
        t=$((t / 1000))
        if [[ $out =~ ^OK$'\n'([0-9]+)$ ]] && ((BASH_REMATCH[1] >= 1)); then
            echo "$t $seq ok"
        else
            echo "$t $seq fail"
            if [[ $out =~ MOVED\ [0-9]+\ ([0-9.]+:[0-9]+) ]]; then
                cur=${BASH_REMATCH[1]}
            elif [[ ! $out =~ ^OK ]]; then
                k=$(((k + 1) % ${#NODES[@]}))
                cur=${NODES[$k]}
                sleep 0.005
            fi
        fi
    done >"$log"
}

# start_writer TAG LOG: writer TAG LOG in the background (pid in WPID,
# stopped by the trap too), once it has an acknowledgement (the test fails
# when it has none within 10 s); stop_writer stops it and waits for it.
start_writer() {
    rm -f "$T_DIR/stop"
    writer "$1" "$2" &
    WPID=$!
    T_PIDS+=("$WPID")
    wait_for 10 grep -q ' ok$' "$2" || fail "the writer never got an acknowledgement"
}
stop_writer() {
    touch "$T_DIR/stop"
    wait "$WPID"
}

# lost_writes TAG LOG ADDR:PORT: how many of the writes LOG (writer's) has
# as acknowledged the node at ADDR:PORT does not have (redis-cli -c: it
# follows MOVED)
lost_writes() {
    awk -v t="$1" '$3 == "ok" {printf "GET {%s}:%s\n", t, $2}' "$2" |
        rcli_as admin "$ADMIN" -c -h "${3%:*}" -p "${3#*:}" | grep -c '^$'
}
