#!/usr/bin/env bash
# bench/deploy.sh [ROUNDS]: time `meridian deploy` from nothing to
# verified-healthy for the 6-host three-region topology and for a 1-host
# topology, in the same run, and print the ratio (target <= 1.5: hosts are
# deployed concurrently).  Also times the 6-host deploy with --parallel 1
# (one host at a time) to show what the concurrency buys.
BUILD=${BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
SRC=${SRC:-$(cd "$(dirname "$0")/.." && pwd)}
export BUILD SRC
source "$SRC/tests/integration/lib.sh"

ROUNDS=${1:-5}
write_topology "$T_DIR/six.json" benchsix 16700
write_single "$T_DIR/one.json" benchone 16720

# deploy_ms TOPOLOGY STATE [ARGS]: one deploy from nothing, then destroy.
deploy_ms() {
    local t0 t1 topo=$1 state=$2
    shift 2
    track "$topo" "$state"
    t0=$(now_ms)
    "$MERIDIAN" deploy "$topo" --state "$state" "$@" >"$T_DIR/out" 2>&1 ||
        { cat "$T_DIR/out"; exit 1; }
    t1=$(now_ms)
    record_pids
    "$MERIDIAN" destroy "$topo" --state "$state" --yes >/dev/null 2>&1
    echo $((t1 - t0))
}

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

six=() one=() seq=()
for ((i = 1; i <= ROUNDS; i++)); do
    six+=("$(deploy_ms "$T_DIR/six.json" "$T_DIR/six-$i")")
    one+=("$(deploy_ms "$T_DIR/one.json" "$T_DIR/one-$i")")
    seq+=("$(deploy_ms "$T_DIR/six.json" "$T_DIR/seq-$i" --parallel 1)")
done
m6=$(median "${six[@]}")
m1=$(median "${one[@]}")
ms=$(median "${seq[@]}")
echo "deploy, from nothing to verified healthy ($ROUNDS rounds, median ms)"
echo "  6 hosts:              ${six[*]} -> $m6 ms"
echo "  1 host:               ${one[*]} -> $m1 ms"
echo "  6 hosts, --parallel 1: ${seq[*]} -> $ms ms"
awk -v a="$m6" -v b="$m1" -v s="$ms" 'BEGIN {
    printf "  ratio 6-host / 1-host: %.2f (target <= 1.5)\n", a / b
    printf "  ratio 6-host / 6-host --parallel 1: %.2f\n", a / s }'
