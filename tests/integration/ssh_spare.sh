#!/usr/bin/env bash
# A lost host replaced on a spare over ssh: the three-region topology on
# six sshd test hosts (sshd-harness.sh) plus a spare, euw-s1, whose host
# key the operator recorded beforehand (heal runs from cron, without
# --accept-new-host-keys).  euw-a1 is lost for good (its agent and
# processes killed, its sshd stopped); `meridian heal` sets the spare up
# through ssh (agent binary, secrets, manifest) and its agent restores the
# node from a peer's snapshot.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sshd-harness.sh"

BASE=${PORT_BASE:-20300}     # store; agents BASE+1000, sentinels BASE+10000
SSH_PORT=${SSH_PORT:-22990}
H="$T_DIR/hosts"
ROOT="$T_DIR/remote"
checks=0
c() { checks=$((checks + 1)); check "$@"; }

harness_init "$H" || exit 1
for h in "${HARNESS_HOSTS[@]}" euw-s1:127.0.2.9; do
    harness_start "${h%%:*}" "${h#*:}" "$SSH_PORT" || exit 1
done
record_pids
# the spare's host key, recorded by the operator (as ssh-keyscan would)
printf '[127.0.2.9]:%s %s\n' "$SSH_PORT" "$(cut -d' ' -f1-2 "$H/euw-s1/host_key.pub")" \
    >>"$H/known_hosts"

T_TOPO="$T_DIR/ssh.json"
write_topology "$T_TOPO" itsshspare "$BASE"
jq --arg id "$H/client_key" --arg kh "$H/known_hosts" --arg root "$ROOT" --arg user "$(id -un)" \
    --argjson port "$SSH_PORT" \
    '.agent.replace_after_s = 3 |
     .regions[1].zones[0].hosts += [{"name": "euw-s1", "address": "127.0.2.9", "spare": true}] |
     .transport = {kind: "ssh", user: $user, port: $port, identity: $id,
                   known_hosts: $kh, root: $root}' "$T_TOPO" >"$T_TOPO.tmp" && mv "$T_TOPO.tmp" "$T_TOPO"

"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 --accept-new-host-keys \
    >"$T_DIR/deploy.out" 2>&1 || { cat "$T_DIR/deploy.out"; fail "deploy over ssh"; exit 1; }
record_pids
c "deploy did not log in to the spare" test "$(harness_logins euw-s1)" -eq 0
ADMIN=$(cat "$T_STATE/secrets/admin.pass")
adm() { rcli_as admin "$ADMIN" "$@"; }
stat_of() { adm -h "$1" -p "$BASE" info all | tr -d '\r' | awk -F: -v k="$2" '$1 == k {print $2}'; }
for i in $(seq 1 2000); do echo "SET key:$i value-$i"; done | adm -h 127.0.1.1 -p "$BASE" >/dev/null
wait_for 10 test "$(stat_of 127.0.2.1 db0 | cut -d, -f1)" = "keys=2000"
full_before=$(stat_of 127.0.1.1 sync_full)

say "euw-a1 lost for good: its agent, node and sentinel killed, its sshd stopped"
R="$ROOT/hosts/euw-a1"
kill -9 "$(cat "$R/agent.pid")" 2>/dev/null
for f in "$R"/redis*/redis.pid "$R"/sentinel/sentinel.pid; do
    [[ -f $f ]] && kill -9 "$(cat "$f")" 2>/dev/null
done
harness_stop euw-a1
"$MERIDIAN" heal "$T_TOPO" --state "$T_STATE" >"$T_DIR/heal.out" 2>&1
rc=$?
record_pids
cat "$T_DIR/heal.out"
c "heal exits 1 ($rc)" test "$rc" -eq 1
c "heal replaced euw-a1 by euw-s1" grep -q '+host-replaced euw-a1 by euw-s1' "$T_DIR/heal.out"
c "the spare was set up over ssh (it logged in)" test "$(harness_logins euw-s1)" -ge 1
c "the agent binary is on the spare" test -x "$ROOT/hosts/euw-s1/bin/meridian-agent"
c "the spare's secrets are 0600" \
    test "$(stat -c %a "$ROOT/hosts/euw-s1/secrets/admin.pass")" = 600
c "the spare's node holds every key" \
    wait_for 10 test "$(stat_of 127.0.2.9 db0 | cut -d, -f1)" = "keys=2000"
c "the leader's sync_full is unchanged ($full_before)" \
    test "$(stat_of 127.0.1.1 sync_full)" = "$full_before"
status_ok() { "$MERIDIAN" status "$T_TOPO" --state "$T_STATE" >"$T_DIR/st.out" 2>&1; }
c "status OK (within 20 s)" wait_for 20 status_ok
[[ $T_FAILS == 0 ]] || cat "$T_DIR/st.out"

finish "$checks"
