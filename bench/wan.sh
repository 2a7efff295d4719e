#!/usr/bin/env bash
# bench/wan.sh: a WAN-like bandwidth between the loopback "regions".
#
# On this machine a host is 127.0.R.H (R = region index).  Loopback links
# are all equally fast, so what meridian saves by not sending a dataset
# across regions does not show as time.  This shapes, with htb on `lo`,
# each ordered pair of distinct regions 127.0.R.0/24 -> 127.0.S.0/24 as its
# own link of RATE; traffic within a region, and all other loopback
# traffic, is not shaped.  Bandwidth only: this kernel has no netem, so
# there is no added latency.
#
# As a library (sourced, bash):
#   wan_shape [RATE [REGIONS [PORT...]]]
#       RATE: a tc rate, default 100mbit.  REGIONS: region indexes 1..N,
#       default 3.  PORTs: when given, only packets from or to one of
#       these TCP ports are shaped (so that other deployments on this
#       machine keep a fast loopback); none = every port.
#       Installs an EXIT trap (chained before the caller's own) that calls
#       wan_unshape, and INT/TERM/HUP traps that exit when the caller has
#       none (a caller's own INT/TERM trap must exit, as
#       tests/integration/lib.sh's does), so the shaping goes away on every
#       exit path but SIGKILL.  Returns non-zero with a sentence on stderr
#       when not root, when tc is missing, or when lo already has a root
#       qdisc that is not the kernel's default noqueue (someone else's).
#   wan_check
#       The same refusals as wan_shape, without shaping (to fail early).
#   wan_stats
#       One line per shaped class: "R->S BYTES PKTS" (tc -s class show).
#   wan_direct
#       Packets that took htb's unshaped direct path (direct_packets_stat).
#   wan_unshape
#       Removes what wan_shape installed (the root qdisc with its classes
#       and filters): lo is back to noqueue.  Does nothing when it is not
#       there; never touches a qdisc that is not ours.
#
# As a script: bench/wan.sh show | unshape.
#
# Ours is marked by the root qdisc's handle, 4d52: ("MR"), and by an owner
# file ($WAN_OWNER, default /run/meridian-wan.owner) naming the pid of the
# shell that shaped.  A qdisc with our handle whose owner is gone (a run
# killed with SIGKILL) is stale: wan_shape removes it and says so.  One
# whose owner is alive is refused.
#
# Unmatched packets go to htb's direct queue (`default 0`: no such class),
# which htb dequeues first and never rate-limits; no class throttles
# same-region traffic.  Classes have a burst of 128 kB (lo's MTU is 64 kB,
# and its TCP segments are up to that size) and a fixed quantum (there is
# only one level, so the quantum does not matter; a derived one would make
# the kernel warn).

WAN_HANDLE=4d52
WAN_OWNER=${WAN_OWNER:-/run/meridian-wan.owner}

_wan_say() { printf 'wan: %s\n' "$*" >&2; }

# _wan_root: "KIND HANDLE" of lo's root qdisc ("noqueue 0:" by default).
_wan_root() { tc qdisc show dev lo root 2>/dev/null | awk 'NR == 1 { print $2, $3 }'; }

_wan_owner_alive() {
    local pid
    pid=$(cat "$WAN_OWNER" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ && $pid != "$$" && -d /proc/$pid ]]
}

wan_unshape() {
    command -v tc >/dev/null 2>&1 || return 0
    if [[ $(_wan_root) == "htb $WAN_HANDLE:" ]]; then
        tc qdisc del dev lo root handle "$WAN_HANDLE:" ||
            { _wan_say "could not remove the htb qdisc $WAN_HANDLE: from lo"; return 1; }
    fi
    rm -f "$WAN_OWNER"
    return 0
}

# wan_check: 0 when wan_shape could shape lo now (a stale qdisc of ours
# counts: wan_shape removes it); else non-zero with a sentence on stderr.
wan_check() {
    if ((EUID != 0)); then
        _wan_say "shaping lo needs root; run as root or leave WAN unset"
        return 1
    fi
    if ! command -v tc >/dev/null 2>&1; then
        _wan_say "tc is missing; install iproute2 or leave WAN unset"
        return 1
    fi
    local root
    root=$(_wan_root)
    if [[ $root == "htb $WAN_HANDLE:" ]] && _wan_owner_alive; then
        _wan_say "lo is shaped by a live run (pid $(cat "$WAN_OWNER")); wait for it or stop it"
        return 1
    fi
    if [[ $root != "htb $WAN_HANDLE:" && $root != "noqueue 0:" ]]; then
        _wan_say "lo already has a root qdisc ($root) that is not meridian's: not touching it;" \
            "remove it (tc qdisc del dev lo root) if it is stale"
        return 1
    fi
    return 0
}

wan_shape() {
    local rate=${1:-100mbit} regions=${2:-3}
    shift $(($# < 2 ? $# : 2))
    local ports=("$@")
    [[ $regions =~ ^[1-9]$ ]] || { _wan_say "REGIONS must be 1..9, not '$regions'"; return 1; }
    wan_check || return 1
    if [[ $(_wan_root) == "htb $WAN_HANDLE:" ]]; then
        _wan_say "removing a stale meridian qdisc (htb $WAN_HANDLE:) left on lo by a killed run"
        wan_unshape || return 1
    fi

    # remove on every exit path from here on: our EXIT handler first, then
    # the caller's, with the exit status kept for it
    local words prev=
    eval "words=( $(trap -p EXIT) )"
    ((${#words[@]} >= 3)) && prev=${words[2]}
    # shellcheck disable=SC2064,SC2154 # expanded now on purpose; _wan_rc is set in the trap
    trap "_wan_rc=\$?; wan_unshape; (exit \$_wan_rc); $prev" EXIT
    local sig code
    for sig in INT:130 TERM:143 HUP:129; do
        code=${sig#*:} sig=${sig%:*}
        # shellcheck disable=SC2064
        [[ -z $(trap -p "$sig") ]] && trap "exit $code" "$sig"
    done

    echo "$$" >"$WAN_OWNER"
    tc qdisc add dev lo root handle "$WAN_HANDLE:" htb default 0 ||
        { _wan_say "tc could not add an htb qdisc to lo"; wan_unshape; return 1; }
    local r s p class
    for ((r = 1; r <= regions; r++)); do
        for ((s = 1; s <= regions; s++)); do
            ((r == s)) && continue
            class="$WAN_HANDLE:$r$s"
            tc class add dev lo parent "$WAN_HANDLE:" classid "$class" htb \
                rate "$rate" ceil "$rate" burst 128k cburst 128k quantum 65536 ||
                { _wan_say "tc could not add class $class at '$rate'"; wan_unshape; return 1; }
            local sel=(match ip src "127.0.$r.0/24" match ip dst "127.0.$s.0/24")
            if ((${#ports[@]} == 0)); then
                tc filter add dev lo parent "$WAN_HANDLE:" protocol ip prio 1 u32 "${sel[@]}" \
                    flowid "$class" || { wan_unshape; return 1; }
            fi
            for p in "${ports[@]}"; do
                if ! tc filter add dev lo parent "$WAN_HANDLE:" protocol ip prio 1 u32 "${sel[@]}" \
                    match ip sport "$p" 0xffff flowid "$class" ||
                    ! tc filter add dev lo parent "$WAN_HANDLE:" protocol ip prio 1 u32 "${sel[@]}" \
                        match ip dport "$p" 0xffff flowid "$class"; then
                    _wan_say "tc could not add the filters for port $p"
                    wan_unshape
                    return 1
                fi
            done
        done
    done
    return 0
}

wan_stats() {
    tc -s class show dev lo 2>/dev/null | awk -v h="$WAN_HANDLE:" '
        $1 == "class" && $2 == "htb" && index($3, h) == 1 {
            id = substr($3, length(h) + 1); c = substr(id, 1, 1) "->" substr(id, 2, 1); next }
        c != "" && $1 == "Sent" { printf "%s %s %s\n", c, $2, $4; c = "" }'
}

wan_direct() {
    tc -s qdisc show dev lo root 2>/dev/null |
        awk '{ for (i = 1; i < NF; i++) if ($i == "direct_packets_stat") { print $(i + 1); exit } }'
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    case ${1:-} in
    show)
        echo "lo root qdisc: $(_wan_root)"
        [[ $(_wan_root) == "htb $WAN_HANDLE:" ]] &&
            { echo "owner pid: $(cat "$WAN_OWNER" 2>/dev/null)"; wan_stats; }
        exit 0
        ;;
    unshape)
        if _wan_owner_alive; then
            _wan_say "lo is shaped by a live run (pid $(cat "$WAN_OWNER")); stop that run instead"
            exit 1
        fi
        wan_unshape
        exit
        ;;
    *)
        echo "usage: bench/wan.sh show|unshape   (or source it: wan_shape, wan_stats, wan_unshape)" >&2
        exit 2
        ;;
    esac
fi
