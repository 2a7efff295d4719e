#!/usr/bin/env bash
# bench/status.sh [RUNS]: time `meridian status` on a healthy 6-host
# deployment and on a 1-host one, in the same run, print the ratio (target
# <= 1.5: probes run concurrently) and the peak RSS (target <= 10 MB).
BUILD=${BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
SRC=${SRC:-$(cd "$(dirname "$0")/.." && pwd)}
export BUILD SRC
source "$SRC/tests/integration/lib.sh"

RUNS=${1:-30}
write_topology "$T_DIR/six.json" benchsix 16740
write_single "$T_DIR/one.json" benchone 16760
for t in six one; do
    track "$T_DIR/$t.json" "$T_DIR/$t"
    "$MERIDIAN" deploy "$T_DIR/$t.json" --state "$T_DIR/$t" >"$T_DIR/out" 2>&1 ||
        { cat "$T_DIR/out"; exit 1; }
done
record_pids

# runs TOPO: RUNS timed status calls; prints "median_ms peak_rss_kb".
runs() {
    local times=() peak=0 t0 t1 rss
    for ((i = 0; i < RUNS; i++)); do
        t0=$(date +%s%N)
        /usr/bin/time -f '%M' -o "$T_DIR/rss" "$MERIDIAN" status "$T_DIR/$1.json" \
            --state "$T_DIR/$1" --json >/dev/null 2>&1
        rss=$(tail -1 "$T_DIR/rss")
        t1=$(date +%s%N)
        times+=($(((t1 - t0) / 1000)))
        ((rss > peak)) && peak=$rss
    done
    printf '%s\n' "${times[@]}" | sort -n | awk -v p="$peak" '{a[NR]=$1} END {print a[int((NR+1)/2)], p}'
}

read -r m6 r6 < <(runs six)
read -r m1 r1 < <(runs one)
echo "status of a healthy deployment ($RUNS runs each, median)"
awk -v a="$m6" -v b="$m1" -v r6="$r6" -v r1="$r1" 'BEGIN {
    printf "  6 hosts: %.1f ms, peak RSS %.1f MB\n", a / 1000, r6 / 1024
    printf "  1 host:  %.1f ms, peak RSS %.1f MB\n", b / 1000, r1 / 1024
    printf "  ratio 6-host / 1-host: %.2f (target <= 1.5); peak RSS target <= 10 MB\n", a / b }'
