#!/usr/bin/env bash
# bench/tls.sh [ROUNDS]: what TLS on every link costs, TLS on against TLS
# off in the same run, on the three-region local topology (6 hosts), each
# round on fresh deployments, the two modes alternating:
#
#   kill-leader     the drill's failover_ms and write_unavailable_ms
#                   (down_after_ms 1000, crash fast path on)
#   rebuild         on a store loaded with KEYS keys (VALUE_BYTES each),
#                   euw-b1's agent loop stopped, its redis-server killed
#                   (by pid) and its data dir removed, then `meridian-agent
#                   check --heal`: the time until euw-b1 is linked, not
#                   syncing and within 1 MiB of the leader (snapshot
#                   fetched from euw-a1, then a partial resync)
#   status          `meridian status --json` on the healthy deployment:
#                   median time and peak RSS of STATUS_RUNS calls
#
# Prints medians per mode and the ratios TLS / plain.  Targets: failover
# <= 1.2, rebuild <= 1.5.
# Environment: KEYS (200000), VALUE_BYTES (180), STATUS_RUNS (10).
# Ports: 28000 (plain) and 28200 (TLS): nodes, +1000 agents, +10000
# sentinels.
BUILD=${BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
SRC=${SRC:-$(cd "$(dirname "$0")/.." && pwd)}
export BUILD SRC
source "$SRC/tests/integration/lib.sh"

ROUNDS=${1:-5}
KEYS=${KEYS:-200000}
VALUE_BYTES=${VALUE_BYTES:-180}
STATUS_RUNS=${STATUS_RUNS:-10}

# use MODE: the topology, state and CA of MODE (plain or tls) for round I
use() {
    local mode=$1 i=$2 base=28000
    [[ $mode == tls ]] && base=28200
    T_TLS=0
    [[ $mode == tls ]] && T_TLS=1
    BASE=$base
    TOPO="$T_DIR/$mode.json"
    STATE="$T_DIR/state-$mode-$i"
    T_CA="$STATE/secrets/tls/ca.crt"
    write_topology "$TOPO" "benchtls$mode" "$base"
    # room for the keys, and a backlog that keeps the rebuild a partial resync
    sed -i -e 's/"maxmemory": "64mb"/"maxmemory": "1gb"/' \
        -e 's/"repl_backlog": "16mb"/"repl_backlog": "128mb"/' "$TOPO"
    track "$TOPO" "$STATE"
}

deploy() {
    "$MERIDIAN" deploy "$TOPO" --state "$STATE" >"$T_DIR/deploy.out" 2>&1 ||
        { cat "$T_DIR/deploy.out"; exit 1; }
    record_pids
    sleep 1.5 # the agents' first passes: every node ready
}

destroy() { "$MERIDIAN" destroy "$TOPO" --state "$STATE" --yes >/dev/null 2>&1; }

# drill_into NAME SCENARIO: a drill, its report.json kept as NAME.json
drill_into() {
    local out="$T_DIR/out-$1"
    "$MERIDIAN" drill "$TOPO" "$2" --state "$STATE" --out "$out" --duration 8 --rate 200 \
        >/dev/null 2>"$T_DIR/drill.err"
    record_pids
    [[ -f $out/report.json ]] || { tail -5 "$T_DIR/drill.err"; exit 1; }
    cp "$out/report.json" "$T_DIR/$1.json"
}

# load: KEYS keys of VALUE_BYTES through the leader
load() {
    local pass value
    pass=$(cat "$STATE/secrets/admin.pass")
    value=$(head -c "$VALUE_BYTES" /dev/zero | tr '\0' v)
    awk -v n="$KEYS" -v v="$value" 'BEGIN { for (i = 1; i <= n; i++)
        printf "*3\r\n$3\r\nSET\r\n$%d\r\nkey:%d\r\n$%d\r\n%s\r\n", length("key:" i), i,
            length(v), v }' | rcli_as admin "$pass" -h 127.0.1.1 -p "$BASE" --pipe >/dev/null
}

# info_of ADDR FIELD: FIELD of INFO replication on ADDR:BASE
info_of() {
    rcli_as admin "$(cat "$STATE/secrets/admin.pass")" -h "$1" -p "$BASE" info replication |
        tr -d '\r' | awk -F: -v k="$2" '$1 == k {print $2}'
}
# rebuilt: euw-b1 linked to the leader (use-a1), not syncing, lag <= 1 MiB
rebuilt() {
    local off lead
    [[ $(info_of 127.0.2.2 master_link_status) == up &&
        $(info_of 127.0.2.2 master_sync_in_progress) == 0 ]] || return 1
    off=$(info_of 127.0.2.2 slave_repl_offset)
    lead=$(info_of 127.0.1.1 master_repl_offset)
    [[ $off =~ ^[0-9]+$ && $lead =~ ^[0-9]+$ ]] && ((lead - off <= 1048576))
}
# rebuild NAME: lose euw-b1's node, rebuild it with the agent's heal; the
# milliseconds in $T_DIR/NAME.json as {"heal_ms": N}
rebuild() {
    local m="$STATE/hosts/euw-b1/manifest.json" pid t0 t1
    "$BUILD/meridian-agent" stop --manifest "$m" --agent-only >/dev/null 2>&1 ||
        { echo "agent stop failed" >&2; exit 1; }
    pid=$(cat "$STATE/hosts/euw-b1/redis/redis.pid")
    kill -9 "$pid"
    while pid_alive "$pid"; do sleep 0.02; done
    rm -rf "$STATE/hosts/euw-b1/redis/data"
    t0=$(now_ms)
    # its exit code is the host's health after the pass: judged below
    "$BUILD/meridian-agent" check --manifest "$m" --heal >/dev/null 2>"$T_DIR/check.err"
    record_pids
    wait_for 180 rebuilt || { tail -3 "$T_DIR/check.err"; echo "euw-b1 not rebuilt" >&2; exit 1; }
    grep -q "+partial-resync" "$T_DIR/check.err" ||
        { tail -3 "$T_DIR/check.err"; echo "euw-b1 was not rebuilt with a partial resync" >&2; exit 1; }
    t1=$(now_ms)
    echo "{\"heal_ms\": $((t1 - t0))}" >"$T_DIR/$1.json"
}

# status_runs TAG: STATUS_RUNS timed calls; appends µs and RSS to TAG's files
status_runs() {
    local t0 t1
    for ((k = 0; k < STATUS_RUNS; k++)); do
        t0=$(date +%s%N)
        /usr/bin/time -f '%M' -o "$T_DIR/rss" "$MERIDIAN" status "$TOPO" --state "$STATE" \
            --json >/dev/null 2>&1
        t1=$(date +%s%N)
        echo $(((t1 - t0) / 1000)) >>"$T_DIR/$1.status-us"
        tail -1 "$T_DIR/rss" >>"$T_DIR/$1.status-rss"
    done
}

for ((i = 1; i <= ROUNDS; i++)); do
    for mode in plain tls; do
        use "$mode" "$i"
        deploy
        status_runs "$mode"
        drill_into "kill-$mode-$i" kill-leader
        destroy
        use "$mode" "$i-b"
        deploy
        load
        rebuild "rebuild-$mode-$i"
        destroy
        printf '# round %d %-5s: failover %s ms, unavailable %s ms, acked lost %s; rebuild %s ms\n' \
            "$i" "$mode" "$(jq -r .failover_ms "$T_DIR/kill-$mode-$i.json")" \
            "$(jq -r .write_unavailable_ms "$T_DIR/kill-$mode-$i.json")" \
            "$(jq -r .acked_writes_lost "$T_DIR/kill-$mode-$i.json")" \
            "$(jq -r .heal_ms "$T_DIR/rebuild-$mode-$i.json")"
    done
done

# median KIND MODE FIELD: the median of FIELD over the rounds' reports
median() {
    jq -s --arg f "$3" '[.[] | .[$f] // -1] | sort | .[(length - 1) / 2 | floor]' \
        "$T_DIR"/"$1"-"$2"-[0-9]*.json
}
smedian() { sort -n "$T_DIR/$1.status-us" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
speak() { sort -n "$T_DIR/$1.status-rss" | tail -1; }

echo
echo "TLS on every link against plaintext, $ROUNDS rounds each, $KEYS keys of $VALUE_BYTES bytes for the rebuild (medians)"
printf '  %-28s %10s %10s %8s\n' "" "plain" "TLS" "TLS/plain"
row() { # LABEL PLAIN TLS
    awk -v l="$1" -v a="$2" -v b="$3" 'BEGIN {
        printf "  %-28s %10s %10s %8s\n", l, a, b, (a > 0 ? sprintf("%.2f", b / a) : "-") }'
}
row "failover (ms)" "$(median kill plain failover_ms)" "$(median kill tls failover_ms)"
row "writes unavailable (ms)" "$(median kill plain write_unavailable_ms)" \
    "$(median kill tls write_unavailable_ms)"
row "acked writes lost (total)" \
    "$(jq -s '[.[].acked_writes_lost] | add' "$T_DIR"/kill-plain-*.json)" \
    "$(jq -s '[.[].acked_writes_lost] | add' "$T_DIR"/kill-tls-*.json)"
row "replica rebuild (ms)" "$(median rebuild plain heal_ms)" "$(median rebuild tls heal_ms)"
per() { awk -v x="$1" -v d="$2" 'BEGIN { printf "%.1f", x / d }'; }
row "status (ms)" "$(per "$(smedian plain)" 1000)" "$(per "$(smedian tls)" 1000)"
row "status peak RSS (MB)" "$(per "$(speak plain)" 1024)" "$(per "$(speak tls)" 1024)"
echo "  targets: failover TLS/plain <= 1.2, rebuild TLS/plain <= 1.5"
