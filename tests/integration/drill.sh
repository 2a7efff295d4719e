#!/usr/bin/env bash
# Every drill scenario once, on real processes, with short timeouts; the
# report's fields are checked against what really happened.  The
# nftables table a partition drill adds is removed at the end even when a
# check fails.
source "$(dirname "$0")/lib.sh"

BASE=${PORT_BASE:-16700}
SPORT=$((BASE + 10000))
T_TOPO="$T_DIR/drill.json"
write_topology "$T_TOPO" itdrill "$BASE"
# a short failover timeout: Sentinel's cooldown between two failovers of
# the same master is twice that
sed -i 's/"failover_timeout_ms": 6000/"failover_timeout_ms": 3000/' "$T_TOPO"
checks=0

drop_partition() { nft delete table inet meridian_itdrill 2>/dev/null || true; }
trap 'drop_partition; cleanup' EXIT

"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/deploy.out" 2>&1 ||
    { cat "$T_DIR/deploy.out"; fail "deploy"; exit 1; }
record_pids
ADMIN=$(cat "$T_STATE/secrets/admin.pass")
adm() { rcli_as admin "$ADMIN" "$@"; }
host_addr() { jq -r --arg h "$1" '.nodes[] | select(.host == $h) | .address' "$T_DIR/st.json"; }

say "kill-leader"
status_json
before=$(jq -r .leader.host "$T_DIR/st.json")
drill kill kill-leader
checks=$((checks + 1)); check "kill-leader passes (exit 0)" test "$rc" -eq 0
checks=$((checks + 1)); check "the report says pass, 0 acknowledged writes lost" \
    test "$(field verdict kill)/$(field acked_writes_lost kill)" = "pass/0"
checks=$((checks + 1)); check "report.json, report.txt and timeline.svg are written" \
    test -s "$T_DIR/kill/report.json" -a -s "$T_DIR/kill/report.txt" -a -s "$T_DIR/kill/timeline.svg"
after=$(jq -r .leader.host "$T_DIR/st.json")
checks=$((checks + 1)); check "the new leader ($after) is another host than $before, as reported" \
    test "$after" != "$before" -a "$(field leader_before kill)/$(field leader_after kill)" = "$before/$after"
checks=$((checks + 1)); check "failover_ms is measured ($(field failover_ms kill) ms)" \
    test "$(field failover_ms kill)" != null
keys=$(adm -h "$(host_addr "$after")" -p "$BASE" --scan --pattern 'drill:*' | wc -l)
checks=$((checks + 1)); check "every acknowledged write is readable ($keys keys >= $(field writes_acked kill) acked)" \
    test "$keys" -ge "$(field writes_acked kill)"
checks=$((checks + 1)); check "the topology is healthy afterwards" \
    test "$(jq -r .health "$T_DIR/st.json")" = ok

say "replica-loss"
leader=$(jq -r .leader.host "$T_DIR/st.json")
drill replica replica-loss
checks=$((checks + 1)); check "replica-loss passes with the leader unchanged" \
    test "$rc" -eq 0 -a "$(field leader_after replica)" = "$leader"
checks=$((checks + 1)); check "the replica came back with a partial resync, no full sync" \
    test "$(field full_syncs replica)" = 0 -a "$(field partial_syncs replica)" -ge 1
checks=$((checks + 1)); check "no write was unavailable for long ($(field write_unavailable_ms replica) ms)" \
    test "$(field write_unavailable_ms replica)" -lt 1000

say "region-outage of the leader's region"
leader=$(jq -r .leader.host "$T_DIR/st.json")
region=$(region_of "$leader")
drill outage region-outage "$region"
new=$(jq -r .leader.host "$T_DIR/st.json")
checks=$((checks + 1)); check "region-outage $region passes, 0 acknowledged writes lost" \
    test "$rc" -eq 0 -a "$(field acked_writes_lost outage)" = 0
checks=$((checks + 1)); check "the new leader $new is outside $region" \
    test "$(region_of "$new")" != "$region"
checks=$((checks + 1)); check "every host of $region is back and healthy" \
    test "$(jq -r .health "$T_DIR/st.json")" = ok

say "partition of the leader's region"
leader=$(jq -r .leader.host "$T_DIR/st.json")
region=$(region_of "$leader")
drill partition partition "$region"
checks=$((checks + 1)); check "partition $region passes without split brain" \
    test "$rc" -eq 0 -a "$(field split_brain partition)" = false
refused=$(field isolated_refused_ms partition)
checks=$((checks + 1)); check "the isolated old leader refused writes within 6 s ($refused ms)" \
    test "$refused" != null -a "${refused:-99999}" -le 6000
checks=$((checks + 1)); check "one leader afterwards, outside the partitioned region" \
    test "$(jq '[.nodes[] | select(.role == "leader")] | length' "$T_DIR/st.json")" -eq 1 -a \
    "$(region_of "$(jq -r .leader.host "$T_DIR/st.json")")" != "$region"
checks=$((checks + 1)); check "the drill removed its nftables table" \
    bash -c '! nft list tables | grep -q meridian_itdrill'

say "a second failover inside Sentinel's cooldown is refused"
"$MERIDIAN" drill "$T_TOPO" kill-leader --state "$T_STATE" >/dev/null 2>"$T_DIR/cool.err"
rc=$?
checks=$((checks + 1)); check "a failover inside Sentinel's cooldown is refused with the time left" \
    test "$rc" -eq 1 -a "$(grep -c 'refuse another failover' "$T_DIR/cool.err")" -eq 1

say "sentinel-loss"
drill sentinel sentinel-loss
checks=$((checks + 1)); check "sentinel-loss passes" test "$rc" -eq 0
checks=$((checks + 1)); check "all 3 sentinels agree again" \
    test "$(jq '[.sentinels[] | select(.ok)] | length' "$T_DIR/st.json")" -eq 3

say "refusals"
"$MERIDIAN" drill "$T_TOPO" partition nowhere --state "$T_STATE" >/dev/null 2>"$T_DIR/bad.err"
rc=$?
checks=$((checks + 1)); check "an unknown region is a usage error (exit 64)" \
    test "$rc" -eq 64 -a "$(grep -c 'no region "nowhere"' "$T_DIR/bad.err")" -eq 1

finish "$checks"
