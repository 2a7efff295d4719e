#!/usr/bin/env bash
# bench/tls.sh [ROUNDS]: what TLS on every link costs, TLS on against TLS
# off in the same run, on the three-region local topology (6 hosts), each
# round on fresh deployments, the two modes alternating:
#
#   kill-leader     the drill's failover_ms and write_unavailable_ms
#                   (down_after_ms 1000, crash fast path on)
#   rebuild         a replica-loss drill on a store loaded with KEYS keys
#                   (VALUE_BYTES each): heal_ms, the time from the heal's
#                   start until the rebuilt replica is back (snapshot
#                   fetched from its peer over TLS, then a partial resync)
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

ROUNDS=${1:-3}
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
        drill_into "rebuild-$mode-$i" replica-loss
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
        printf "  %-28s %10s %10s %8s\n", l, a, b, a > 0 ? sprintf("%.2f", b / a) : "-" }'
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
