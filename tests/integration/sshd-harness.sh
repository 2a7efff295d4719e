#!/usr/bin/env bash
# sshd-harness.sh - real sshd test hosts on loopback addresses.
#
# One /usr/sbin/sshd per test host, each on its own address 127.0.R.H and
# a high port, with its own generated ed25519 host key, one generated
# client key in its authorized_keys, and a known_hosts file that starts
# empty.  Every sshd is started with `-D -e` (foreground, log on stderr to
# DIR/HOST/sshd.log) and stopped by the pid recorded when it started;
# nothing is matched by name.
#
# Sourced (by tests/integration/ssh.sh and bench/ssh-deploy.sh):
#   harness_init DIR          client key, authorized_keys, empty known_hosts
#   harness_start NAME ADDR PORT   start (or restart) one host
#   harness_stop NAME         stop one host by its pid
#   harness_stop_all
#   harness_logins NAME       "Accepted publickey" lines in its log so far
# Run:
#   sshd-harness.sh start DIR [PORT]   the six hosts of the three-region
#                                      layout, left running; prints the
#                                      topology's "transport" section
#   sshd-harness.sh stop DIR           stop them (by the recorded pids)

SSHD=/usr/sbin/sshd
H_DIR=""
declare -A H_PID=() H_ADDR=() H_PORT=()

# harness_init DIR: the client key (no passphrase), authorized_keys and an
# empty known_hosts in DIR.
harness_init() {
    H_DIR=$1
    mkdir -p "$H_DIR"
    chmod 700 "$H_DIR"
    # sshd's privilege separation folder
    [[ -d /run/sshd ]] || mkdir -p -m 0755 /run/sshd
    [[ -x $SSHD ]] || { echo "sshd-harness: $SSHD is missing (apt-get install openssh-server)" >&2; return 1; }
    if [[ ! -f $H_DIR/client_key ]]; then
        ssh-keygen -q -t ed25519 -N '' -C meridian-test-client -f "$H_DIR/client_key" || return 1
    fi
    cp "$H_DIR/client_key.pub" "$H_DIR/authorized_keys"
    chmod 600 "$H_DIR/authorized_keys"
    [[ -f $H_DIR/known_hosts ]] || : >"$H_DIR/known_hosts"
}

# harness_authorize PUBKEY_FILE: also accept that key on every host.
harness_authorize() { cat "$1" >>"$H_DIR/authorized_keys"; }

# harness_start NAME ADDR PORT: start sshd for host NAME (a new host key
# the first time, the same one afterwards) and wait until it listens.
harness_start() {
    local name=$1 addr=$2 port=$3 d="$H_DIR/$1"
    mkdir -p "$d"
    [[ -f $d/host_key ]] || ssh-keygen -q -t ed25519 -N '' -C "$name" -f "$d/host_key" || return 1
    cat >"$d/sshd_config" <<EOF
ListenAddress $addr:$port
HostKey $d/host_key
PidFile $d/sshd.pid
AuthorizedKeysFile $H_DIR/authorized_keys
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
UseDNS no
PrintMotd no
MaxStartups 64
MaxSessions 64
LogLevel INFO
Subsystem sftp internal-sftp
# libssh2 1.10 signs with an RSA key as "ssh-rsa" (SHA-1), which OpenSSH
# 8.8 and later refuse by default; the test hosts accept it so that RSA
# keys can be tested (meridian's error for a refusing host says so).
PubkeyAcceptedAlgorithms +ssh-rsa
# sshd runs every command through the user's shell, and Debian's bash then
# reads ~/.bashrc (it is built with SSH_SOURCE_BASHRC) unless SHLVL says it
# is not a top-level shell.  A test host stands for a machine where
# meridian logs in as a dedicated account with a plain profile; the
# account running the tests may have a heavy one (on the CI image, root's
# ~/.bashrc runs \`pyenv init\`: 130 ms and 30 processes per command).
# HARNESS_USER_PROFILE=1 keeps it, to measure a host like that.
$([[ ${HARNESS_USER_PROFILE:-0} == 1 ]] || echo "SetEnv SHLVL=1")
EOF
    "$SSHD" -f "$d/sshd_config" -D -e >>"$d/sshd.log" 2>&1 &
    H_PID[$name]=$!
    H_ADDR[$name]=$addr
    H_PORT[$name]=$port
    echo "${H_PID[$name]}" >"$d/harness.pid"
    local i
    for ((i = 0; i < 100; i++)); do
        if (exec 3<>"/dev/tcp/$addr/$port") 2>/dev/null; then return 0; fi
        kill -0 "${H_PID[$name]}" 2>/dev/null || break
        sleep 0.05
    done
    echo "sshd-harness: sshd for $name did not listen on $addr:$port; its log:" >&2
    tail -5 "$d/sshd.log" >&2
    return 1
}

# harness_stop NAME: stop that host's sshd by the pid recorded at start.
harness_stop() {
    local name=$1 pid=${H_PID[$1]:-}
    [[ -z $pid && -f $H_DIR/$1/harness.pid ]] && pid=$(cat "$H_DIR/$1/harness.pid")
    [[ -n $pid ]] || return 0
    kill "$pid" 2>/dev/null
    local i
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.02
    done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    unset "H_PID[$name]"
    rm -f "$H_DIR/$name/harness.pid"
}

harness_stop_all() {
    local n
    for n in "${!H_PID[@]}"; do harness_stop "$n"; done
}

# harness_logins NAME: how many logins that host's sshd accepted so far.
harness_logins() { grep -c 'Accepted publickey' "$H_DIR/$1/sshd.log" 2>/dev/null || true; }

# harness_fingerprint NAME: "SHA256:..." of that host's key.
harness_fingerprint() { ssh-keygen -lf "$H_DIR/$1/host_key.pub" | awk '{print $2}'; }

# harness_new_host_key NAME: replace the host's key (keeping the old one
# as host_key.old); takes effect at the next harness_start.
harness_new_host_key() {
    local d="$H_DIR/$1"
    mv "$d/host_key" "$d/host_key.old"
    mv "$d/host_key.pub" "$d/host_key.old.pub"
    ssh-keygen -q -t ed25519 -N '' -C "$1-new" -f "$d/host_key"
}

# harness_old_host_key NAME: put the old key back.
harness_old_host_key() {
    local d="$H_DIR/$1"
    mv "$d/host_key.old" "$d/host_key"
    mv "$d/host_key.old.pub" "$d/host_key.pub"
}

# The six hosts of the three-region layout (tests/integration/lib.sh).
HARNESS_HOSTS=(use-a1:127.0.1.1 use-b1:127.0.1.2 euw-a1:127.0.2.1 euw-b1:127.0.2.2
               aps-a1:127.0.3.1 aps-b1:127.0.3.2)

# Run as a script: start or stop the six hosts, left running in between.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    set -u
    cmd=${1:-} dir=${2:-}
    [[ ($cmd == start || $cmd == stop) && -n $dir ]] ||
        { echo "usage: $0 start DIR [PORT] | stop DIR" >&2; exit 64; }
    dir=$(mkdir -p "$dir" && cd "$dir" && pwd)
    H_DIR=$dir
    if [[ $cmd == stop ]]; then
        for h in "${HARNESS_HOSTS[@]}"; do harness_stop "${h%%:*}"; done
        echo "stopped the sshd test hosts of $dir"
        exit 0
    fi
    port=${3:-2222}
    harness_init "$dir" || exit 1
    for h in "${HARNESS_HOSTS[@]}"; do
        harness_start "${h%%:*}" "${h#*:}" "$port" || exit 1
        echo "started sshd for ${h%%:*} on ${h#*:}:$port (pid ${H_PID[${h%%:*}]})"
    done
    cat <<EOF
use this "transport" section in your topology (regions/example-ssh.json):
  "transport": { "kind": "ssh", "user": "$(id -un)", "port": $port,
                 "identity": "$dir/client_key", "known_hosts": "$dir/known_hosts",
                 "root": "$dir/hosts-root" }
known_hosts starts empty: deploy once with --accept-new-host-keys.
stop them with: $0 stop $dir
EOF
fi
