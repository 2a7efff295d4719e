#!/usr/bin/env bash
# Builds meridian and runs the whole test suite with ctest:
#   1. installs the Debian packages it needs (scripts/install-deps.sh);
#   2. builds with warnings as errors into build/ and runs every test
#      (unit and integration: real redis-server, redis-sentinel and
#      meridian-agent processes on 127.0.R.H loopback addresses);
#   3. builds the unit tests with AddressSanitizer + UndefinedBehaviorSanitizer
#      into build-asan/ and runs them;
#   4. builds the libFuzzer harnesses with clang into build-fuzz/ and runs
#      each for FUZZ_SECONDS (default 20) from its seeds (scripts/fuzz.sh),
#      with a fixed libFuzzer seed (FUZZ_SEED, default 1): every run tries
#      the same inputs in the same order, so a pass is repeatable; the
#      random search for new findings is bench/fuzz.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DMERIDIAN_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j 2

cmake -S . -B build-asan -DMERIDIAN_WERROR=ON -DMERIDIAN_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
cmake --build build-asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan -L unit --output-on-failure -j 2

FUZZ_SEED=${FUZZ_SEED:-1} scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
