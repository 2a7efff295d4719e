#!/usr/bin/env bash
# bench/status.sh [RUNS]: time `meridian status` on a healthy 6-host
# deployment and on a 1-host one, in the same run, print the ratio (target
# <= 1.5: probes run concurrently) and the peak RSS (target <= 10 MB).
#
# BASELINE_BUILD=/path/to/other/build bench/status.sh [RUNS]: also time that
# build's `meridian status` on the same deployments, each of its runs right
# after one of this build's (so both see the same machine load), and print
# this build / baseline for time and peak RSS (target <= 1.10 each): the
# before and after of a change from one run.
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

# runs TOPO BIN: RUNS timed status calls of BIN, interleaved with those of
# every other BIN of the same run (see both); prints "median_ms peak_rss_kb".
# run_one TOPO BIN TAG: one timed call, its µs and RSS appended to TAG's files.
run_one() {
    local t0 t1
    t0=$(date +%s%N)
    /usr/bin/time -f '%M' -o "$T_DIR/rss" "$2" status "$T_DIR/$1.json" \
        --state "$T_DIR/$1" --json >/dev/null 2>&1
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000)) >>"$T_DIR/$3.times"
    tail -1 "$T_DIR/rss" >>"$T_DIR/$3.rss"
}

# median TAG: "median_us peak_rss_kb" of TAG's runs.
median() {
    local peak
    peak=$(sort -n "$T_DIR/$1.rss" | tail -1)
    sort -n "$T_DIR/$1.times" | awk -v p="$peak" '{a[NR]=$1} END {print a[int((NR+1)/2)], p}'
}

# runs TOPO: RUNS calls of this build (and of the baseline's, alternating).
runs() {
    rm -f "$T_DIR"/{new,base}.{times,rss}
    for ((i = 0; i < RUNS; i++)); do
        run_one "$1" "$MERIDIAN" new
        [[ -n ${BASELINE_BUILD:-} ]] && run_one "$1" "$BASELINE_BUILD/meridian" base
    done
    read -r m r < <(median new)
    echo "$m $r"
    if [[ -n ${BASELINE_BUILD:-} ]]; then
        read -r m r < <(median base)
        echo "$m $r"
    fi
}

report() { # LABEL MEDIAN_US PEAK_KB
    awk -v l="$1" -v m="$2" -v r="$3" 'BEGIN {
        printf "  %-8s %.1f ms, peak RSS %.1f MB\n", l, m / 1000, r / 1024 }'
}

if [[ -n ${BASELINE_BUILD:-} && ! -x $BASELINE_BUILD/meridian ]]; then
    echo "BASELINE_BUILD=$BASELINE_BUILD has no meridian binary" >&2
    exit 2
fi
{ read -r m6 r6; read -r bm6 br6; } < <(runs six)
{ read -r m1 r1; read -r bm1 br1; } < <(runs one)
echo "status of a healthy deployment ($RUNS runs each, median)"
report "6 hosts:" "$m6" "$r6"
report "1 host:" "$m1" "$r1"
awk -v a="$m6" -v b="$m1" 'BEGIN {
    printf "  ratio 6-host / 1-host: %.2f (target <= 1.5); peak RSS target <= 10 MB\n", a / b }'
if [[ -n ${BASELINE_BUILD:-} ]]; then
    echo "baseline $BASELINE_BUILD (same deployments, runs alternating)"
    report "6 hosts:" "$bm6" "$br6"
    report "1 host:" "$bm1" "$br1"
    awk -v a="$m6" -v b="$bm6" -v r="$r6" -v s="$br6" 'BEGIN {
        printf "  this / baseline, 6 hosts: time %.2f, peak RSS %.2f (target <= 1.10 each)\n",
            a / b, r / s }'
fi
