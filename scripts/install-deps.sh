#!/usr/bin/env bash
# Installs the Debian 12 packages meridian needs to build, test and run.
# Used by scripts/quickstart.sh and scripts/test.sh; safe to run again.
set -euo pipefail

PACKAGES=(
    build-essential cmake pkg-config          # compiler and build
    libhiredis-dev libjansson-dev libmicrohttpd-dev libssh2-1-dev
    libcurl4-openssl-dev libcmocka-dev libssl-dev # libraries (see README)
    redis-server redis-sentinel redis-tools   # the store meridian deploys
    openssh-server openssh-client             # sshd test hosts (tests/integration/ssh.sh)
    nftables                                  # region partitions in drills
    jq procps time curl                       # used by the tests and benchmarks
    tcpdump                                   # TLS: the replication link captured (tests/integration/tls.sh)
    python3-botocore                          # S3 signatures checked independently (tests/integration/s3_sigv4.sh)
    clang libclang-rt-14-dev llvm             # fuzzing: clang, libFuzzer and the
                                              # sanitizer runtimes, llvm-symbolizer
)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
        missing+=("$p")
done
# Node.js runs the real client libraries of tests/integration/clients.sh.
# A machine that already has node and npm (from any source: some bundle npm
# inside their nodejs package) keeps them; otherwise Debian's are installed.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    missing+=(nodejs npm)
fi
if ((${#missing[@]} == 0)); then
    echo "install-deps: all ${#PACKAGES[@]} Debian packages (and node, npm) already installed"
    exit 0
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "install-deps: run as root (or install sudo)" >&2; exit 1; }
    SUDO=(sudo)
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
