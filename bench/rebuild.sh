#!/usr/bin/env bash
# bench/rebuild.sh: rebuild a lost replica of a loaded store under a steady
# write load, two ways in the same run, and compare what it costs the leader.
#
#   1. meridian: `meridian-agent check --heal` restores euw-b1 from a
#      snapshot of its same-region peer euw-a1, then Redis asks the leader
#      only for the writes since that snapshot (a partial resync).
#   2. baseline (what other tools do): start a fresh redis-server with the
#      node's own redis.conf (it has `replicaof <leader>`) on an empty data
#      dir: the leader sends the whole dataset (a full sync).
#
# Both start from the same loss: euw-b1's agent stopped, its redis-server
# killed with SIGKILL (by pid) and its data dir removed.  The background
# writer runs SETs through the leader during both rebuilds.
#
# Measures, from the leader's INFO taken just before and just after each
# rebuild (the replica counts as lost from the "before" snapshot on):
#   * leader bytes for the rebuild = delta of total_net_repl_output_bytes
#     minus the live replication stream to the 4 other replicas over the
#     same interval, approximated as 4 x delta of master_repl_offset (every
#     byte added to the stream goes to each connected replica; the
#     approximation is off by what sits in their output buffers at the two
#     instants, a few kB at these rates).  What remains is what the leader
#     sent to euw-b1: the RDB (full sync) or the backlog delta (partial),
#     plus the live stream euw-b1 got between linking up and "after".
#   * cross-check, exact: euw-b1's own total_net_repl_input_bytes when ready
#     (a fresh process in both methods, so it counts every byte it read from
#     the leader since it started).
#   * leader sync_full and sync_partial_ok deltas (target: sync_full +0 for
#     meridian).
#   * time from the start of the rebuild until the replica is ready: its
#     master_link_status is up, no sync in progress, and its
#     slave_repl_offset is within 1 MiB of the leader's master_repl_offset
#     (meridian: the `check --heal` exit, then the same condition).
# The snapshot meridian fetched from euw-a1 is not sent by the leader; its
# size (from the +snapshot-fetched event) is printed alongside.
#
# Parameters (environment): KEYS (1000000), VALUE_BYTES (180), RATE (writer
# SETs/s, 1000), WRITER_MAX_S (240: the writer stops by itself after that),
# BACKLOG ("256mb"), MAXMEMORY ("1gb"), PORT_BASE (16860), READY_TIMEOUT_S
# (180), CHUNKS (10: the load is sent in this many redis-cli --pipe runs),
# KEEP_LOGS (a folder: keep euw-b1's redis.log of each rebuild and the check
# report there), WAN (unset: no shaping; see below).
#
# WAN=RATE (e.g. 100mbit, as root): the links between regions get that
# bandwidth (bench/wan.sh: one htb class per ordered pair of regions
# 127.0.R.0/24 -> 127.0.S.0/24, only for this run's three ports, so other
# deployments on the machine keep a fast loopback), from after the load
# until both rebuilds are measured; same-region traffic stays unshaped.
# The leader (use-a1, us-east: store.leader_region) is in another region
# than the lost replica euw-b1 and its peer euw-a1 (eu-west), so the
# baseline's full sync crosses the shaped us-east -> eu-west link while
# meridian's snapshot fetch stays in eu-west.  The report prints each shaped
# class's bytes during each rebuild (the baseline's RDB must show in
# 1->2), and the run fails when it does not.
# Targets: bytes meridian/baseline <= 1%, time meridian/baseline <= 1
# (<= 0.3 under WAN).
# Both depend on the run: meridian's bytes are the writes made between the
# snapshot and the rejoin (RATE x a few seconds), and Redis 7.0 connects a
# node that first loaded an RDB only at its next replication cron (once a
# second), so meridian's time varies by up to ~1 s from run to run; the last
# lines say where the time went (from euw-b1's redis.log).
BUILD=${BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
SRC=${SRC:-$(cd "$(dirname "$0")/.." && pwd)}
export BUILD SRC
source "$SRC/tests/integration/lib.sh"

KEYS=${KEYS:-1000000}
VALUE_BYTES=${VALUE_BYTES:-180}
RATE=${RATE:-1000}
WRITER_MAX_S=${WRITER_MAX_S:-240}
BACKLOG=${BACKLOG:-256mb}
MAXMEMORY=${MAXMEMORY:-1gb}
BASE=${PORT_BASE:-16860}
READY_TIMEOUT_S=${READY_TIMEOUT_S:-180}
CHUNKS=${CHUNKS:-10}
WAN=${WAN:-}
AGENT="$BUILD/meridian-agent"
NAME=benchrebuild
LEADER=127.0.1.1
EUWA=127.0.2.1
EUWB=127.0.2.2
LAG_OK=$((1024 * 1024))
T_TOPO="$T_DIR/rebuild.json"
T0_RUN=$(now_ms)

BENCH=rebuild
source "$SRC/bench/lib.sh"

# region_of_addr 127.0.R.H: R
region_of_addr() { local r=${1#127.0.}; echo "${r%%.*}"; }
L_REG=$(region_of_addr "$LEADER")
E_REG=$(region_of_addr "$EUWB")
if [[ -n $WAN ]]; then
    source "$SRC/bench/wan.sh"
    wan_check || die "WAN=$WAN: cannot shape lo (see above)"
    ((L_REG != E_REG && L_REG != $(region_of_addr "$EUWA"))) ||
        die "WAN: the leader ($LEADER) must be in another region than euw-a1 and euw-b1"
fi

# The lib's three-region layout, with a backlog that covers the writes made
# during a rebuild and room for the dataset.
write_topology "$T_TOPO" "$NAME" "$BASE"
sed -i -e "s/\"maxmemory\": \"64mb\"/\"maxmemory\": \"$MAXMEMORY\"/" \
    -e "s/\"repl_backlog\": \"16mb\"/\"repl_backlog\": \"$BACKLOG\"/" "$T_TOPO"
grep -q "\"repl_backlog\": \"$BACKLOG\"" "$T_TOPO" || die "could not set repl_backlog"

progress "deploy the three-region topology on port $BASE (backlog $BACKLOG, maxmemory $MAXMEMORY)"
"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/deploy.out" 2>&1 ||
    { cat "$T_DIR/deploy.out"; die "deploy failed"; }
record_pids
ADMIN=$(cat "$T_STATE/secrets/admin.pass")
adm() { rcli_as admin "$ADMIN" "$@"; }
leader0=$(adm -h "$EUWA" -p $((BASE + 10000)) sentinel get-master-addr-by-name "$NAME" 2>/dev/null | head -1)
[[ $leader0 == "$LEADER" ]] || die "the sentinels name '$leader0' as the leader, not $LEADER (use-a1)"
progress "leader use-a1 $LEADER (us-east); lost replica euw-b1 $EUWB and its peer euw-a1 $EUWA (eu-west)"
manifest() { echo "$T_STATE/hosts/$1/manifest.json"; }
CONF="$T_STATE/hosts/euw-b1/redis/redis.conf"
DATA="$T_STATE/hosts/euw-b1/redis/data"
PIDFILE="$T_STATE/hosts/euw-b1/redis/redis.pid"
REPLICAS="127.0.1.2 $EUWA $EUWB 127.0.3.1 127.0.3.2"

# info_get ADDR FIELD...: the fields of one INFO call, space-separated, in
# order ("-" when absent).
info_get() {
    local addr=$1
    shift
    adm -h "$addr" -p "$BASE" info 2>/dev/null | tr -d '\r' |
        awk -F: -v want="$*" 'BEGIN { n = split(want, w, " ") }
            { v[$1] = $2 }
            END { for (i = 1; i <= n; i++) printf "%s%s", (w[i] in v ? v[w[i]] : "-"), (i < n ? " " : "\n") }'
}
dbsize() { adm -h "$1" -p "$BASE" dbsize 2>/dev/null; }
LFIELDS=(total_net_repl_output_bytes master_repl_offset sync_full sync_partial_ok connected_slaves)

# ready: euw-b1 linked to the leader, not syncing, lag <= 1 MiB.
ready() {
    local link sync off lead
    read -r link sync off < <(info_get "$EUWB" master_link_status master_sync_in_progress slave_repl_offset)
    [[ $link == up && $sync == 0 && $off =~ ^[0-9]+$ ]] || return 1
    lead=$(info_get "$LEADER" master_repl_offset)
    [[ $lead =~ ^[0-9]+$ ]] && ((lead - off <= LAG_OK))
}
wait_ready() {
    local deadline=$(($(now_ms) + READY_TIMEOUT_S * 1000))
    until ready; do
        (($(now_ms) >= deadline)) && return 1
        sleep 0.05
    done
}
# lose_euwb1: kill euw-b1's redis-server by its pid and remove its data dir.
lose_euwb1() {
    local pid
    pid=$(cat "$PIDFILE" 2>/dev/null)
    if ! [[ $pid =~ ^[0-9]+$ ]] || ! pid_alive "$pid"; then die "euw-b1's redis is not running (pid '$pid')"; fi
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == redis-server ]] || die "pid $pid is not redis-server"
    T_PIDS+=("$pid")
    kill -9 "$pid"
    while pid_alive "$pid"; do sleep 0.02; done
    rm -rf "$DATA"
    # the leader drops the dead replica's link at once (socket closed)
    local n=0
    until [[ $(info_get "$LEADER" connected_slaves) == 4 ]]; do
        ((++n > 250)) && die "the leader still lists 5 replicas 5 s after the kill"
        sleep 0.02
    done
}

# log_ms PID TEXT: time of day (ms) of the first line of euw-b1's redis.log
# written by PID that contains TEXT; empty when none.
log_ms() {
    awk -v p="$1:" -v t="$2" 'index($0, p) == 1 && index($0, t) {
        split($5, c, ":"); printf "%d\n", ((c[1] * 60 + c[2]) * 60 + c[3]) * 1000 + 0.5; exit
    }' "$T_STATE/hosts/euw-b1/redis/redis.log"
}
# span A B: "x.xx" seconds from A to B (ms of day), "?" when one is missing.
span() {
    [[ -n $1 && -n $2 ]] || { echo "?"; return; }
    awk -v a="$1" -v b="$2" 'BEGIN { d = b - a; if (d < 0) d += 86400000; printf "%.2f", d / 1000 }'
}

# ---------------------------------------------------------------- load
# RESP for SET key:<i> <value>, with VALUE_BYTES-byte values that LZF cannot
# compress (random characters from a pool of 4096 strings, each value one
# of them), so the RDB is about as big as the data.
progress "generate a pool of random values"
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

progress "load $KEYS keys of $VALUE_BYTES-byte values into the leader ($CHUNKS redis-cli --pipe runs)"
t_load=$(now_ms)
per=$(((KEYS + CHUNKS - 1) / CHUNKS))
for ((first = 1; first <= KEYS; first += per)); do
    last=$((first + per - 1))
    ((last > KEYS)) && last=$KEYS
    gen_resp "$first" "$last" | adm -h "$LEADER" -p "$BASE" --pipe >"$T_DIR/pipe.out" 2>&1
    grep -q 'errors: 0, replies' "$T_DIR/pipe.out" || { cat "$T_DIR/pipe.out"; die "load failed"; }
    progress "  leader: $(dbsize "$LEADER") / $KEYS keys"
done
progress "wait until every replica has the $KEYS keys"
deadline=$(($(now_ms) + 180000))
while :; do
    sizes=() done_all=1
    for r in $REPLICAS; do
        s=$(dbsize "$r")
        sizes+=("${s:-?}")
        [[ $s == "$KEYS" ]] || done_all=0
    done
    ((done_all)) && break
    (($(now_ms) >= deadline)) && die "replicas still loading after 180 s: ${sizes[*]}"
    progress "  replicas: ${sizes[*]}"
    sleep 2
done
read -r mem_h < <(info_get "$LEADER" used_memory_human)
progress "loaded in $(awk -v ms=$(($(now_ms) - t_load)) 'BEGIN { printf "%.1f", ms / 1000 }') s: every replica has $KEYS keys (leader used_memory $mem_h)"

# ---------------------------------------------------------------- WAN
# wan_delta BEFORE AFTER: "R->S MB" per shaped class between two wan_stats.
wan_delta() {
    awk 'NR == FNR { b[$1] = $2; next } { printf "%s%s %.2f", (n++ ? ", " : ""), $1, ($2 - b[$1]) / 1e6 }
        END { printf " MB\n" }' <(echo "$1") <(echo "$2")
}
# wan_bytes STATS CLASS: that class's byte counter
wan_bytes() { awk -v c="$2" '$1 == c { print $2 }' <<<"$1"; }
if [[ -n $WAN ]]; then
    wan_shape "$WAN" 3 "$BASE" $((BASE + 1000)) $((BASE + 10000)) || die "WAN=$WAN: shaping failed"
    progress "WAN: lo shaped, $WAN per ordered pair of regions (ports $BASE, $((BASE + 1000)), $((BASE + 10000))); same-region traffic unshaped"
fi
wan_now() { [[ -n $WAN ]] && wan_stats; }

# ---------------------------------------------------------------- writer
# RATE SETs/s through the leader, over existing keys (dbsize stays KEYS),
# for at most WRITER_MAX_S seconds.  A generator feeds one redis-cli through
# a fifo; stopping the generator (by pid) ends redis-cli at EOF.
WVAL=$(head -1 "$T_DIR/pool.txt")
writer_gen() {
    local n=0 t0 now target end_us=$((WRITER_MAX_S * 1000000))
    t0=${EPOCHREALTIME/./}
    while :; do
        now=${EPOCHREALTIME/./}
        ((now - t0 >= end_us)) && break
        target=$(((now - t0) * RATE / 1000000))
        while ((n < target)); do
            printf 'SET key:%d w%09d:%s\n' $((n * 7919 % KEYS + 1)) "$n" "$WVAL"
            n=$((n + 1))
        done
        sleep 0.02
    done
}
mkfifo "$T_DIR/writer.fifo"
adm -h "$LEADER" -p "$BASE" <"$T_DIR/writer.fifo" >"$T_DIR/writer.out" 2>&1 &
W_CLI=$!
writer_gen >"$T_DIR/writer.fifo" &
W_GEN=$!
T_PIDS+=("$W_CLI" "$W_GEN")
t_writer=$(now_ms)
stop_writer() {
    pid_alive "$W_GEN" && kill "$W_GEN" 2>/dev/null
    wait "$W_GEN" 2>/dev/null
    local n=0
    while pid_alive "$W_CLI" && ((++n < 250)); do sleep 0.02; done
    pid_alive "$W_CLI" && kill "$W_CLI" 2>/dev/null
    wait "$W_CLI" 2>/dev/null
}
progress "writer started: $RATE SETs/s through the leader (pids $W_GEN, $W_CLI); 3 s to settle"
sleep 3
ok0=$(grep -c '^OK$' "$T_DIR/writer.out")
((ok0 > 0)) || { cat "$T_DIR/writer.out"; die "the writer gets no OK"; }

# ---------------------------------------------------------------- meridian
progress "meridian: stop euw-b1's agent loop, kill its redis, wipe its data dir"
"$AGENT" stop --manifest "$(manifest euw-b1)" --agent-only || die "agent stop failed"
lose_euwb1
read -r m_out0 m_off0 m_full0 m_part0 _ < <(info_get "$LEADER" "${LFIELDS[@]}")
a_out0=$(info_get "$EUWA" total_net_repl_output_bytes)
m_wan0=$(wan_now)
progress "meridian: meridian-agent check --heal"
t0=$(now_ms)
"$AGENT" check --manifest "$(manifest euw-b1)" --heal --json >"$T_DIR/check.json" 2>"$T_DIR/check.err"
m_rc=$?
t_exit=$(now_ms)
record_pids
wait_ready || die "meridian: euw-b1 not ready $READY_TIMEOUT_S s after the check exited"
t1=$(now_ms)
m_wan1=$(wan_now)
read -r m_out1 m_off1 m_full1 m_part1 _ < <(info_get "$LEADER" "${LFIELDS[@]}")
a_out1=$(info_get "$EUWA" total_net_repl_output_bytes)
m_recv=$(info_get "$EUWB" total_net_repl_input_bytes)
m_keys=$(dbsize "$EUWB")
m_pid=$(cat "$PIDFILE" 2>/dev/null)
m_load=$(span "$(log_ms "$m_pid" 'Loading RDB produced')" "$(log_ms "$m_pid" 'Done loading RDB')")
m_cron=$(span "$(log_ms "$m_pid" 'Ready to accept connections')" "$(log_ms "$m_pid" 'Connecting to MASTER')")
m_fetch=$(sed -n 's/.* MB in \([0-9.]*\) s,.*/\1/p' <<<"$(jq -r '.actions[] | select(.event == "+snapshot-fetched") | .detail' "$T_DIR/check.json" 2>/dev/null)")
if [[ -n ${KEEP_LOGS:-} ]]; then
    mkdir -p "$KEEP_LOGS" && cp "$T_STATE/hosts/euw-b1/redis/redis.log" "$KEEP_LOGS/meridian-euw-b1.log"
    cp "$T_DIR/check.json" "$KEEP_LOGS/check.json"
    cp "$T_STATE/hosts/euw-a1/redis/redis.log" "$KEEP_LOGS/euw-a1.log"
fi
m_ms=$((t1 - t0))
m_exit_ms=$((t_exit - t0))
m_events=$(jq -r '[.actions[].event] | join(" ")' "$T_DIR/check.json" 2>/dev/null)
m_snap=$(jq -r '.actions[] | select(.event == "+snapshot-fetched") | .detail' "$T_DIR/check.json" 2>/dev/null)
m_readyd=$(jq -r '.actions[] | select(.event == "+replica-ready") | .detail' "$T_DIR/check.json" 2>/dev/null)
m_faild=$(jq -r '.actions[] | select(.event == "+heal-failed") | .detail' "$T_DIR/check.json" 2>/dev/null)
progress "meridian: exit $m_rc after $m_exit_ms ms; events: $m_events"
[[ -n $m_faild ]] && progress "meridian: +heal-failed: $m_faild"
[[ -s $T_DIR/check.err ]] && sed 's/^/# check stderr: /' "$T_DIR/check.err"

# ---------------------------------------------------------------- baseline
progress "baseline: kill euw-b1's redis again, wipe its data dir"
lose_euwb1
mkdir -m 0700 "$DATA" # empty: Redis cannot start in a missing dir
grep -q "^replicaof $LEADER $BASE\$" "$CONF" || die "euw-b1's redis.conf does not follow $LEADER:$BASE"
read -r b_out0 b_off0 b_full0 b_part0 _ < <(info_get "$LEADER" "${LFIELDS[@]}")
b_wan0=$(wan_now)
progress "baseline: redis-server with euw-b1's redis.conf (replicaof $LEADER $BASE), empty data dir"
t0=$(now_ms)
redis-server "$CONF" >/dev/null 2>&1 &
B_PID=$!
T_PIDS+=("$B_PID")
wait_ready || die "baseline: euw-b1 not ready within $READY_TIMEOUT_S s"
t1=$(now_ms)
b_wan1=$(wan_now)
read -r b_out1 b_off1 b_full1 b_part1 _ < <(info_get "$LEADER" "${LFIELDS[@]}")
b_recv=$(info_get "$EUWB" total_net_repl_input_bytes)
b_keys=$(dbsize "$EUWB")
b_xfer=$(span "$(log_ms "$B_PID" 'Full resync from master')" "$(log_ms "$B_PID" 'Flushing old data')")
b_load=$(span "$(log_ms "$B_PID" 'Loading RDB produced')" "$(log_ms "$B_PID" 'Done loading RDB')")
b_cron=$(span "$(log_ms "$B_PID" 'Ready to accept connections')" "$(log_ms "$B_PID" 'Connecting to MASTER')")
[[ -n ${KEEP_LOGS:-} ]] && cp "$T_STATE/hosts/euw-b1/redis/redis.log" "$KEEP_LOGS/baseline-euw-b1.log" &&
    cp "$T_STATE/hosts/use-a1/redis/redis.log" "$KEEP_LOGS/leader.log"
b_ms=$((t1 - t0))
progress "baseline: ready after $b_ms ms; stop it (pid $B_PID)"
kill "$B_PID" 2>/dev/null
n=0
while pid_alive "$B_PID" && ((++n < 500)); do sleep 0.02; done
pid_alive "$B_PID" && kill -9 "$B_PID" 2>/dev/null
wait "$B_PID" 2>/dev/null

stop_writer
if [[ -n $WAN ]]; then
    wan_unshape || die "could not remove the shaping"
    progress "WAN: shaping removed (lo root qdisc: $(tc qdisc show dev lo root | awk 'NR == 1 { print $2, $3 }'))"
fi
w_s=$(awk -v ms=$(($(now_ms) - t_writer)) 'BEGIN { printf "%.1f", ms / 1000 }')
w_ok=$(grep -c '^OK$' "$T_DIR/writer.out")
w_err=$(grep -vc '^OK$' "$T_DIR/writer.out")
leader_now=$(adm -h "$EUWA" -p $((BASE + 10000)) sentinel get-master-addr-by-name "$NAME" 2>/dev/null | head -1)

# ---------------------------------------------------------------- report
snap_mb=$(sed -n 's/.*: \([0-9.]*\) MB in .*/\1/p' <<<"$m_snap")
echo
echo "rebuild of a lost replica (euw-b1, eu-west) of $KEYS keys x $VALUE_BYTES B under $RATE SETs/s"
echo "  leader use-a1 (us-east); snapshot peer euw-a1 (eu-west)"
if [[ -n $WAN ]]; then
    echo "  WAN: $WAN per ordered pair of regions (htb on lo, bench/wan.sh); same-region traffic unshaped"
else
    echo "  WAN: none (every link is loopback)"
fi
echo "  leader used_memory $mem_h; backlog $BACKLOG; writer: $w_ok SETs acknowledged, $w_err errors, over $w_s s"
echo "  meridian check: exit $m_rc, events: $m_events"
echo "  +snapshot-fetched: $m_snap"
echo "  +replica-ready: $m_readyd"
echo "  leader bytes = delta total_net_repl_output_bytes - 4 x delta master_repl_offset"
echo "  (the live stream to the 4 other replicas, approximated); recv = euw-b1's own"
echo "  total_net_repl_input_bytes when ready (exact: a fresh process in both methods)"
echo
awk -v mo="$((m_out1 - m_out0))" -v mf="$((m_off1 - m_off0))" -v bo="$((b_out1 - b_out0))" \
    -v bf="$((b_off1 - b_off0))" -v mr="$m_recv" -v br="$b_recv" \
    -v mfu="$((m_full1 - m_full0))" -v bfu="$((b_full1 - b_full0))" \
    -v mpa="$((m_part1 - m_part0))" -v bpa="$((b_part1 - b_part0))" \
    -v mt="$m_ms" -v bt="$b_ms" -v me="$m_exit_ms" -v mk="$m_keys" -v bk="$b_keys" \
    -v peer="$((a_out1 - a_out0))" -v snap="${snap_mb:-0}" -v tt="$([[ -n $WAN ]] && echo 0.3 || echo 1)" 'BEGIN {
    mb = mo - 4 * mf; bb = bo - 4 * bf
    printf "%-9s %10s %14s %14s %12s %10s %13s %9s\n", "method", "ready s", "leader MB", "(live 4x MB)", "recv MB", "sync_full", "partial_ok", "keys"
    printf "%-9s %10.2f %14.2f %14.2f %12.2f %10s %13s %9s\n", "meridian", mt / 1000, mb / 1e6, 4 * mf / 1e6, mr / 1e6, "+" mfu, "+" mpa, mk
    printf "%-9s %10.2f %14.2f %14.2f %12.2f %10s %13s %9s\n", "baseline", bt / 1000, bb / 1e6, 4 * bf / 1e6, br / 1e6, "+" bfu, "+" bpa, bk
    printf "\n"
    printf "  meridian: check exited after %.2f s; snapshot fetched from euw-a1: %s MB (euw-a1 sent %.2f MB)\n", me / 1000, snap, peer / 1e6
    printf "  bytes meridian/baseline (leader): %.2f%% (target <= 1%%); by recv: %.2f%%\n", (bb > 0 ? 100 * mb / bb : 0), (br > 0 ? 100 * mr / br : 0)
    r = (bt > 0 ? mt / bt : 0)
    printf "  time meridian/baseline: %.3f (target <= %s: %s)\n", r, tt, (r <= tt ? "met" : "not met")
    printf "  leader sync_full delta: meridian +%d (target 0), baseline +%d\n", mfu, bfu
}'
echo "  where the time went (euw-b1's redis.log): meridian: fetch ${m_fetch:-?} s, RDB load $m_load s,"
echo "    then $m_cron s until Redis connected to the leader (its replication cron runs once a"
echo "    second); baseline: $b_cron s to connect, full-sync transfer $b_xfer s, RDB load $b_load s"
wan_fail=0
if [[ -n $WAN ]]; then
    echo "  shaped bytes ($WAN links, tc -s class show dev lo; 1 = us-east, 2 = eu-west, 3 = ap-south):"
    echo "    during meridian: $(wan_delta "$m_wan0" "$m_wan1")"
    echo "    during baseline: $(wan_delta "$b_wan0" "$b_wan1")"
    b_link=$(($(wan_bytes "$b_wan1" "$L_REG->$E_REG") - $(wan_bytes "$b_wan0" "$L_REG->$E_REG")))
    if ((b_link < b_recv * 9 / 10)); then
        echo "  FAIL: the baseline's full sync ($b_recv B) did not cross the shaped $L_REG->$E_REG link ($b_link B)"
        wan_fail=1
    fi
    [[ $m_snap == "from euw-a1 "* ]] || echo "  NOTE: meridian's snapshot did not come from euw-a1 (same region)"
fi
[[ $leader_now == "$LEADER" ]] || echo "  NOTE: the sentinels now name '$leader_now' as the leader, not $LEADER"
[[ $m_keys == "$KEYS" && $b_keys == "$KEYS" ]] || echo "  NOTE: a rebuilt replica does not hold $KEYS keys"
progress "done"
exit "$wan_fail"
