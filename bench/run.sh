#!/usr/bin/env bash
# Runs every benchmark against a release build in build/.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
bench/deploy.sh "${DEPLOY_ROUNDS:-5}"
bench/cluster-deploy.sh "${CLUSTER_DEPLOY_ROUNDS:-5}"
bench/status.sh "${STATUS_RUNS:-30}"
bench/rebuild.sh
bench/cluster-rebuild.sh
bench/cluster-scale.sh
# The same across a 100 Mbit/s WAN between regions (tc on lo: root only).
if [[ $EUID -eq 0 ]]; then
    WAN=100mbit bench/rebuild.sh
    WAN=100mbit bench/cluster-rebuild.sh
fi
bench/ssh-deploy.sh "${SSH_DEPLOY_ROUNDS:-5}"
bench/drills.sh "${DRILL_ROUNDS:-5}"
bench/cluster-drills.sh "${DRILL_ROUNDS:-5}"
bench/rollout.sh "${ROLLOUT_KEYS:-100000}"
# A planned switchover under load against SENTINEL FAILOVER by hand (about
# 3 min on 2 cores).
bench/switchover.sh "${SWITCHOVER_ROUNDS:-5}"
# Backup of 1,000,000 keys to s3rver and restore into an empty deployment,
# against BGSAVE + curl and a restore by hand (about 90 s a round).
bench/backup.sh "${BACKUP_ROUNDS:-1}"
# TLS on every link against plaintext: kill-leader, replica rebuild, status.
bench/tls.sh "${TLS_ROUNDS:-5}"
# Fuzzing: its own clang build (build-fuzz/), 10,000,000 executions per
# harness by default (about 70 min on 2 cores; FUZZ_RUNS to change).
bench/fuzz.sh "${FUZZ_RUNS:-10000000}"
