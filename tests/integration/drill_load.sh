#!/usr/bin/env bash
# integration.drill_load: the drill's writer load and sentinel timeline
# (orchestrator/drill/drill_load.h) against a real deployment, through the
# drill_load_driver.
#
#   1. store_conn_open_from(): a connection bound to 127.0.51.250 is seen by
#      the server as coming from there; an unreachable node is an error
#      sentence naming both ends.
#   2. the isolated probe writer, pinned to the leader from 127.0.51.250.
#   3. the main writer at 200/s with WAIT 1 while the leader's redis-server
#      is SIGKILLed (by pid) 2 s into the load: the writer follows
#      +switch-master to the new leader, the timeline records the
#      sentinels' events, and every acknowledged write reads back.
#
# Hosts 127.0.5R.H; ports: store 16950, sentinels 26950, agents 17950.  lib.sh stops every
# process it started, by pid, on exit.
source "$(dirname "$0")/lib.sh"

BASE=${PORT_BASE:-16950}
SPORT=$((BASE + 10000))
NAME=itdload
T_TOPO="$T_DIR/drill_load.json"
write_topology "$T_TOPO" "$NAME" "$BASE"
# Regions on 127.0.5R.0/24 instead of lib.sh's 127.0.R.0/24: a partition
# drill running in parallel (nftables rules on 127.0.R.0/24, any port) must
# not cut this test's hosts off.
sed -i 's/"127\.0\.\([1-3]\)\./"127.0.5\1./' "$T_TOPO"
SOURCE=127.0.51.250 # the isolated writer's address, inside region 1
NOBODY=127.0.59.9   # nothing listens there
DRIVER=$BUILD/drill_load_driver
RATE=200
DURATION_MS=10000
KILL_AFTER_S=2
checks=0

ok() { checks=$((checks + 1)); check "$@"; }
bail() {
    fail "$*"
    finish "$checks"
    exit 1
}

for tool in redis-server redis-sentinel redis-cli jq; do
    command -v "$tool" >/dev/null || bail "$tool is not installed (scripts/install-deps.sh)"
done
[[ -x $DRIVER ]] || bail "the driver is missing: $DRIVER (build the tests first)"

say "deploy $NAME on ports $BASE/$SPORT"
"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/deploy.out" 2>&1 ||
    { cat "$T_DIR/deploy.out"; bail "deploy"; }
record_pids
ADMIN_FILE="$T_STATE/secrets/admin.pass"
APP_FILE="$T_STATE/secrets/app.pass"
ADMIN=$(cat "$ADMIN_FILE")
"$MERIDIAN" status "$T_TOPO" --state "$T_STATE" --json >"$T_DIR/st.json" 2>/dev/null ||
    bail "the deployment is not healthy: $(jq -c . "$T_DIR/st.json" 2>/dev/null)"
NODES=$(jq -r '[.nodes[] | "\(.address):\(.port)"] | join(",")' "$T_DIR/st.json")
SENTINELS=$(jq -r '[.sentinels[] | "\(.address):\(.port)"] | join(",")' "$T_DIR/st.json")
FIRST_SENTINEL=$(jq -r '.sentinels[0].address' "$T_DIR/st.json")
NSENTINELS=$(jq -r '.sentinels | length' "$T_DIR/st.json")

leader_addr() {
    rcli_as admin "$ADMIN" -h "$FIRST_SENTINEL" -p "$SPORT" \
        sentinel get-master-addr-by-name "$NAME" 2>/dev/null | head -1
}
# index_of ADDRESS: its position in NODES (the driver's host index)
index_of() { jq -r --arg a "$1" '[.nodes[].address] | index($a)' "$T_DIR/st.json"; }
host_of() { jq -r --arg a "$1" '.nodes[] | select(.address == $a) | .host' "$T_DIR/st.json"; }
# kv NAME: a key=value of the driver's summary line in $out
kv() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$out"; }

OLD=$(leader_addr)
[[ -n $OLD ]] || bail "no sentinel names a leader"
OLD_IDX=$(index_of "$OLD")
OLD_HOST=$(host_of "$OLD")
say "leader: $OLD_HOST ($OLD, host index $OLD_IDX)"
# Deploy verifies links, not that every replica acknowledges at once: wait
# until a WAIT for all 5 replicas returns quickly, so the load's rates
# below measure the writer, not a replica still settling.
all_ack() {
    rcli_as admin "$ADMIN" -h "$OLD" -p "$BASE" set drill-settle 1 >/dev/null 2>&1 &&
        [[ $(rcli_as admin "$ADMIN" -h "$OLD" -p "$BASE" wait 5 200 2>/dev/null) == 5 ]]
}
deadline=$(($(now_ms) + 20000))
until all_ack || (($(now_ms) > deadline)); do sleep 0.2; done
all_ack || bail "the 5 replicas do not all acknowledge writes within 20 s"

# ---- 1: a connection from a chosen source address ----
out=$("$DRIVER" whoami --source "$SOURCE" --target "$OLD:$BASE" --user admin \
    --pass-file "$ADMIN_FILE" 2>"$T_DIR/whoami.err")
ok "a connection bound to $SOURCE is seen from $SOURCE${out:+ ($(grep -o ' addr=[^ ]*' <<<" $out" | head -1))}" \
    grep -qF " addr=$SOURCE:" <<<" $out"
"$DRIVER" whoami --source "$SOURCE" --target "$NOBODY:$BASE" --user admin \
    --pass-file "$ADMIN_FILE" >/dev/null 2>"$T_DIR/whoami.err"
ok "nothing listening: an error naming both ends ($(cat "$T_DIR/whoami.err"))" \
    grep -qF "cannot connect to $NOBODY:$BASE from $SOURCE" "$T_DIR/whoami.err"
ok "the error shows no password" test "$(grep -cF "$ADMIN" "$T_DIR/whoami.err")" -eq 0

# ---- 2: the isolated probe writer ----
out=$("$DRIVER" run --master "$NAME" --nodes "$NODES" --sentinels "$SENTINELS" \
    --app-pass-file "$APP_FILE" --admin-pass-file "$ADMIN_FILE" --prefix iso \
    --source "$SOURCE" --fixed "$OLD:$BASE" --duration-ms 1000 --rate 100 \
    2>"$T_DIR/iso.err")
rc=$?
say "isolated: $out"
[[ -s $T_DIR/iso.err ]] && say "driver log: $(tr '\n' ';' <"$T_DIR/iso.err")"
ok "the isolated writer runs (exit $rc)" test "$rc" -eq 0
ok "it made about 100 writes in 1 s ($(kv attempted))" \
    test "$(kv attempted)" -ge 90 -a "$(kv attempted)" -le 102
ok "all of them acknowledged and marked isolated" \
    test "$(kv acked)" = "$(kv attempted)" -a "$(kv isolated)" = "$(kv attempted)"
ok "all of them on the leader's host" test "$(kv leaders)" = "$OLD_IDX"
ok "its first key is on the leader" \
    test "$(rcli_as admin "$ADMIN" -h "$OLD" -p "$BASE" get iso:1)" = 1

# ---- 3: the main writer through a leader kill ----
say "writer at $RATE/s for $((DURATION_MS / 1000)) s; SIGKILL $OLD_HOST's redis-server after $KILL_AFTER_S s"
"$DRIVER" run --master "$NAME" --nodes "$NODES" --sentinels "$SENTINELS" \
    --app-pass-file "$APP_FILE" --admin-pass-file "$ADMIN_FILE" --prefix drill \
    --rate "$RATE" --duration-ms "$DURATION_MS" --wait-replicas 1 --wait-timeout-ms 500 \
    --ready-file "$T_DIR/ready" --writes "$T_DIR/writes.tsv" --events "$T_DIR/events.tsv" \
    >"$T_DIR/run.out" 2>"$T_DIR/run.err" &
DRIVER_PID=$!
T_PIDS+=("$DRIVER_PID")
deadline=$(($(now_ms) + 5000))
until [[ -e $T_DIR/ready ]] || (($(now_ms) > deadline)); do sleep 0.05; done
ok "the writer's first write is acknowledged within 5 s" test -e "$T_DIR/ready"
sleep "$KILL_AFTER_S"
LEADER_PID=$(cat "$T_STATE/hosts/$OLD_HOST/redis/redis.pid")
KILL_WALL=$(now_ms)
kill -9 "$LEADER_PID"
wait "$DRIVER_PID"
rc=$?
out=$(cat "$T_DIR/run.out")
say "run: $out"
[[ -s $T_DIR/run.err ]] && say "driver log: $(tr '\n' ';' <"$T_DIR/run.err")"
ok "the driver ran (exit $rc)" test "$rc" -eq 0
[[ -n $out ]] || bail "the driver printed nothing"
KILL_MS=$((KILL_WALL - $(kv t0_wall_ms)))

ok "the timeline subscribed to all $NSENTINELS sentinels" test "$(kv subscribed)" = "$NSENTINELS"
ok "the writer kept its rate: $(kv rate)/s for $RATE/s" \
    awk -v r="$(kv rate)" -v want="$RATE" 'BEGIN { exit !(r >= 0.9 * want && r <= 1.01 * want) }'
leaders=$(kv leaders)
ok "writes were acknowledged first by the old leader (host $OLD_IDX): $leaders" \
    test "${leaders%%,*}" = "$OLD_IDX"
ok "then by another leader" test "${leaders##*,}" != "$OLD_IDX" -a "${leaders##*,}" != -
ok "the read-back leader is the last one written to" test "$(kv verify_leader)" = "${leaders##*,}"
ok "+switch-master is in the timeline ($(kv switch_master_ms) ms; the kill at $KILL_MS ms)" \
    test "$(kv switch_master_ms)" -gt "$KILL_MS"
ok "events came from more than one sentinel" \
    test "$(awk -F'\t' '$2 >= 0 { print $2 }' "$T_DIR/events.tsv" | sort -u | wc -l)" -ge 2
ok "every sentinel reported +switch-master" \
    test "$(awk -F'\t' '$3 == "+switch-master" { print $2 }' "$T_DIR/events.tsv" | sort -u | wc -l)" \
    -eq "$NSENTINELS"
follow=$(($(kv first_ack_on_last_leader_ms) - $(kv switch_master_ms)))
ok "the writer was on the new leader within 1 s of +switch-master ($follow ms)" \
    test "$follow" -lt 1000
late=$(awk -F'\t' -v k="$KILL_MS" -v old="$OLD_IDX" \
    '$1 > k + 50 && $3 == old && $4 == "acked" { n++ } END { print n + 0 }' "$T_DIR/writes.tsv")
ok "no write was acknowledged by the killed leader after the kill ($late)" test "$late" -eq 0
ok "writes failed while there was no leader ($(kv errors) errors)" test "$(kv errors)" -gt 0
ok "every write was read back ($(kv checked) of $(kv attempted))" \
    test "$(kv checked)" = "$(kv attempted)"
ok "no acknowledged write was lost (acked_lost=$(kv acked_lost), $(kv acked) acked)" \
    test "$(kv acked_lost)" = 0 -a "$(kv acked)" -gt 0
ok "the load stopped within 1 s ($(kv stop_join_ms) ms)" test "$(kv stop_join_ms)" -lt 1000
say "measured: max gap between acked writes $(kv max_ack_gap_ms) ms from $(kv gap_start_ms) ms;" \
    "kill $KILL_MS ms, +sdown $(kv sdown_ms), +odown $(kv odown_ms)," \
    "+switch-master $(kv switch_master_ms), first ack on new leader $(kv first_ack_on_last_leader_ms);" \
    "unacked_lost=$(kv unacked_lost) errors_present=$(kv errors_present)"

finish "$checks"
