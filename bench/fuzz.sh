#!/usr/bin/env bash
# bench/fuzz.sh [RUNS] [TARGET...]: long fuzzing runs.  Each harness of
# tests/fuzz/ (default: all) runs until RUNS executions (default
# 10,000,000: the project's target per parser without a finding), from
# its seed corpus, under ASan and UBSan, at nice 10 (the machine is
# shared).  Prints executions, exec/s, coverage and the result per
# target, as scripts/fuzz.sh does (it is the same runner), and exits
# non-zero on any finding (kept in build-fuzz/fuzz-findings/TARGET/).
#
#   FUZZ_PARALLEL=N   harnesses run N at a time (default 2: two cores)
#   FUZZ_MAX_S=S      stop a harness after S seconds even short of RUNS
#                     (default 0: no limit)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10000000}
shift || true
parallel=${FUZZ_PARALLEL:-2}
export FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}

FUZZ_BUILD_ONLY=1 scripts/fuzz.sh
mapfile -t all < "$FUZZ_BUILD/fuzz-targets.txt"
targets=("$@")
((${#targets[@]})) || targets=("${all[@]}")

out=$(mktemp -d "${TMPDIR:-/tmp}/meridian-fuzz-bench.XXXXXX")
trap 'rm -rf "$out"' EXIT
echo "bench/fuzz: ${#targets[@]} harnesses, $runs executions each, $parallel at a time, nice 10"
start=$(date +%s)
pids=()
for t in "${targets[@]}"; do
    while (($(jobs -rp | wc -l) >= parallel)); do
        wait -n || true
    done
    FUZZ_NO_BUILD=1 FUZZ_RUNS=$runs FUZZ_NICE=10 scripts/fuzz.sh "${FUZZ_MAX_S:-0}" "$t" \
        >"$out/$t.txt" 2>&1 &
    pids+=($!)
done
failed=0
for p in "${pids[@]}"; do
    wait "$p" || failed=$((failed + 1))
done
printf '%-12s %6s %12s %8s %9s %7s  %s\n' target seeds executions exec/s coverage corpus result
for t in "${targets[@]}"; do
    grep -E "^$t " "$out/$t.txt" || { echo "$t: no result"; cat "$out/$t.txt"; }
    sed -n '/^    /p' "$out/$t.txt"
done
elapsed=$(($(date +%s) - start))
echo "bench/fuzz: ${#targets[@]} harnesses, $((${#targets[@]} - failed)) clean, $failed with findings," \
    "$((elapsed / 60)) min $((elapsed % 60)) s"
((failed == 0))
