#!/usr/bin/env bash
# bench/deploy.sh [ROUNDS]: time `meridian deploy` from nothing to
# verified-healthy for the 6-host three-region topology and for a 1-host
# topology, in the same run, and print the ratio (target <= 1.5: hosts are
# deployed concurrently).
BUILD=${BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
SRC=${SRC:-$(cd "$(dirname "$0")/.." && pwd)}
export BUILD SRC
source "$SRC/tests/integration/lib.sh"

ROUNDS=${1:-5}
write_topology "$T_DIR/six.json" benchsix 16700
write_single "$T_DIR/one.json" benchone 16720

# deploy_ms TOPOLOGY STATE: one deploy from nothing, then destroy.
deploy_ms() {
    local t0 t1
    track "$1" "$2"
    t0=$(now_ms)
    "$MERIDIAN" deploy "$1" --state "$2" >"$T_DIR/out" 2>&1 || { cat "$T_DIR/out"; exit 1; }
    t1=$(now_ms)
    record_pids
    "$MERIDIAN" destroy "$1" --state "$2" --yes >/dev/null 2>&1
    echo $((t1 - t0))
}

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

six=() one=()
for ((i = 1; i <= ROUNDS; i++)); do
    six+=("$(deploy_ms "$T_DIR/six.json" "$T_DIR/six-$i")")
    one+=("$(deploy_ms "$T_DIR/one.json" "$T_DIR/one-$i")")
done
m6=$(median "${six[@]}")
m1=$(median "${one[@]}")
echo "deploy, from nothing to verified healthy ($ROUNDS rounds, median ms)"
echo "  6 hosts: ${six[*]} -> $m6 ms"
echo "  1 host:  ${one[*]} -> $m1 ms"
awk -v a="$m6" -v b="$m1" 'BEGIN { printf "  ratio 6-host / 1-host: %.2f (target <= 1.5)\n", a / b }'
