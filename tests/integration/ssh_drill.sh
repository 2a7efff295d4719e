#!/usr/bin/env bash
# Drills over ssh: deploy the three-region topology to six real sshd test
# hosts (sshd-harness.sh), then break it on purpose through ssh only -
# `meridian-agent fault` on the hosts, nftables rules installed with
# `nft -f -` on the region's hosts, agents restarted with `run --daemon` -
# and check that each drill measured a failover, lost no acknowledged
# write, and put everything back.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sshd-harness.sh"

BASE=${PORT_BASE:-16880}     # store; agents BASE+1000, sentinels BASE+10000
SSH_PORT=${SSH_PORT:-22880}
H="$T_DIR/hosts"
ROOT="$T_DIR/remote"
checks=0
c() { checks=$((checks + 1)); check "$@"; }

drop_partition() { nft delete table inet meridian_itsshdrill 2>/dev/null || true; }
# cleanup destroys over ssh while the sshds still run, then kills what is
# left by the recorded pids (the sshds' too)
trap 'drop_partition; cleanup' EXIT

harness_init "$H" || exit 1
for h in "${HARNESS_HOSTS[@]}"; do harness_start "${h%%:*}" "${h#*:}" "$SSH_PORT" || exit 1; done
record_pids

T_TOPO="$T_DIR/ssh.json"
write_topology "$T_TOPO" itsshdrill "$BASE"
# Sentinel's cooldown between two failovers of one master is twice this.
jq --arg id "$H/client_key" --arg kh "$H/known_hosts" --arg root "$ROOT" --arg user "$(id -un)" \
    --argjson port "$SSH_PORT" \
    '.sentinel.failover_timeout_ms = 3000 |
     .transport = {kind: "ssh", user: $user, port: $port, identity: $id,
                   known_hosts: $kh, root: $root}' "$T_TOPO" >"$T_TOPO.tmp" && mv "$T_TOPO.tmp" "$T_TOPO"

"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 --accept-new-host-keys \
    >"$T_DIR/deploy.out" 2>&1 || { cat "$T_DIR/deploy.out"; fail "deploy over ssh"; exit 1; }
record_pids

leader_host() { jq -r .leader.host "$T_DIR/st.json"; }
pid_of() { cat "$ROOT/hosts/$1/$2"; }

say "kill-leader over ssh"
status_json
before=$(leader_host)
victim=$(pid_of "$before" redis/redis.pid)
drill kill kill-leader
c "kill-leader passes (exit 0), 0 acknowledged writes lost" \
    test "$rc/$(field verdict kill)/$(field acked_writes_lost kill)" = "0/pass/0"
c "the leader's redis-server (pid $victim, from its pid file on the host) was killed through ssh" \
    grep -q "$before: killed redis-server pid $victim\$" "$T_DIR/kill.err"
c "it is gone" bash -c "! kill -0 $victim 2>/dev/null"
c "failover measured ($(field failover_ms kill) ms), the leader moved off $before" \
    test "$(field failover_ms kill)" != null -a "$(leader_host)" != "$before"
c "healthy afterwards" test "$(jq -r .health "$T_DIR/st.json")" = ok

say "region-outage of the leader's region over ssh"
leader=$(leader_host)
region=$(region_of "$leader")
agent_before=$(pid_of "$leader" agent.pid)
drill outage region-outage "$region"
c "region-outage $region passes, 0 acknowledged writes lost" \
    test "$rc/$(field acked_writes_lost outage)" = "0/0"
c "both agents of $region were killed, then restarted through ssh" \
    test "$(grep -c 'killed meridian-agent pid' "$T_DIR/outage.err") $(grep -c 'restarted the agent of' "$T_DIR/outage.err")" = "2 2"
agent_after=$(pid_of "$leader" agent.pid)
c "$leader runs a new agent (pid $agent_before -> $agent_after)" \
    test "$agent_after" != "$agent_before" -a -n "$agent_after"
c "the new leader $(leader_host) is outside $region; healthy again" \
    test "$(region_of "$(leader_host)")" != "$region" -a "$(jq -r .health "$T_DIR/st.json")" = ok

say "partition of the leader's region over ssh"
leader=$(leader_host)
region=$(region_of "$leader")
drill partition partition "$region"
c "partition $region passes without split brain" \
    test "$rc/$(field split_brain partition)" = "0/false"
c "the rules went to both hosts of $region and came off again" \
    test "$(grep -c 'partitioned .* (3 addresses)' "$T_DIR/partition.err") $(grep -c 'partition removed' "$T_DIR/partition.err")" = "1 1"
refused=$(field isolated_refused_ms partition)
c "the isolated old leader refused writes within 6 s ($refused ms)" \
    test "$refused" != null -a "${refused:-99999}" -le 6000
c "no nftables table is left" bash -c '! nft list tables | grep -q meridian_itsshdrill'
c "one leader afterwards, outside $region" \
    test "$(jq '[.nodes[] | select(.role == "leader")] | length' "$T_DIR/st.json")" -eq 1 -a \
    "$(region_of "$(leader_host)")" != "$region"

say "destroy over ssh"
"$MERIDIAN" destroy "$T_TOPO" --state "$T_STATE" --yes >"$T_DIR/x.out" 2>&1
c "destroy exits 0" test "$?" -eq 0

harness_stop_all

finish "$checks"
