#!/usr/bin/env bash
# bench/cluster-partition.sh: how long a Redis Cluster master cut off from
# the majority of masters still accepts writes (issue 12, part 4), with the
# agent's fence (agent.fence) and without it (Redis Cluster alone).
#
# Deploys regions/local-cluster.json's layout (3 regions x 2 hosts, 3
# shards with 2 replicas each; node timeout NODE_TIMEOUT ms) on PORT_BASE,
# once per configuration of CONFIGS ("INTERVAL_MS:FENCE" pairs:
# agent.interval_ms and agent.fence), then ROUNDS times: a writer inside
# us-east (bound to 127.0.1.250, the drill's in-partition probe address)
# writes SET {tag}:<seq> + WAIT 1 200 to shard 1's master use-a1 every
# ~10 ms; an nftables table drops every TCP packet between us-east's
# addresses (and the writer's) and the rest, on this deployment's ports
# only (nodes, cluster bus, agent); the script records when the isolated
# master first refuses a write, what it refused with, and how many writes
# it acknowledged meanwhile (each one lost: the majority side promotes
# shard 1's eu-west replica; counted again after the heal as the
# acknowledged keys the cluster no longer has).  The table is removed in a
# trap on every exit.  Then the partition heals, the old master turns into
# a replica of the new one, and a manual failover back puts shard 1's
# master on use-a1 for the next round.
#
#   BUILD=build SRC=. bench/cluster-partition.sh
#   ROUNDS=3 PORT_BASE=14400 CONFIGS="500:true 500:false 1000:true 1000:false"
#   MIN_REPLICAS=N sets consistency.min_replicas_to_write (default 1).
set -u
BUILD=${BUILD:-build}
SRC=${SRC:-.}
source "$SRC/tests/integration/lib.sh"
BASE=${PORT_BASE:-14400}
ROUNDS=${ROUNDS:-3}
NODE_TIMEOUT=${NODE_TIMEOUT:-3000}
MIN_REPLICAS=${MIN_REPLICAS:-1}
CONFIGS=${CONFIGS:-500:true 500:false 1000:true 1000:false}
T_TOPO="$T_DIR/cluster.json"
TABLE=meridian_itcpart
# topo INTERVAL FENCE
topo() {
    jq --argjson p "$BASE" --argjson t "$NODE_TIMEOUT" --argjson m "$MIN_REPLICAS" \
        --argjson i "$1" --argjson f "$2" '
        .name = "itcpart" | .store.port = $p | .agent.port = ($p + 1000)
        | .store.maxmemory = "64mb" | .store.repl_backlog = "16mb"
        | .cluster.node_timeout_ms = $t | .agent.interval_ms = $i | .agent.fence = $f
        | .consistency.min_replicas_to_write = $m' "$SRC/regions/local-cluster.json" >"$T_TOPO"
}
unpartition() { printf 'add table inet %s\ndelete table inet %s\n' "$TABLE" "$TABLE" | nft -f -; }
trap 'unpartition; cleanup' EXIT
partition() {
    local p=$BASE
    nft -f - <<NFT
table inet $TABLE {
  set inside { type ipv4_addr; elements = { 127.0.1.1, 127.0.1.2, 127.0.1.250 } }
  set ports { type inet_service; elements = { $p, $((p + 1)), $((p + 10000)), $((p + 10001)), $((p + 1000)) } }
  chain output {
    type filter hook output priority 0; policy accept;
    ip saddr @inside ip daddr != @inside tcp dport @ports drop
    ip saddr @inside ip daddr != @inside tcp sport @ports drop
    ip daddr @inside ip saddr != @inside tcp dport @ports drop
    ip daddr @inside ip saddr != @inside tcp sport @ports drop
  }
  chain input {
    type filter hook input priority 0; policy accept;
    ip saddr @inside ip daddr != @inside tcp dport @ports drop
    ip saddr @inside ip daddr != @inside tcp sport @ports drop
    ip daddr @inside ip saddr != @inside tcp dport @ports drop
    ip daddr @inside ip saddr != @inside tcp sport @ports drop
  }
}
NFT
}

# bounded: our own connections leave from 127.0.0.1, cut off from us-east
adm() { timeout 5 env REDISCLI_AUTH="$ADMIN" redis-cli --no-auth-warning --user admin "$@"; }

# writer OUT SECONDS: from 127.0.1.250 to use-a1, one line per attempt:
# "<unix ms> ok" or "<unix ms> <error>".
writer() {
    APP_PASS=$APP python3 - "$1" "$2" "$BASE" "$tag" <<'PY'
import os, socket, sys, time
out, secs, port, tag = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def cmd(*a):
    return b"".join([b"*%d\r\n" % len(a)] + [b"$%d\r\n%s\r\n" % (len(x), x) for x in
                     (s if isinstance(s, bytes) else str(s).encode() for s in a)])
def conn():
    s = socket.socket()
    s.settimeout(1.0)
    s.bind(("127.0.1.250", 0))
    s.connect(("127.0.1.1", port))
    s.sendall(cmd("AUTH", "app", os.environ["APP_PASS"]))
    f = s.makefile("rb")
    f.readline()
    return s, f
end = time.time() + secs
seq = 0
with open(out, "w") as o:
    s = f = None
    while time.time() < end:
        seq += 1
        try:
            if s is None:
                s, f = conn()
            s.sendall(cmd("SET", "{%s}:%d" % (tag, seq), seq) + cmd("WAIT", 1, 200))
            a = f.readline().strip().decode()
            b = f.readline().strip().decode()
            ok = a == "+OK" and b.startswith(":") and int(b[1:]) >= 1
            o.write("%d %s %d\n" % (time.time() * 1000, "ok" if ok else (a + " " + b), seq))
        except Exception as e:
            o.write("%d %s\n" % (time.time() * 1000, type(e).__name__))
            s = f = None
        o.flush()
        time.sleep(0.01)
PY
}

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : int((a[NR / 2] + a[NR / 2 + 1]) / 2)}'; }
SUMMARY=()
for cfg in $CONFIGS; do
    INTERVAL=${cfg%:*} FENCE=${cfg#*:}
    topo "$INTERVAL" "$FENCE"
    "$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/deploy.out" 2>&1 ||
        { cat "$T_DIR/deploy.out"; exit 1; }
    record_pids
    ADMIN=$(cat "$T_STATE/secrets/admin.pass")
    APP=$(cat "$T_STATE/secrets/app.pass")
    tag=""
    for i in $(seq 0 200); do
        s=$(adm -h 127.0.2.1 -p "$BASE" cluster keyslot "t$i")
        ((s <= 5460)) && { tag=t$i; break; }
    done
    say "agent.interval_ms $INTERVAL, agent.fence $FENCE"
    WINDOWS=() ACCEPTED=() LOST=()
    for r in $(seq 1 "$ROUNDS"); do
        say "round $r: shard 1's master $(adm -h 127.0.1.1 -p "$BASE" role | head -1) on use-a1"
        writer "$T_DIR/w$r.log" $((NODE_TIMEOUT / 1000 + 8)) &
        wpid=$!
        T_PIDS+=("$wpid")
        sleep 1
        t_part=$(now_ms)
        partition
        wait "$wpid"
        refused=$(awk -v t="$t_part" '$1 > t && $2 != "ok" {print $1; exit}' "$T_DIR/w$r.log")
        why=$(awk -v t="$t_part" '$1 > t && $2 != "ok" {$1 = ""; print; exit}' "$T_DIR/w$r.log")
        acc=$(awk -v t="$t_part" '$1 > t && $2 == "ok"' "$T_DIR/w$r.log" | wc -l)
        WINDOWS+=($((refused - t_part)))
        ACCEPTED+=("$acc")
        acked=$(awk -v t="$t_part" '$1 > t && $2 == "ok" {print $3}' "$T_DIR/w$r.log")
        say "round $r: the isolated master acknowledged $acc writes, first refused one $((refused - t_part)) ms after the partition:$why"
        sleep $((NODE_TIMEOUT * 2 / 1000 + 2)) # the majority side fails shard 1 over
        unpartition
        # the old master rejoins as a replica; heal, then move shard 1 back home
        home() { adm -h 127.0.1.1 -p "$BASE" role 2>/dev/null | head -1 | grep -q master; }
        back() {
            adm -h 127.0.1.1 -p "$BASE" cluster nodes 2>/dev/null | grep -q 'myself,slave ' &&
                [[ $(adm -h 127.0.1.1 -p "$BASE" info replication | tr -d '\r' | awk -F: '$1 == "master_link_status" {print $2}') == up ]]
        }
        wait_for 60 back || { say "use-a1 never rejoined"; exit 1; }
        # a manual failover times out (5 s) when it starts while the shard
        # still settles: try again
        for try in 1 2 3 4; do
            adm -h 127.0.1.1 -p "$BASE" cluster failover >/dev/null
            wait_for 8 home && break
        done
        home || { say "shard 1 did not move back to use-a1"; exit 1; }
        lost=0
        [[ -n $acked ]] && lost=$(for q in $acked; do echo "GET {$tag}:$q"; done |
            adm -h 127.0.1.1 -p "$BASE" | grep -c '^$')
        LOST+=("$lost")
        say "round $r: $lost of the $acc acknowledged during the partition lost"
        sleep 3
    done
    SUMMARY+=("node timeout $NODE_TIMEOUT ms, interval $INTERVAL ms, fence $FENCE, min_replicas_to_write $MIN_REPLICAS: first refused write after ${WINDOWS[*]} ms (median $(median "${WINDOWS[@]}")); acknowledged meanwhile: ${ACCEPTED[*]}; lost: ${LOST[*]}")
    say "${SUMMARY[-1]}"
    "$MERIDIAN" destroy "$T_TOPO" --state "$T_STATE" --yes >/dev/null 2>&1
done
for l in "${SUMMARY[@]}"; do say "$l"; done
