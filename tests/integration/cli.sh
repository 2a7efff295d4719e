#!/usr/bin/env bash
# The command line as an operator meets it: help, plan verdicts, refusals
# with file:line:column, exit codes.  Starts no server.
source "$(dirname "$0")/lib.sh"
checks=0

for cmd in plan deploy status heal destroy connect-info redis-cli; do
    out=$("$MERIDIAN" "$cmd" --help 2>&1)
    rc=$?
    checks=$((checks + 1)); check "meridian $cmd --help exits 0 and shows usage" \
        test "$rc" -eq 0 -a "${out%% TOPOLOGY*}" = "usage: meridian $cmd"
done
"$MERIDIAN" frobnicate x >/dev/null 2>&1
rc=$?
checks=$((checks + 1)); check "an unknown command exits 64" test "$rc" -eq 64
"$MERIDIAN" deploy >/dev/null 2>&1
rc=$?
checks=$((checks + 1)); check "a missing TOPOLOGY exits 64" test "$rc" -eq 64
"$BUILD/meridian-agent" run >/dev/null 2>&1
rc=$?
checks=$((checks + 1)); check "meridian-agent run without --manifest exits 64" test "$rc" -eq 64
out=$("$BUILD/meridian-agent" --help 2>&1)
rc=$?
checks=$((checks + 1)); check "meridian-agent --help lists run, check, stop and alive" \
    test "$rc" -eq 0 -a "$(grep -cE '^  (run|check|stop|alive) ' <<<"$out")" -eq 4

out=$("$MERIDIAN" plan "$SRC/regions/local.json" 2>&1)
rc=$?
checks=$((checks + 1)); check "plan of regions/local.json is safe (exit 0)" test "$rc" -eq 0
checks=$((checks + 1)); check "plan shows the survivability matrix" \
    grep -qE '^region us-east +2/3 \(>=2\) +4 +yes +yes' <<<"$out"
json=$("$MERIDIAN" plan "$SRC/regions/local.json" --json)
checks=$((checks + 1)); check "plan --json: leader use-a1, 3 sentinels, safe" \
    test "$(jq -r '[.leader, ([.hosts[] | select(.roles | index("sentinel"))] | length), .safe] | join(",")' <<<"$json")" = "use-a1,3,true"
"$MERIDIAN" plan "$SRC/regions/example-ssh.json" >/dev/null 2>&1
rc=$?
checks=$((checks + 1)); check "regions/example-ssh.json plans as safe" test "$rc" -eq 0

# Two regions, three sentinels: one region must hold two of them.
cat >"$T_DIR/two.json" <<'JSON'
{
  "name": "two",
  "store": { "leader_region": "east" },
  "sentinel": { "count": 3 },
  "regions": [
    { "name": "east", "zones": [
      { "name": "east-a", "hosts": [ { "name": "e1", "address": "127.0.1.1" } ] },
      { "name": "east-b", "hosts": [ { "name": "e2", "address": "127.0.1.2" } ] } ] },
    { "name": "west", "zones": [
      { "name": "west-a", "hosts": [ { "name": "w1", "address": "127.0.2.1" } ] },
      { "name": "west-b", "hosts": [ { "name": "w2", "address": "127.0.2.2" } ] } ] }
  ]
}
JSON
out=$("$MERIDIAN" plan "$T_DIR/two.json" 2>&1)
rc=$?
checks=$((checks + 1)); check "a two-region layout with 3 sentinels is refused (exit 2)" test "$rc" -eq 2
checks=$((checks + 1)); check "the refusal names the region and the fix" \
    grep -qE 'losing region (east|west) leaves 1 of 3 sentinels.*third region' <<<"$out"
out=$("$MERIDIAN" deploy "$T_DIR/two.json" --state "$T_STATE" 2>&1)
rc=$?
checks=$((checks + 1)); check "deploy refuses the unsafe layout too (exit 2)" test "$rc" -eq 2
checks=$((checks + 1)); check "a refused deploy touches nothing" test ! -e "$T_STATE"

printf '{\n  "name": "bad",\n  "store": { "port": 16379,, }\n}\n' >"$T_DIR/bad.json"
out=$("$MERIDIAN" plan "$T_DIR/bad.json" 2>&1)
rc=$?
checks=$((checks + 1)); check "a malformed file exits 65" test "$rc" -eq 65
checks=$((checks + 1)); check "a malformed file is reported as file:line:column ($out)" \
    grep -qE "bad.json:3:[0-9]+: " <<<"$out"
sed 's/"port": 16379/"prot": 16379/' "$SRC/regions/local.json" >"$T_DIR/typo.json"
out=$("$MERIDIAN" plan "$T_DIR/typo.json" 2>&1)
checks=$((checks + 1)); check "a typo'd key is refused with a suggestion ($out)" \
    grep -qE 'typo.json:[0-9]+:[0-9]+: .*"prot".*port' <<<"$out"

# Names become paths: a host named ".." would put its files into the state
# dir itself, next to secrets/; a topology named ".." would put secrets/
# straight into $XDG_STATE_HOME.  Own ports and tracked state, so that even
# a broken build that deployed them would be cleaned up.
BASE=${PORT_BASE:-18590}
write_topology "$T_DIR/names.json" clinames "$BASE"
sed 's/"name": "euw-b1"/"name": ".."/' "$T_DIR/names.json" >"$T_DIR/dotdot.json"
track "$T_DIR/dotdot.json" "$T_DIR/state-dotdot"
out=$("$MERIDIAN" plan "$T_DIR/dotdot.json" 2>&1)
rc=$?
checks=$((checks + 1)); check "a host named .. is refused by plan (exit 65) with file:line:column ($out)" \
    test "$rc" -eq 65 -a -n "$(grep -E 'dotdot.json:[0-9]+:[0-9]+: .*hosts\[[0-9]\]\.name "\.\." is not a valid host name' <<<"$out")"
out=$("$MERIDIAN" deploy "$T_DIR/dotdot.json" --state "$T_DIR/state-dotdot" 2>&1)
rc=$?
checks=$((checks + 1)); check "deploy refuses it too (exit 65) and touches nothing" \
    test "$rc" -eq 65 -a ! -e "$T_DIR/state-dotdot"
sed 's/"name": "clinames"/"name": ".."/' "$T_DIR/names.json" >"$T_DIR/topo-dotdot.json"
track "$T_DIR/topo-dotdot.json" "$T_DIR/xdg"
out=$(XDG_STATE_HOME="$T_DIR/xdg" "$MERIDIAN" deploy "$T_DIR/topo-dotdot.json" 2>&1)
rc=$?
checks=$((checks + 1)); check "a topology named .. is refused before the default state dir is used ($out)" \
    test "$rc" -eq 65 -a ! -e "$T_DIR/xdg" -a -n "$(grep -F 'name ".." is not a valid topology name' <<<"$out")"

"$MERIDIAN" status "$SRC/regions/local.json" --state "$T_DIR/nothing" >/dev/null 2>&1
rc=$?
checks=$((checks + 1)); check "status of a topology never deployed is UNKNOWN (3)" test "$rc" -eq 3

say "cluster mode: plan, and what is refused"
"$MERIDIAN" plan "$SRC/regions/local-cluster.json" --json >"$T_DIR/cplan.json"
rc=$?
masters=$(jq '[.shards[].nodes[] | select(.role == "master")] | length' "$T_DIR/cplan.json")
distinct=$(jq -r --slurpfile p "$T_DIR/cplan.json" \
    '[.shards[].master as $m | $p[0].hosts[] | select(.host == $m) | .region] | unique | length' \
    "$T_DIR/cplan.json")
checks=$((checks + 1)); check "plan of local-cluster: safe (exit $rc), 3 masters in $distinct regions" \
    test "$rc" -eq 0 -a "$masters" -eq 3 -a "$distinct" -eq 3 -a \
    "$(jq -r '.losses[] | select(.kind == "region") | .serves_all_slots' "$T_DIR/cplan.json" | sort -u)" = true
sed 's/"shards": 3/"shards": 4/' "$SRC/regions/local-cluster.json" >"$T_DIR/c4.json"
out=$("$MERIDIAN" plan "$T_DIR/c4.json" 2>&1)
rc=$?
checks=$((checks + 1)); check "4 shards over 3 regions are refused (exit $rc) with the reason and the fix" \
    test "$rc" -eq 2 -a -n "$(grep -F 'leaves 2 of 4 masters, below the majority of 3' <<<"$out")" -a \
    -n "$(grep -F 'use 3 or 5 shards' <<<"$out")"
out=$("$MERIDIAN" drill "$SRC/regions/local-cluster.json" kill-leader --state "$T_DIR/cl" 2>&1)
rc=$?
checks=$((checks + 1)); check "a drill of a cluster topology not deployed says so (exit $rc), creating nothing" \
    test "$rc" -eq 3 -a ! -e "$T_DIR/cl" -a -n "$(grep -F 'is local-cluster deployed' <<<"$out")"

finish "$checks"
