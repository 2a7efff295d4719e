#!/usr/bin/env bash
# Deploy the three-region topology over ssh to six real sshd test hosts
# (sshd-harness.sh: one sshd per 127.0.R.H, generated keys), then check
# what an operator meets: unknown host keys, trust on first use, a changed
# host key, refused and passphrase-protected client keys, the ssh-agent,
# RSA keys, heal through ssh, an unreachable host and a re-run, destroy.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sshd-harness.sh"

BASE=${PORT_BASE:-16820}     # store; agents BASE+1000, sentinels BASE+10000
SSH_PORT=${SSH_PORT:-22820}
H="$T_DIR/hosts"             # the test hosts' keys, configs and logs
ROOT="$T_DIR/remote"         # transport.root: ROOT/hosts/HOST on each "host"
checks=0
c() { checks=$((checks + 1)); check "$@"; }

harness_init "$H" || exit 1
for h in "${HARNESS_HOSTS[@]}"; do harness_start "${h%%:*}" "${h#*:}" "$SSH_PORT" || exit 1; done
record_pids

# ssh_topology FILE IDENTITY: the layout of lib.sh's write_topology, over ssh.
ssh_topology() {
    write_topology "$1" itssh "$BASE"
    jq --arg id "$2" --arg kh "$H/known_hosts" --arg root "$ROOT" --arg user "$(id -un)" \
        --argjson port "$SSH_PORT" \
        '.transport = {kind: "ssh", user: $user, port: $port, identity: $id,
                       known_hosts: $kh, root: $root}' "$1" >"$1.tmp" && mv "$1.tmp" "$1"
}
T_TOPO="$T_DIR/ssh.json"
ssh_topology "$T_TOPO" "$H/client_key"
deploy() { "$MERIDIAN" deploy "$@" --state "$T_STATE" --timeout 60; }
# agents_alive: how many of the six agents run (by their pid files).
agents_alive() {
    local n=0 f
    for f in "$ROOT"/hosts/*/agent.pid; do
        [[ -f $f ]] && pid_alive "$(cat "$f")" && n=$((n + 1))
    done
    echo "$n"
}

say "an unknown host is refused without --accept-new-host-keys"
deploy "$T_TOPO" >"$T_DIR/d0.out" 2>&1
rc=$?
c "deploy exits 2" test "$rc" -eq 2
c "every host is refused as not in known_hosts, with its fingerprint" \
    test "$(grep -c "is not in $H/known_hosts: its ssh-ed25519 host key is SHA256:" "$T_DIR/d0.out")" -ge 6
c "the refusal names the way out" grep -q -- '--accept-new-host-keys to trust it on first use' "$T_DIR/d0.out"
c "known_hosts is still empty" test ! -s "$H/known_hosts"
c "no agent was started" test "$(agents_alive)" -eq 0

say "deploy over ssh, trusting the new host keys"
deploy "$T_TOPO" --accept-new-host-keys >"$T_DIR/d1.out" 2>&1
rc=$?
record_pids
c "deploy exits 0" test "$rc" -eq 0
[[ $rc -eq 0 ]] || cat "$T_DIR/d1.out"
c "six host keys recorded in known_hosts" test "$(wc -l <"$H/known_hosts")" -eq 6
fp_ok=0
for h in "${HARNESS_HOSTS[@]}"; do
    n=${h%%:*}
    grep -q "^  $n .*connected: .*$(harness_fingerprint "$n") (new: recorded" "$T_DIR/d1.out" && fp_ok=$((fp_ok + 1))
done
c "each host's recorded fingerprint is its sshd's key ($fp_ok of 6)" test "$fp_ok" -eq 6
c "one ssh connection per host (meridian's count)" \
    grep -q '^  ssh          6 connections to 6 hosts (at most 1 per host)$' "$T_DIR/d1.out"
logins=0
for h in "${HARNESS_HOSTS[@]}"; do [[ $(harness_logins "${h%%:*}") -eq 1 ]] && logins=$((logins + 1)); done
c "one login per host in the sshd logs ($logins of 6 hosts)" test "$logins" -eq 6
"$MERIDIAN" status "$T_TOPO" --state "$T_STATE" --json >"$T_DIR/status.json"
rc=$?
c "status exits 0" test "$rc" -eq 0
# the agents' readiness follows their heal pass (every 500 ms here)
for ((i = 0; i < 50; i++)); do
    st=$(jq -r '[.health, .leader.region, ([.nodes[] | select(.agent == "up" and .ready)] | length)] | join(" ")' "$T_DIR/status.json")
    [[ $st == "ok us-east 6" ]] && break
    sleep 0.1
    "$MERIDIAN" status "$T_TOPO" --state "$T_STATE" --json >"$T_DIR/status.json"
done
c "status: healthy, leader in us-east, 6 agents up and ready ($st)" test "$st" = "ok us-east 6"
# 5 secrets a host; with TLS also the CA certificate and its own pair
want=30
[[ $T_TLS == 1 ]] && want=48
c "each host has its own secrets, mode 0600" \
    test "$(find "$ROOT"/hosts/*/secrets -type f -exec stat -c %a {} + | sort | uniq -c | awk '{print $1" "$2}')" = "$want 600"
if [[ $T_TLS == 1 ]]; then
    c "a host holds its own key and certificate only" \
        test "$(ls "$ROOT/hosts/euw-b1/secrets/tls/hosts" | tr '\n' ' ')" = "euw-b1.crt euw-b1.key "
fi
c "the agent binary is 0755, manifests 0600" \
    test "$(stat -c %a "$ROOT"/hosts/*/bin/meridian-agent "$ROOT"/hosts/*/manifest.json | sort | uniq -c | awk '{printf "%s:%s ", $1, $2}')" = "6:600 6:755 "
c "a manifest names its host's own secrets folder" \
    test "$(jq -r .secrets_dir "$ROOT/hosts/euw-b1/manifest.json")" = "$ROOT/hosts/euw-b1/secrets"
leaked=0
ps_out=$(ps -eo args)
for f in "$T_STATE"/secrets/*.pass "$T_STATE"/secrets/*.token; do
    grep -qF "$(cat "$f")" <<<"$ps_out" && leaked=$((leaked + 1))
done
c "no secret appears in ps output" test "$leaked" -eq 0

say "a second deploy changes nothing, over one connection per host"
before=$(find "$ROOT" -name '*.pid' | sort | xargs cat | tr '\n' ' ')
deploy "$T_TOPO" >"$T_DIR/d2.out" 2>&1
rc=$?
after=$(find "$ROOT" -name '*.pid' | sort | xargs cat | tr '\n' ' ')
c "second deploy exits 0 and says no changes" grep -q '^no changes' "$T_DIR/d2.out"
c "it restarted nothing (same pids)" test "$before" = "$after" -a "$rc" -eq 0
logins=0
for h in "${HARNESS_HOSTS[@]}"; do [[ $(harness_logins "${h%%:*}") -eq 2 ]] && logins=$((logins + 1)); done
c "again one login per host ($logins of 6 hosts)" test "$logins" -eq 6

say "a changed manifest replaces the file and restarts the agent only"
jq '.agent.interval_ms = 400' "$T_TOPO" >"$T_DIR/ssh2.json"
redis_before=$(cat "$ROOT"/hosts/*/redis/redis.pid | tr '\n' ' ')
deploy "$T_DIR/ssh2.json" >"$T_DIR/d3.out" 2>&1
rc=$?
record_pids
c "deploy exits 0" test "$rc" -eq 0
c "six manifests updated, six agents restarted" \
    test "$(grep -c 'manifest updated' "$T_DIR/d3.out") $(grep -c 'agent restarted' "$T_DIR/d3.out")" = "6 6"
c "the manifests hold the new interval" \
    test "$(jq -s '[.[].settings.agent.interval_ms] | unique | join(",")' "$ROOT"/hosts/*/manifest.json)" = '"400"'
c "the redis nodes kept running (same pids)" \
    test "$(cat "$ROOT"/hosts/*/redis/redis.pid | tr '\n' ' ')" = "$redis_before"
c "no temporary file is left" test -z "$(find "$ROOT" -name '*.tmp-*')"
T_TOPO="$T_DIR/ssh2.json"

say "heal goes through ssh when an agent's API does not answer"
"$ROOT/hosts/euw-b1/bin/meridian-agent" stop --agent-only --manifest "$ROOT/hosts/euw-b1/manifest.json" 2>/dev/null
"$MERIDIAN" heal "$T_TOPO" --state "$T_STATE" --json >"$T_DIR/heal.json" 2>"$T_DIR/heal.err"
rc=$?
c "heal exits 0" test "$rc" -eq 0
c "it says it ran check --heal over ssh for euw-b1" \
    grep -q '^meridian: euw-b1: .*ran meridian-agent check --heal over ssh instead' "$T_DIR/heal.err"
c "euw-b1's report came back through ssh" \
    test "$(jq -r '.hosts[] | select(.host == "euw-b1") | "\(.code) \(.error)"' "$T_DIR/heal.json")" = "0 null"
deploy "$T_TOPO" >"$T_DIR/d4.out" 2>&1
c "a re-run starts the stopped agent again" test "$? $(agents_alive)" = "0 6"

say "a changed host key is refused, with both fingerprints, whatever the flags"
old_fp=$(harness_fingerprint aps-b1)
harness_stop aps-b1
harness_new_host_key aps-b1
harness_start aps-b1 127.0.3.2 "$SSH_PORT"
record_pids
new_fp=$(harness_fingerprint aps-b1)
deploy "$T_TOPO" --accept-new-host-keys >"$T_DIR/d5.out" 2>&1
rc=$?
c "deploy exits 2" test "$rc" -eq 2
c "the error names the host, the expected and the offered fingerprint" \
    grep -q "aps-b1 (\[127.0.3.2\]:$SSH_PORT) has CHANGED: $H/known_hosts expects ssh-ed25519 $old_fp, the host offered ssh-ed25519 $new_fp" "$T_DIR/d5.out"
c "the other five hosts were left as they were" \
    test "$(grep -c 'agent running, manifest and agent unchanged' "$T_DIR/d5.out")" -eq 5
c "known_hosts was not changed" \
    test "$(wc -l <"$H/known_hosts") $(grep -c "$new_fp" "$H/known_hosts")" = "6 0"
harness_stop aps-b1
harness_old_host_key aps-b1
harness_start aps-b1 127.0.3.2 "$SSH_PORT"
record_pids

say "client keys: refused, passphrase-protected, through ssh-agent, RSA"
ssh-keygen -q -t ed25519 -N '' -C stranger -f "$H/stranger_key"
ssh_topology "$T_DIR/wrong.json" "$H/stranger_key"
jq '.agent.interval_ms = 400' "$T_DIR/wrong.json" >"$T_DIR/wrong2.json"
deploy "$T_DIR/wrong2.json" >"$T_DIR/d6.out" 2>&1
rc=$?
c "a key that is not authorized: deploy exits 2" test "$rc" -eq 2
c "...saying which key each host refused and what to do" \
    test "$(grep -c "refused the key $H/stranger_key (ssh-ed25519 SHA256:.*): add $H/stranger_key.pub to" "$T_DIR/d6.out")" -ge 6
ssh-keygen -q -t ed25519 -N 'correct horse battery' -C protected -f "$H/protected_key"
harness_authorize "$H/protected_key.pub"
ssh_topology "$T_DIR/prot.json" "$H/protected_key"
jq '.agent.interval_ms = 400' "$T_DIR/prot.json" >"$T_DIR/prot2.json"
env -u SSH_AUTH_SOCK "$MERIDIAN" deploy "$T_DIR/prot2.json" --state "$T_STATE" >"$T_DIR/d7.out" 2>&1
rc=$?
c "a passphrase-protected key without an agent: deploy exits 2" test "$rc" -eq 2
c "...saying so and how to use ssh-agent" \
    grep -q "the key $H/protected_key is protected by a passphrase and no ssh-agent is running" "$T_DIR/d7.out"
agent_out=$(ssh-agent -s -a "$H/agent.sock")
agent_pid=$(sed -n 's/^SSH_AGENT_PID=\([0-9]*\);.*/\1/p' <<<"$agent_out")
T_PIDS+=("$agent_pid")
printf '#!/bin/sh\necho "correct horse battery"\n' >"$H/askpass"
chmod 700 "$H/askpass"
SSH_AUTH_SOCK="$H/agent.sock" SSH_ASKPASS="$H/askpass" SSH_ASKPASS_REQUIRE=force DISPLAY=: \
    ssh-add "$H/protected_key" </dev/null 2>/dev/null
SSH_AUTH_SOCK="$H/agent.sock" "$MERIDIAN" deploy "$T_DIR/prot2.json" --state "$T_STATE" >"$T_DIR/d8.out" 2>&1
rc=$?
c "the same key held by ssh-agent logs in: no changes" test "$rc $(grep -c '^no changes' "$T_DIR/d8.out")" = "0 1"
c "...through the agent's key" test "$(grep -c 'login with ssh-agent key SHA256:.* (protected)' "$T_DIR/d8.out")" -eq 6
kill "$agent_pid" 2>/dev/null
ssh-keygen -q -t rsa -b 3072 -N '' -C rsa -f "$H/rsa_key"
harness_authorize "$H/rsa_key.pub"
ssh_topology "$T_DIR/rsa.json" "$H/rsa_key"
jq '.agent.interval_ms = 400' "$T_DIR/rsa.json" >"$T_DIR/rsa2.json"
env -u SSH_AUTH_SOCK "$MERIDIAN" deploy "$T_DIR/rsa2.json" --state "$T_STATE" >"$T_DIR/d9.out" 2>&1
rc=$?
c "an RSA key file logs in: no changes" test "$rc $(grep -c 'login with key .*rsa_key (ssh-rsa SHA256:' "$T_DIR/d9.out")" = "0 6"

say "destroy over ssh"
record_pids
pids=()
while IFS= read -r f; do pids+=("$(cat "$f")"); done < <(find "$ROOT" -name '*.pid')
"$MERIDIAN" destroy "$T_TOPO" --state "$T_STATE" --yes >"$T_DIR/x1.out" 2>&1
rc=$?
c "destroy exits 0" test "$rc" -eq 0
sleep 0.2
alive=0
for pid in "${pids[@]}"; do pid_alive "$pid" && alive=$((alive + 1)); done
c "none of the ${#pids[@]} recorded agents, nodes and sentinels is left" test "$alive" -eq 0 -a "${#pids[@]}" -eq 15
c "every host root is gone, and the credentials" \
    test "$(find "$ROOT/hosts" -mindepth 1 | wc -l) $([[ -e $T_STATE ]] && echo kept || echo gone)" = "0 gone"

say "one host unreachable: the others deploy, a re-run finishes"
harness_stop euw-b1
deploy "$T_TOPO" >"$T_DIR/d10.out" 2>&1
rc=$?
record_pids
c "deploy exits 2" test "$rc" -eq 2
c "euw-b1 is reported failed with its reason" \
    grep -q "^  euw-b1       cannot reach euw-b1 at 127.0.2.2 port $SSH_PORT: Connection refused" "$T_DIR/d10.out"
c "the five other hosts are deployed (5 agents run)" test "$(agents_alive)" -eq 5
c "the summary says the deploy is partial" grep -q '^deploy incomplete: 1 of 6 hosts failed' "$T_DIR/d10.out"
harness_start euw-b1 127.0.2.2 "$SSH_PORT"
record_pids
deploy "$T_TOPO" >"$T_DIR/d11.out" 2>&1
rc=$?
record_pids
c "the re-run exits 0" test "$rc" -eq 0
c "it started only euw-b1" \
    test "$(grep -c 'agent running, manifest and agent unchanged' "$T_DIR/d11.out") $(grep -c '^  euw-b1       agent started' "$T_DIR/d11.out")" = "5 1"
"$MERIDIAN" status "$T_TOPO" --state "$T_STATE" >/dev/null
c "status is OK" test "$?" -eq 0

say "backup and restore over ssh: the RDB goes to the leader's host by sftp"
S3PORT=24487 # s3rver, for this test only
printf '[default]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n' >"$T_DIR/s3.creds"
chmod 600 "$T_DIR/s3.creds"
jq --arg ep "http://127.0.0.1:$S3PORT" --arg cred "$T_DIR/s3.creds" \
    '.backup = {endpoint: $ep, bucket: "meridian", credentials_file: $cred}' "$T_TOPO" \
    >"$T_DIR/ssh-bk.json"
s3rver_start "$S3PORT" "$T_DIR/s3" meridian || bail "s3rver did not start"
bk() { "$MERIDIAN" "$1" "$T_DIR/ssh-bk.json" --state "$T_STATE" "${@:2}"; }
seq 1 500 | awk '{print "SET bk:" $1 " v" $1}' | bk redis-cli >/dev/null
bk backup --json >"$T_DIR/bk.json" 2>"$T_DIR/bk.err"
c "backup exits 0 with the 500 keys (exit $?)" test "$(jq -r .keys "$T_DIR/bk.json")" = 500
bk redis-cli -- FLUSHALL >/dev/null
bk restore --from "$(jq -r .id "$T_DIR/bk.json")" --yes --json >"$T_DIR/rs.json" 2>"$T_DIR/rs.err"
rc=$?
c "restore exits 0, the leader loaded 500 keys (exit $rc: $(tail -1 "$T_DIR/rs.err"))" \
    test "$rc $(jq -r .keys_loaded "$T_DIR/rs.json")" = "0 500"
c "every node holds the 500 keys again" bash -c '
    for a in 127.0.1.1 127.0.1.2 127.0.2.1 127.0.2.2 127.0.3.1 127.0.3.2; do
        [[ $(REDISCLI_AUTH=$(cat "'"$T_STATE"'/secrets/admin.pass") redis-cli --no-auth-warning \
            --user admin -h $a -p '"$BASE"' DBSIZE) == 500 ]] || exit 1
    done'

say "destroy again"
pids=()
while IFS= read -r f; do pids+=("$(cat "$f")"); done < <(find "$ROOT" -name '*.pid')
"$MERIDIAN" destroy "$T_TOPO" --state "$T_STATE" --yes >"$T_DIR/x2.out" 2>&1
rc=$?
sleep 0.2
alive=0
for pid in "${pids[@]}"; do pid_alive "$pid" && alive=$((alive + 1)); done
c "destroy exits 0 and none of the ${#pids[@]} recorded processes is left" \
    test "$rc $alive ${#pids[@]}" = "0 0 15"

harness_stop_all
finish "$checks"
