#!/usr/bin/env bash
# bench/ssh-deploy.sh [ROUNDS]: time `meridian deploy` over ssh, from
# nothing to verified-healthy, of the 6-host three-region topology on six
# sshd test hosts (tests/integration/sshd-harness.sh), with --parallel 6
# and with --parallel 1 in the same run; print the ratio (target <= 0.4)
# and the ssh connections opened per host per deploy (target: one), counted
# twice: by meridian (its summary line) and by each sshd (its "Accepted
# publickey" log lines).
#
# Two networks, each measured both ways in the same run:
#   loopback  meridian talks to the sshds directly (no latency at all);
#   wan       through build/delay-relay, which delays every byte between
#             meridian and the sshds by RTT_MS/2 each way (default 30 ms
#             round trip: hosts in other regions).  Only the ssh leg is
#             delayed; Redis, Sentinel and the agents' API are not.
BUILD=${BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
SRC=${SRC:-$(cd "$(dirname "$0")/.." && pwd)}
export BUILD SRC
source "$SRC/tests/integration/lib.sh"
source "$SRC/tests/integration/sshd-harness.sh"

ROUNDS=${1:-3}
BASE=${PORT_BASE:-16840}
SSH_PORT=${SSH_PORT:-22840}
RELAY_PORT=$((SSH_PORT + 1))
RTT_MS=${RTT_MS:-30}
H="$T_DIR/hosts"
harness_init "$H" || exit 1
for h in "${HARNESS_HOSTS[@]}"; do harness_start "${h%%:*}" "${h#*:}" "$SSH_PORT" || exit 1; done
record_pids

relay=()
for h in "${HARNESS_HOSTS[@]}"; do relay+=("${h#*:}:$RELAY_PORT=${h#*:}:$SSH_PORT"); done
coproc RELAY { exec "$BUILD/delay-relay" $((RTT_MS / 2)) "${relay[@]}"; }
T_PIDS+=("$RELAY_PID")
read -r -t 5 ready <&"${RELAY[0]}"
[[ $ready == ready ]] || { echo "delay-relay did not start" >&2; exit 1; }

# topology FILE PORT: the six hosts, reached over ssh on PORT.
topology() {
    write_topology "$1" benchssh "$BASE"
    jq --arg id "$H/client_key" --arg kh "$H/known_hosts" --arg root "$T_DIR/remote" \
        --arg user "$(id -un)" --argjson port "$2" \
        '.transport = {kind: "ssh", user: $user, port: $port, identity: $id, known_hosts: $kh,
                       root: $root}' "$1" >"$1.tmp" && mv "$1.tmp" "$1"
}
topology "$T_DIR/loopback.json" "$SSH_PORT"
topology "$T_DIR/wan.json" "$RELAY_PORT"
# Trust the six host keys once per port, outside the timed runs.
for net in loopback wan; do
    track "$T_DIR/$net.json" "$T_DIR/warm"
    "$MERIDIAN" deploy "$T_DIR/$net.json" --state "$T_DIR/warm" --accept-new-host-keys \
        >"$T_DIR/out" 2>&1 || { cat "$T_DIR/out"; exit 1; }
    record_pids
    "$MERIDIAN" destroy "$T_DIR/$net.json" --state "$T_DIR/warm" --yes >/dev/null 2>&1
done

# logins: each host's count of accepted logins so far, space-separated.
logins() {
    local h
    for h in "${HARNESS_HOSTS[@]}"; do printf '%s ' "$(harness_logins "${h%%:*}")"; done
}

# busy_ms: CPU time spent by the whole machine so far (all cores), in ms.
busy_ms() { awk '/^cpu / {print ($2 + $3 + $4 + $7 + $8) * 10}' /proc/stat; }

# deploy_ms NET STATE ARGS: one deploy of $T_DIR/NET.json from nothing,
# then destroy.  Appends "CONNECTIONS-MERIDIAN-COUNTED LOGINS-LOGGED
# MOST-LOGINS-ON-ONE-HOST CPU-MS" to $T_DIR/conns-NET.
deploy_ms() {
    local TOPO="$T_DIR/$1.json" net=$1 state=$2 t0 t1 c0 c1 l0 l1 i most=0 sum=0
    shift 2
    track "$TOPO" "$state"
    l0=($(logins))
    c0=$(busy_ms)
    t0=$(now_ms)
    "$MERIDIAN" deploy "$TOPO" --state "$state" "$@" >"$T_DIR/out" 2>&1 ||
        { cat "$T_DIR/out" >&2; exit 1; }
    t1=$(now_ms)
    c1=$(busy_ms)
    l1=($(logins))
    for i in "${!l1[@]}"; do
        d=$((l1[i] - l0[i]))
        sum=$((sum + d))
        ((d > most)) && most=$d
    done
    record_pids
    echo "$(sed -n 's/^  ssh  *\([0-9]*\) connections to 6 hosts.*/\1/p' "$T_DIR/out") $sum $most $((c1 - c0))" \
        >>"$T_DIR/conns-$net"
    "$MERIDIAN" destroy "$TOPO" --state "$state" --yes >/dev/null 2>&1
    echo $((t1 - t0))
}

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# report NET: the medians, the ratio and the connection counts of NET.
report() {
    local net=$1 mp ms
    local -n p=par_$net s=seq_$net
    mp=$(median "${p[@]}")
    ms=$(median "${s[@]}")
    echo "  $2"
    echo "    --parallel 6: ${p[*]} -> $mp ms"
    echo "    --parallel 1: ${s[*]} -> $ms ms"
    awk -v a="$mp" -v b="$ms" 'BEGIN { printf "    ratio --parallel 6 / --parallel 1: %.2f (target <= 0.4)\n", a / b }'
    awk -v ncpu="$(nproc)" '{ m += $1; s += $2; n++; if ($3 > most) most = $3; cpu += $4 }
         END { printf "    ssh connections per host per deploy (%d deploys): %.2f counted by meridian, " \
                      "%.2f logins logged by the sshds, at most %d on one host (target: 1)\n",
                      n, m / n / 6, s / n / 6, most
               printf "    CPU per deploy, whole machine (sshd, shells, agents, Redis, meridian): " \
                      "%d ms on %d cores\n", cpu / n, ncpu }' "$T_DIR/conns-$net"
}

par_loopback=() seq_loopback=() par_wan=() seq_wan=()
for ((i = 1; i <= ROUNDS; i++)); do
    for net in loopback wan; do
        declare -n p=par_$net s=seq_$net
        p+=("$(deploy_ms "$net" "$T_DIR/$net-par-$i" --parallel 6)")
        s+=("$(deploy_ms "$net" "$T_DIR/$net-seq-$i" --parallel 1)")
        unset -n p s
    done
done
echo "deploy over ssh, 6 hosts, from nothing to verified healthy ($ROUNDS rounds, median ms)"
report loopback "loopback (no added latency; the six hosts share this machine's $(nproc) cores)"
report wan "wan: ${RTT_MS} ms round trip between meridian and every host (delay-relay)"
kill "$RELAY_PID" 2>/dev/null
harness_stop_all
