#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]: build the libFuzzer
# harnesses (tests/fuzz/) with clang into build-fuzz/ and run each for
# SECONDS_PER_TARGET (default 30) on a copy of its seed corpus.
#
# One line per harness: seeds, executions, executions per second, coverage
# (edges reached), corpus size at the end, and the result.  Exits non-zero
# when any harness found something (crash, sanitizer report, failed check,
# leak, timeout, out of memory); the input is kept in
# build-fuzz/fuzz-findings/TARGET/ and the line says how to reproduce it.
#
# TARGET names are those of tests/fuzz/CMakeLists.txt (default: all).
# Environment:
#   FUZZ_RUNS=N         run each target for N executions instead of a time
#                       budget (bench/fuzz.sh); SECONDS_PER_TARGET is then
#                       only a safety limit (0: none)
#   FUZZ_BUILD=DIR      build folder (default build-fuzz)
#   FUZZ_KEEP=1         keep the work folder (corpora, logs) and print it
#   FUZZ_NICE=N         run the harnesses under nice -n N (default 0)
#   FUZZ_FORK=N         libFuzzer -fork=N: N processes per target
#   FUZZ_JOBS=N         run N targets at a time (default: the CPUs; each
#                       target is one process, so the time budget per target
#                       holds and the whole run takes about 1/N as long)
#   FUZZ_SEED=N         libFuzzer -seed=N: the same inputs in the same order
#                       on every run (scripts/test.sh sets it, so that a
#                       test run explores what the last one did; the
#                       random exploration is bench/fuzz.sh's job)
#   FUZZ_BUILD_ONLY=1   configure and build, run nothing
#   FUZZ_NO_BUILD=1     run what FUZZ_BUILD holds, without building
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD

secs=${1:-30}
shift || true
[[ $secs =~ ^[0-9]+$ ]] && { ((secs > 0)) || [[ -n ${FUZZ_RUNS:-} ]]; } || {
    echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET > 0] [TARGET...]" \
        "(0 only with FUZZ_RUNS)" >&2
    exit 2
}
BUILD=${FUZZ_BUILD:-build-fuzz}
runs=${FUZZ_RUNS:-}
nice_n=${FUZZ_NICE:-0}
TIMEOUT_S=10        # one input taking longer is a finding
RSS_LIMIT_MB=2048   # more is a finding (out of memory)

if [[ ${FUZZ_NO_BUILD:-0} != 1 ]]; then
    command -v clang >/dev/null || {
        echo "fuzz: clang is missing: run scripts/install-deps.sh" >&2
        exit 1
    }
    jobs=$(nproc 2>/dev/null || echo 2)
    cmake -S . -B "$BUILD" -DCMAKE_C_COMPILER=clang -DMERIDIAN_FUZZ=ON -DMERIDIAN_TESTS=OFF \
        -DMERIDIAN_WERROR=ON -DCMAKE_BUILD_TYPE=Debug >"$BUILD.configure.log" 2>&1 ||
        { cat "$BUILD.configure.log" >&2; exit 1; }
    rm -f "$BUILD.configure.log"
    cmake --build "$BUILD" --target fuzz -j "$jobs" >"$BUILD/fuzz-build.log" 2>&1 ||
        { tail -40 "$BUILD/fuzz-build.log" >&2; exit 1; }
fi
[[ ${FUZZ_BUILD_ONLY:-0} == 1 ]] && exit 0

mapfile -t all < "$BUILD/fuzz-targets.txt"
targets=("$@")
((${#targets[@]})) || targets=("${all[@]}")
for t in "${targets[@]}"; do
    [[ -x $BUILD/fuzz_$t ]] || { echo "fuzz: no harness $t (have: ${all[*]})" >&2; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/meridian-fuzz.XXXXXX")
if [[ ${FUZZ_KEEP:-0} == 1 ]]; then
    echo "fuzz: work folder $work (kept)"
else
    trap 'rm -rf "$work"' EXIT
fi
tests/fuzz/seeds.sh "$BUILD" "$work/seeds"

# Per-target libFuzzer options: RDB inspection reads at most 4096 bytes
# of a payload (RDB_INSPECT_LEN in store/snapshot.c).
extra_opts() {
    case $1 in
    rdb) echo "-max_len=4096" ;;
    snapshot) echo "-max_len=16384" ;; # past the 4096 bytes of header kept
    *) echo "" ;;
    esac
}

if [[ -n $runs ]]; then
    budget="$runs executions each"
    ((secs > 0)) && budget+=", at most $secs s"
else
    budget="$secs s each"
fi
[[ -n ${FUZZ_SEED:-} ]] && budget+=", seed $FUZZ_SEED"
echo "fuzz: ${#targets[@]} harnesses, $budget ($BUILD, ASan+UBSan, seeds from the fixtures)"
printf '%-12s %6s %12s %8s %9s %7s  %s\n' target seeds executions exec/s coverage corpus result
# run_target T: fuzz T; its table line (and what it found) in $work/T.result
run_target() {
    local t=$1 dir=$work/$1 nseeds opts start end rc execs rate cov corpus artifact result kind keep
    mkdir -p "$dir/corpus" "$dir/artifacts"
    cp "$work/seeds/$t/"* "$dir/corpus/" 2>/dev/null || true
    nseeds=$(find "$dir/corpus" -type f | wc -l)
    opts=(-timeout="$TIMEOUT_S" -rss_limit_mb="$RSS_LIMIT_MB" -print_final_stats=1
          -artifact_prefix="$dir/artifacts/" $(extra_opts "$t"))
    [[ -f tests/fuzz/dict/$t.dict ]] && opts+=(-dict="tests/fuzz/dict/$t.dict")
    if [[ -n $runs ]]; then
        opts+=(-runs="$runs")
        ((secs > 0)) && opts+=(-max_total_time="$secs")
    else
        opts+=(-max_total_time="$secs")
    fi
    [[ -n ${FUZZ_FORK:-} ]] && opts+=(-fork="$FUZZ_FORK" -ignore_crashes=0)
    [[ -n ${FUZZ_SEED:-} ]] && opts+=(-seed="$FUZZ_SEED")
    start=$(date +%s.%N)
    rc=0
    nice -n "$nice_n" "$BUILD/fuzz_$t" "${opts[@]}" "$dir/corpus" >"$dir/log" 2>&1 || rc=$?
    end=$(date +%s.%N)

    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
    if [[ -z $execs ]]; then # a crash ends the run before the final stats
        execs=$(grep -o '^#[0-9]*' "$dir/log" | tail -1 | tr -d '#')
    fi
    execs=${execs:-0}
    rate=$(awk -v n="$execs" -v a="$start" -v b="$end" 'BEGIN { printf "%d", n / (b - a) }')
    cov=$(grep -o 'cov: [0-9]*' "$dir/log" | tail -1 | awk '{print $2}')
    corpus=$(find "$dir/corpus" -type f | wc -l)

    artifact=$(find "$dir/artifacts" -type f | head -1)
    if ((rc == 0)) && [[ -z $artifact ]]; then
        result=ok
    else
        kind=$(basename "${artifact:-none}" | cut -d- -f1)
        keep=$BUILD/fuzz-findings/$t
        mkdir -p "$keep"
        cp "$dir/log" "$keep/log"
        if [[ -n $artifact ]]; then
            cp "$artifact" "$keep/"
            result="FAILED ($kind): reproduce with $BUILD/fuzz_$t $keep/$(basename "$artifact")"
        else
            result="FAILED (exit $rc, no input kept): see $keep/log"
        fi
    fi
    {
        printf '%-12s %6d %12d %8d %9s %7d  %s\n' "$t" "$nseeds" "$execs" "$rate" "${cov:-?}" \
            "$corpus" "$result"
        if [[ $result != ok ]]; then
            grep -m1 -B2 -A25 -E '^==[0-9]+==ERROR|fuzz check failed|runtime error|ERROR: libFuzzer' \
                "$dir/log" | sed 's/^/    /' || true
        fi
    } >"$work/$t.result"
}

fuzz_jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
running=0
for t in "${targets[@]}"; do
    if ((running >= fuzz_jobs)); then
        wait -n
        running=$((running - 1))
    fi
    run_target "$t" &
    running=$((running + 1))
done
wait
passed=0 failed=0
for t in "${targets[@]}"; do
    cat "$work/$t.result"
    if [[ $(head -1 "$work/$t.result") == *"  ok" ]]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
done
echo "fuzz: ${#targets[@]} harnesses run, $passed passed, $failed failed"
((failed == 0))
