#!/usr/bin/env bash
# bench/reconcile.sh [ROUNDS]: time `meridian deploy` of a changed setting
# on a running 6-host, 3-sentinel deployment, to "deployed and verified":
# each round flips store.maxmemory (64mb <-> 32mb) and sentinel.down_after_ms
# (1000 <-> 3000), so every node gets CONFIG SET + CONFIG REWRITE and every
# sentinel SENTINEL SET, one process at a time.  Prints each round and the
# median, next to a deploy that changes nothing (the same run), and checks
# that no Redis or Sentinel pid changed.
BUILD=${BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
SRC=${SRC:-$(cd "$(dirname "$0")/.." && pwd)}
export BUILD SRC
source "$SRC/tests/integration/lib.sh"

ROUNDS=${1:-5}
BASE=16780
A="$T_DIR/a.json" B="$T_DIR/b.json"
write_topology "$A" benchrec "$BASE"
sed -e 's/"down_after_ms": 1000/"down_after_ms": 3000/' -e 's/"maxmemory": "64mb"/"maxmemory": "32mb"/' \
    "$A" >"$B"
cmp -s "$A" "$B" && { echo "bench/reconcile.sh: the topology has no setting to change" >&2; exit 1; }
track "$A" "$T_DIR/state"
"$MERIDIAN" deploy "$A" --state "$T_DIR/state" >"$T_DIR/out" 2>&1 || { cat "$T_DIR/out"; exit 1; }
record_pids
pids() { cat "$T_DIR"/state/hosts/*/redis/redis.pid "$T_DIR"/state/hosts/*/sentinel/sentinel.pid | sort; }
pids >"$T_DIR/pids.before"

# deploy_us TOPOLOGY: one deploy; prints its wall time in µs; fails unless it
# exits 0.
deploy_us() {
    local t0 t1
    t0=$(date +%s%N)
    "$MERIDIAN" deploy "$1" --state "$T_DIR/state" >"$T_DIR/out" 2>&1 || { cat "$T_DIR/out" >&2; return 1; }
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000))
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

changed=() same=()
for ((i = 0; i < ROUNDS; i++)); do
    if ((i % 2 == 0)); then topo=$B; else topo=$A; fi
    us=$(deploy_us "$topo") || exit 1
    n=$(grep -c 'changed: ' "$T_DIR/out")
    printf '  round %d: %d ms, %d changes applied live\n' "$((i + 1))" "$((us / 1000))" "$n"
    changed+=("$us")
    us=$(deploy_us "$topo") || exit 1
    grep -q '^no changes' "$T_DIR/out" || { echo "the repeat deploy did not say no changes" >&2; exit 1; }
    same+=("$us")
done
pids >"$T_DIR/pids.after"
cmp -s "$T_DIR/pids.before" "$T_DIR/pids.after" || { echo "a Redis or Sentinel pid changed" >&2; exit 1; }
mc=$(printf '%s\n' "${changed[@]}" | median)
ms=$(printf '%s\n' "${same[@]}" | median)
echo "deploy of a changed setting, 6 hosts and 3 sentinels ($ROUNDS rounds, median)"
awk -v c="$mc" -v s="$ms" 'BEGIN {
    printf "  changed (maxmemory + down_after_ms, reconciled live): %.0f ms\n", c / 1000
    printf "  unchanged (no changes): %.0f ms; reconcile costs %.0f ms more\n", s / 1000, (c - s) / 1000 }'
echo "  no Redis or Sentinel pid changed"
