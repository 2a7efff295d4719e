#!/usr/bin/env bash
# Builds meridian and deploys regions/local.json: three regions with two
# hosts each, all on loopback addresses 127.0.R.H of this machine, then
# prints the deployment's status.  Installs the Debian packages it needs.
#
#   scripts/quickstart.sh            deploy (state in ~/.local/state/meridian/local)
#   build/meridian destroy regions/local.json --yes    take it all away
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)"

build/meridian plan regions/local.json
echo
build/meridian deploy regions/local.json
echo
build/meridian status regions/local.json
