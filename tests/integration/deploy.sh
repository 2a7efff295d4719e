#!/usr/bin/env bash
# Deploy the three-region topology with real redis-server, redis-sentinel
# and meridian-agent processes; check roles, links, sentinel agreement,
# authentication, secrets, idempotent redeploy and destroy.
source "$(dirname "$0")/lib.sh"

BASE=${PORT_BASE:-16500}
T_TOPO="$T_DIR/three.json"
write_topology "$T_TOPO" itdeploy "$BASE"
SPORT=$((BASE + 10000))
HOSTS=(127.0.1.1 127.0.1.2 127.0.2.1 127.0.2.2 127.0.3.1 127.0.3.2)
SENTINELS=(127.0.1.1 127.0.2.1 127.0.3.1)
checks=0

say "deploy"
"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/deploy1.out" 2>&1
rc=$?
record_pids
checks=$((checks + 1)); check "first deploy exits 0" test "$rc" -eq 0
[[ $rc -eq 0 ]] || cat "$T_DIR/deploy1.out"

"$MERIDIAN" status "$T_TOPO" --state "$T_STATE" --json >"$T_DIR/status.json"
rc=$?
checks=$((checks + 1)); check "status exits 0 (OK)" test "$rc" -eq 0
checks=$((checks + 1)); check "status health is ok" \
    test "$(jq -r .health "$T_DIR/status.json")" = ok
checks=$((checks + 1)); check "right after deploy every agent says its node is ready (no contradiction)" \
    test "$(jq '[.nodes[] | select(.ready == true and .agent == "up")] | length' "$T_DIR/status.json")" -eq 6
checks=$((checks + 1)); check "the leader is in us-east" \
    test "$(jq -r .leader.region "$T_DIR/status.json")" = us-east
checks=$((checks + 1)); check "one leader and five linked replicas" \
    test "$(jq '[.nodes[] | select(.role == "replica" and .link == "up" and .healthy)] | length' "$T_DIR/status.json")$(jq '[.nodes[] | select(.role == "leader")] | length' "$T_DIR/status.json")" = 51

ADMIN=$(cat "$T_STATE/secrets/admin.pass")
APP=$(cat "$T_STATE/secrets/app.pass")

say "roles and links, asked of Redis directly"
leader_role=$(rcli_as admin "$ADMIN" -h 127.0.1.1 -p "$BASE" role | head -1)
checks=$((checks + 1)); check "use-a1 is master" test "$leader_role" = master
linked=0
for h in "${HOSTS[@]:1}"; do
    info=$(rcli_as admin "$ADMIN" -h "$h" -p "$BASE" info replication | tr -d '\r')
    if grep -q '^master_host:127.0.1.1$' <<<"$info" && grep -q '^master_link_status:up$' <<<"$info"; then
        linked=$((linked + 1))
    fi
done
checks=$((checks + 1)); check "all 5 replicas follow 127.0.1.1 with link up" test "$linked" -eq 5

say "sentinel agreement"
agree=0
for s in "${SENTINELS[@]}"; do
    addr=$(rcli_as admin "$ADMIN" -h "$s" -p "$SPORT" sentinel get-master-addr-by-name itdeploy | tr '\n' ' ')
    nrep=$(rcli_as admin "$ADMIN" -h "$s" -p "$SPORT" sentinel replicas itdeploy | grep -c '^flags$')
    nsen=$(rcli_as admin "$ADMIN" -h "$s" -p "$SPORT" sentinel sentinels itdeploy | grep -c '^flags$')
    if [[ $addr == "127.0.1.1 $BASE " && $nrep -eq 5 && $nsen -eq 2 ]]; then
        agree=$((agree + 1))
    else
        say "sentinel $s: leader '$addr', $nrep replicas, $nsen sentinels"
    fi
done
checks=$((checks + 1)); check "3 sentinels name the same leader, see 5 replicas and 2 sentinels" test "$agree" -eq 3

say "authentication"
# unauthenticated: NOAUTH (over TLS when the deployment has it); with TLS
# a plaintext client gets no answer at all
tls=()
[[ $T_TLS == 1 ]] && tls=(--tls --cacert "$T_CA")
refused=0 plain=0
for a in "${HOSTS[@]/%/ $BASE}" "${SENTINELS[@]/%/ $SPORT}"; do
    out=$(redis-cli "${tls[@]}" -h "${a% *}" -p "${a#* }" ping 2>&1)
    [[ $out == *NOAUTH* ]] && refused=$((refused + 1))
    out=$(timeout 5 redis-cli -h "${a% *}" -p "${a#* }" ping 2>&1)
    [[ $out != *NOAUTH* && $out != *PONG* ]] && plain=$((plain + 1))
done
checks=$((checks + 1)); check "unauthenticated PING refused on 6 nodes and 3 sentinels" test "$refused" -eq 9
if [[ $T_TLS == 1 ]]; then
    checks=$((checks + 1)); check "TLS: a plaintext client gets no answer from 6 nodes and 3 sentinels" test "$plain" -eq 9
fi
out=$(rcli_as admin wrong-password -h 127.0.1.1 -p "$BASE" ping 2>&1)
checks=$((checks + 1)); check "a wrong password is refused" grep -q WRONGPASS <<<"$out"
out=$(rcli_as app "$APP" -h 127.0.1.1 -p "$BASE" set it:key v 2>&1)
checks=$((checks + 1)); check "the app user can write" test "$out" = OK
out=$(rcli_as app "$APP" -h 127.0.1.1 -p "$BASE" flushall 2>&1)
checks=$((checks + 1)); check "the app user cannot run FLUSHALL" grep -q NOPERM <<<"$out"
out=$(rcli_as app "$APP" -h 127.0.2.1 -p "$SPORT" sentinel get-master-addr-by-name itdeploy 2>&1 | head -1)
checks=$((checks + 1)); check "the app user can ask a sentinel for the leader" test "$out" = 127.0.1.1

say "secrets"
# the passwords and the token, and with TLS every private key
mapfile -t SECRET_FILES < <(find "$T_STATE/secrets" -maxdepth 1 -type f;
    find "$T_STATE/secrets" -name '*.key')
# what would show of one: a password whole, a key's first line of base64
secret_text() { if [[ $1 == *.key ]]; then sed -n 2p "$1"; else cat "$1"; fi; }
modes=$(stat -c %a "${SECRET_FILES[@]}" | sort -u | tr '\n' ' ')
checks=$((checks + 1)); check "every secret file is 0600 ($modes, ${#SECRET_FILES[@]} files)" test "$modes" = "600 "
conf_modes=$(find "$T_STATE/hosts" -name '*.conf' -exec stat -c %a {} + | sort -u | tr '\n' ' ')
checks=$((checks + 1)); check "every rendered config is 0600 ($conf_modes)" test "$conf_modes" = "600 "
leaked=0
ps_out=$(ps -eo args)
for f in "${SECRET_FILES[@]}"; do
    grep -qF "$(secret_text "$f")" <<<"$ps_out" && leaked=$((leaked + 1))
done
checks=$((checks + 1)); check "no secret appears in ps output" test "$leaked" -eq 0
logs_leak=0
for f in "${SECRET_FILES[@]}"; do
    grep -rqF "$(secret_text "$f")" --include='*.log' "$T_STATE/hosts" && logs_leak=$((logs_leak + 1))
done
checks=$((checks + 1)); check "no secret appears in any log" test "$logs_leak" -eq 0

say "idempotent redeploy"
before=$(find "$T_STATE/hosts" -name '*.pid' | sort | xargs cat | tr '\n' ' ')
"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" >"$T_DIR/deploy2.out" 2>&1
rc=$?
after=$(find "$T_STATE/hosts" -name '*.pid' | sort | xargs cat | tr '\n' ' ')
checks=$((checks + 1)); check "second deploy exits 0" test "$rc" -eq 0
checks=$((checks + 1)); check "second deploy says no changes" grep -q '^no changes' "$T_DIR/deploy2.out"
checks=$((checks + 1)); check "second deploy restarted nothing (same pids)" test "$before" = "$after"

say "manifests the agent cannot run"
# A manifest of another version, or one with more nodes on its host than
# an agent starts, is refused with a sentence before anything is touched:
# use-b1's agent is stopped (its nodes keep running), its manifest
# replaced, and the agent started again on it.
mf="$T_STATE/hosts/use-b1/manifest.json"
cp "$mf" "$T_DIR/good.json"
old_agent=$(cat "$T_STATE/hosts/use-b1/agent.pid")
before=$(find "$T_STATE/hosts" -name '*.pid' ! -name agent.pid | sort | xargs cat | tr '\n' ' ')
"$BUILD/meridian-agent" stop --agent-only --manifest "$mf" >/dev/null 2>&1
jq '.version = 2' "$T_DIR/good.json" >"$mf"
timeout 20 "$BUILD/meridian-agent" run --daemon --manifest "$mf" >"$T_DIR/v2.out" 2>&1
rc=$?
checks=$((checks + 1)); check "a version 2 manifest is refused (exit $rc) with a sentence" \
    test "$rc" -ne 0 -a "$rc" -ne 124 -a \
    "$(grep -c 'manifest version 2 is not supported (expected 3 to 4): redeploy with a matching meridian' \
      "$T_DIR/v2.out")" -ge 1
jq '.shards[0].nodes += [range(1; 17) as $i | {host: "use-b1", port: (20000 + $i),
    replica_priority: 100, master: false}]' "$T_DIR/good.json" >"$mf"
timeout 20 "$BUILD/meridian-agent" run --daemon --manifest "$mf" >"$T_DIR/many.out" 2>&1
rc=$?
checks=$((checks + 1)); check "17 nodes on one host are refused (exit $rc) with a sentence" \
    test "$rc" -ne 0 -a "$rc" -ne 124 -a \
    "$(grep -c 'has 17 nodes, more than the 16 one agent starts' "$T_DIR/many.out")" -ge 1
after=$(find "$T_STATE/hosts" -name '*.pid' ! -name agent.pid | sort | xargs cat | tr '\n' ' ')
answering=$(rcli_as admin "$(cat "$T_STATE/secrets/admin.pass")" -h 127.0.1.2 -p "$BASE" ping 2>&1)
checks=$((checks + 1)); check "the running nodes were left untouched (same pids, use-b1 answers)" \
    test "$before" = "$after" -a "$answering" = PONG
cp "$T_DIR/good.json" "$mf"
"$BUILD/meridian-agent" run --daemon --manifest "$mf" >/dev/null 2>&1
# use-b1's agent has a new pid: record it in place of the stopped one
new_agent=$(cat "$T_STATE/hosts/use-b1/agent.pid")
for i in "${!T_PIDS[@]}"; do
    [[ ${T_PIDS[$i]} == "$old_agent" ]] && T_PIDS[$i]=$new_agent
done

say "destroy"
"$MERIDIAN" destroy "$T_TOPO" --state "$T_STATE" >"$T_DIR/dry.out" 2>&1
checks=$((checks + 1)); check "destroy without --yes only says what it would do" \
    grep -q 'run again with --yes' "$T_DIR/dry.out"
alive=0
for pid in "${T_PIDS[@]}"; do pid_alive "$pid" && alive=$((alive + 1)); done
checks=$((checks + 1)); check "destroy without --yes stopped nothing (${#T_PIDS[@]} alive)" \
    test "$alive" -eq "${#T_PIDS[@]}"
"$MERIDIAN" destroy "$T_TOPO" --state "$T_STATE" --yes >"$T_DIR/destroy.out" 2>&1
rc=$?
checks=$((checks + 1)); check "destroy --yes exits 0" test "$rc" -eq 0
sleep 0.2
alive=0
for pid in "${T_PIDS[@]}"; do pid_alive "$pid" && alive=$((alive + 1)); done
checks=$((checks + 1)); check "no recorded process is left (${#T_PIDS[@]} were recorded)" \
    test "$alive" -eq 0 -a "${#T_PIDS[@]}" -eq 15
checks=$((checks + 1)); check "the state dir is gone" test ! -e "$T_STATE"

finish "$checks"
