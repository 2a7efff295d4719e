#!/usr/bin/env bash
# Deploys and destroys of one state dir at the same time, with real
# processes: three deploys of a fresh topology started together end with
# one healthy deployment, one set of complete 0600 secrets that every node
# and sentinel accepts, six agents, and outputs that together say "agent
# started" once per host; a deploy that holds the lock makes the next one
# wait and then name it (exit 75); kill -9 of the holder frees the lock;
# an agent deploy could not see is not reported as started; destroy names
# what it could not remove.
source "$(dirname "$0")/lib.sh"

BASE=${PORT_BASE:-18500}
T_TOPO="$T_DIR/par.json"
write_topology "$T_TOPO" itparallel "$BASE"
SPORT=$((BASE + 10000))
HOSTS=(127.0.1.1 127.0.1.2 127.0.2.1 127.0.2.2 127.0.3.1 127.0.3.2)
NAMES=(use-a1 use-b1 euw-a1 euw-b1 aps-a1 aps-b1)
SENTINELS=(127.0.1.1 127.0.2.1 127.0.3.1)
checks=0

say "three deploys of a fresh topology at once"
pids=()
for i in 1 2 3; do
    "$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/d$i.out" 2>&1 &
    pids+=($!)
done
rcs=""
for p in "${pids[@]}"; do
    wait "$p"
    rcs+="$? "
done
record_pids
checks=$((checks + 1)); check "all three exit 0 ($rcs)" test "$rcs" = "0 0 0 "
[[ $rcs == "0 0 0 " ]] || tail -n 30 "$T_DIR"/d*.out

once=0
for n in "${NAMES[@]}"; do
    c=$(cat "$T_DIR"/d*.out | grep -cE "^  $n +agent started")
    [[ $c -eq 1 ]] && once=$((once + 1)) || say "$n: \"agent started\" $c times"
done
checks=$((checks + 1)); check "the outputs together say \"agent started\" once per host ($once of 6)" \
    test "$once" -eq 6
unchanged=$(cat "$T_DIR"/d*.out | grep -cE '^  [a-z0-9-]+ +agent running, manifest unchanged$')
checks=$((checks + 1)); check "the other two found every agent running and changed nothing ($unchanged of 12 lines)" \
    test "$unchanged" -eq 12
gen=$(cat "$T_DIR"/d*.out | grep -c 'credentials  generated 5 secrets')
checks=$((checks + 1)); check "one of them generated the secrets ($gen)" test "$gen" -eq 1

"$MERIDIAN" status "$T_TOPO" --state "$T_STATE" --json >"$T_DIR/status.json"
rc=$?
checks=$((checks + 1)); check "one healthy deployment (status exits 0, health ok)" \
    test "$rc $(jq -r .health "$T_DIR/status.json")" = "0 ok"
agents=$(for f in "$T_STATE"/hosts/*/agent.pid; do
    p=$(cat "$f")
    pid_alive "$p" && echo "$p"
done | sort -u | wc -l)
checks=$((checks + 1)); check "six agents run, one per host ($agents)" test "$agents" -eq 6

say "secrets"
files=$(ls "$T_STATE/secrets" | tr '\n' ' ')
checks=$((checks + 1)); check "five secret files and no temporary file left ($files)" \
    test "$files" = "admin.pass agent.token app.pass replication.pass sentinel.pass "
complete=0
for f in "$T_STATE"/secrets/*; do
    grep -qxE '[0-9a-f]{64}' "$f" && [[ $(stat -c %s "$f") -eq 65 ]] && complete=$((complete + 1))
done
checks=$((checks + 1)); check "every secret is complete: 64 hex digits and a newline ($complete of 5)" \
    test "$complete" -eq 5
modes=$(stat -c %a "$T_STATE"/secrets/* | sort -u | tr '\n' ' ')
checks=$((checks + 1)); check "every secret is 0600 ($modes)" test "$modes" = "600 "
ADMIN=$(cat "$T_STATE/secrets/admin.pass")
accepted=0
for h in "${HOSTS[@]}"; do
    [[ $(rcli_as admin "$ADMIN" -h "$h" -p "$BASE" ping 2>&1) == PONG ]] && accepted=$((accepted + 1))
done
for s in "${SENTINELS[@]}"; do
    [[ $(rcli_as admin "$ADMIN" -h "$s" -p "$SPORT" ping 2>&1) == PONG ]] && accepted=$((accepted + 1))
done
checks=$((checks + 1)); check "6 nodes and 3 sentinels accept the admin password from secrets/ ($accepted of 9)" \
    test "$accepted" -eq 9

say "a deploy that holds the lock: the next one waits, then names it"
# Catch a redeploy while it holds the state dir's lock (deploy.lock names
# it), and stop it there.
holder=""
for attempt in 1 2 3 4 5 6 7 8; do
    "$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" >"$T_DIR/holder.out" 2>&1 &
    p=$!
    while pid_alive "$p"; do
        if [[ $(cat "$T_STATE/deploy.lock" 2>/dev/null) == "$p deploy" ]]; then
            kill -STOP "$p"
            holder=$p
            T_PIDS+=("$p")
            break
        fi
    done
    [[ -n $holder ]] && break
    wait "$p"
done
checks=$((checks + 1)); check "a redeploy was stopped while holding the lock (pid ${holder:-none})" \
    test -n "$holder"
t0=$(now_ms)
"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 2 >"$T_DIR/busy.out" 2>"$T_DIR/busy.err"
rc=$?
took=$(($(now_ms) - t0))
checks=$((checks + 1)); check "the next deploy gives up after its 2 s with exit 75 ($rc after $took ms)" \
    test "$rc" -eq 75 -a "$took" -ge 2000 -a "$took" -lt 10000
checks=$((checks + 1)); check "it said it was waiting, and then who holds the lock: $(cat "$T_DIR/busy.err")" \
    test -n "$(grep -F "waiting for another deploy of itparallel (pid $holder) to finish" "$T_DIR/busy.out")" \
    -a -n "$(grep -F "another deploy of itparallel is running (pid $holder, state $T_STATE)" "$T_DIR/busy.err")"
checks=$((checks + 1)); check "it did nothing else (no host line)" \
    test "$(grep -c '^  ' "$T_DIR/busy.out")" -eq 0

say "kill -9 of the holder frees the lock"
[[ -n $holder ]] && kill -9 "$holder"
[[ -n $holder ]] && wait "$holder" 2>/dev/null
t0=$(now_ms)
"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 30 >"$T_DIR/after.out" 2>&1
rc=$?
took=$(($(now_ms) - t0))
record_pids
checks=$((checks + 1)); check "the next deploy exits 0 without waiting ($rc, $took ms)" \
    test "$rc" -eq 0 -a -z "$(grep waiting "$T_DIR/after.out")"
checks=$((checks + 1)); check "and says it started no agent" \
    test "$(grep -c 'agent started' "$T_DIR/after.out")" -eq 0

say "an agent deploy could not see: not reported as started"
# euw-b1's agent keeps running without its manifest: this deploy sees no
# agent there, writes the manifest, and its start is refused by the
# running agent's lock.
rm "$T_STATE/hosts/euw-b1/manifest.json"
before=$(cat "$T_STATE/hosts/euw-b1/agent.pid")
"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 30 >"$T_DIR/unseen.out" 2>&1
rc=$?
checks=$((checks + 1)); check "deploy exits 0 ($rc)" test "$rc" -eq 0
checks=$((checks + 1)); check "it says it did not start euw-b1's agent: $(grep -E '^  euw-b1 +agent' "$T_DIR/unseen.out")" \
    grep -qE '^  euw-b1 +agent not started by this deploy: one was already running' "$T_DIR/unseen.out"
checks=$((checks + 1)); check "no \"agent started\" line, and the same agent runs (pid $before)" \
    test "$(grep -c 'agent started' "$T_DIR/unseen.out") $(cat "$T_STATE/hosts/euw-b1/agent.pid")" = "0 $before"

say "destroy names what it could not remove"
# As root, permissions stop nothing: an immutable file (chattr +i) does.
# Otherwise a folder without write permission stops the removal.
keep="$T_STATE/secrets/admin.pass"
expect_left="./secrets ./secrets/admin.pass "
if chattr +i "$keep" 2>/dev/null; then
    T_IMMUTABLE=$keep # lib.sh cleanup clears it, should a check below fail
    reason="Operation not permitted"
else
    mkdir "$T_STATE/keep"
    keep="$T_STATE/keep/file"
    echo x >"$keep"
    chmod 500 "$T_STATE/keep"
    T_READONLY_DIR="$T_STATE/keep"
    expect_left="./keep ./keep/file "
    reason="Permission denied"
fi
record_pids
"$MERIDIAN" destroy "$T_TOPO" --state "$T_STATE" --yes >"$T_DIR/destroy1.out" 2>&1
rc=$?
checks=$((checks + 1)); check "destroy exits 1" test "$rc" -eq 1
checks=$((checks + 1)); check "it names the entry that stayed and why: $(tail -2 "$T_DIR/destroy1.out" | head -1)" \
    grep -qF "could not remove 1 entry under $T_STATE: $keep: $reason" "$T_DIR/destroy1.out"
checks=$((checks + 1)); check "it does not say it removed the state" \
    test -z "$(grep -E 'destroyed|removed$' "$T_DIR/destroy1.out")"
alive=0
for pid in "${T_PIDS[@]}"; do pid_alive "$pid" && alive=$((alive + 1)); done
checks=$((checks + 1)); check "every recorded process is stopped all the same ($alive alive)" test "$alive" -eq 0
left=$(cd "$T_STATE" && find . -mindepth 1 | sort | tr '\n' ' ')
checks=$((checks + 1)); check "only that file and its folders are left ($left)" \
    test "$left" = "$expect_left"
[[ -n ${T_IMMUTABLE:-} ]] && chattr -i "$T_IMMUTABLE" && T_IMMUTABLE=""
[[ -n ${T_READONLY_DIR:-} ]] && chmod 700 "$T_READONLY_DIR" && T_READONLY_DIR=""
"$MERIDIAN" destroy "$T_TOPO" --state "$T_STATE" --yes >"$T_DIR/destroy2.out" 2>&1
rc=$?
checks=$((checks + 1)); check "once it can be removed, destroy exits 0 and the state dir is gone" \
    test "$rc" -eq 0 -a ! -e "$T_STATE"

finish "$checks"
