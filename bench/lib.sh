# shellcheck shell=bash
# bench/lib.sh: what the benchmark scripts share.  Source it after
# tests/integration/lib.sh (now_ms); set BENCH (the name errors start with)
# and T0_RUN (the run's start, now_ms) first.

die() {
    printf '%s: %s\n' "$BENCH" "$*" >&2
    exit 1
}
elapsed() { awk -v ms=$(($(now_ms) - T0_RUN)) 'BEGIN { printf "%6.1f s", ms / 1000 }'; }
progress() { printf '# [%s] %s\n' "$(elapsed)" "$*"; }
secs() { awk -v ms="$1" 'BEGIN { printf "%.2f", ms / 1000 }'; }
# pw: a new random password (64 hex digits)
pw() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# write_cluster_conf DIR ADDRESS PORT BUS MIN_REPLICAS MAXMEMORY: a
# redis.conf for a baseline cluster node with the essentials of
# templates/redis.conf.tpl (what differs: nothing that forming or moving
# slots depends on) and the same ACL users, with the passwords in
# ADMIN_PASS, REPL_PASS, APP_PASS and, when set, SENT_PASS.
write_cluster_conf() {
    local dir=$1 addr=$2 port=$3 bus=$4 min_replicas=$5 maxmemory=$6
    mkdir -p "$dir" && mkdir -m 0700 "$dir/data"
    {
        cat <<CONF
bind $addr
port $port
protected-mode yes
daemonize no
supervised no
pidfile $dir/redis.pid
logfile $dir/redis.log
dir $dir/data
dbfilename dump.rdb
save ""
appendonly no
bind-source-addr $addr
replica-announce-ip $addr
replica-announce-port $port
masteruser replication
masterauth $REPL_PASS
replica-read-only yes
repl-diskless-sync yes
repl-diskless-sync-delay 0
repl-backlog-size 64mb
repl-backlog-ttl 0
min-replicas-to-write $min_replicas
min-replicas-max-lag 5
cluster-enabled yes
cluster-config-file nodes.conf
cluster-node-timeout 5000
cluster-port $bus
cluster-announce-ip $addr
cluster-announce-port $port
cluster-announce-bus-port $bus
cluster-allow-replica-migration no
cluster-migration-barrier 1
cluster-replica-validity-factor 0
cluster-require-full-coverage no
maxmemory $maxmemory
maxmemory-policy noeviction
user default off
user admin on >$ADMIN_PASS ~* &* +@all
user replication on >$REPL_PASS -@all +psync +sync +replconf +ping
user app on >$APP_PASS ~* &* +@all -@admin -@dangerous +info +role
CONF
        [[ -z ${SENT_PASS:-} ]] ||
            echo "user sentinel on >$SENT_PASS allchannels -@all +multi +slaveof +ping +exec +subscribe +config|rewrite +role +publish +info +client|setname +client|kill +script|kill"
    } >"$dir/redis.conf"
}
