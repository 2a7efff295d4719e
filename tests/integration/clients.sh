#!/usr/bin/env bash
# Real client libraries against a deployment, with their defaults: ioredis
# (5.x and 6.x, pinned in tests/clients/package-lock.json) connects through
# the sentinels as the "app" user, writes and reads a key, and must print no
# warning (its ready check sends INFO; a NOPERM there makes it warn
# "Skipping the ready check because INFO command fails" on every connection).
source "$(dirname "$0")/lib.sh"

BASE=${PORT_BASE:-16460}
SPORT=$((BASE + 10000))
T_TOPO="$T_DIR/clients.json"
write_topology "$T_TOPO" itclients "$BASE"
checks=0

install_clients || exit 1

"$MERIDIAN" deploy "$T_TOPO" --state "$T_STATE" --timeout 60 >"$T_DIR/deploy.out" 2>&1 ||
    { cat "$T_DIR/deploy.out"; fail "deploy"; exit 1; }
record_pids

for mod in ioredis5 ioredis6; do
    say "$mod through the sentinels as app"
    SENTINELS="127.0.1.1:$SPORT,127.0.2.1:$SPORT,127.0.3.1:$SPORT" MASTER=itclients \
        APP_PASS_FILE="$T_STATE/secrets/app.pass" NODE_PATH="$NODE_DIR/node_modules" \
        node "$SRC/tests/clients/ioredis.js" "$mod" >"$T_DIR/$mod.json" 2>"$T_DIR/$mod.err"
    rc=$?
    cat "$T_DIR/$mod.json" "$T_DIR/$mod.err"
    version=$(jq -r .version "$T_DIR/$mod.json" 2>/dev/null)
    checks=$((checks + 1)); check "ioredis $version wrote and read a key through the leader" \
        test "$(jq -r '.ok and .role == "master"' "$T_DIR/$mod.json" 2>/dev/null)" = true
    checks=$((checks + 1)); check "ioredis $version printed no warning and no error (exit $rc)" \
        test "$rc" -eq 0 -a "$(jq '(.warnings | length) + (.errors | length)' "$T_DIR/$mod.json" 2>/dev/null)" = 0 \
        -a ! -s "$T_DIR/$mod.err"
done

finish "$checks"
