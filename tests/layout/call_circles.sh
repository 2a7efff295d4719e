#!/bin/bash
# call_circles.sh - no two files of a library call each other in a circle.
#
# Usage: call_circles.sh LIBRARY.a...   (ctest unit.layout passes every
# static library of the build; see tests/CMakeLists.txt)
#
# Why: issue 10's rule, "no two files call each other in a circle".  A
# function two files share lives in a leaf file both call (or in the
# front end that chooses between backends, which never call each other,
# as curl's vtls.c does), never in one of the two.  CMake and the linker
# already reject a circle between libraries (each library links only the
# ones below it); inside a library nothing does, so this test does.
#
# How: for each object file of each archive, nm(1) lists the global
# symbols it defines and the ones it leaves undefined.  A calls B when A
# leaves undefined a symbol B defines.  Every pair of object files of one
# library in which each calls the other is reported, with one symbol each
# way, and the test fails.  It reads only the symbol tables (well under a
# second for the whole build).
set -euo pipefail
if [ "$#" -eq 0 ]; then
    echo "usage: $0 LIBRARY.a..." >&2
    exit 2
fi
status=0
for lib in "$@"; do
    if [ ! -f "$lib" ]; then
        echo "call_circles: $lib: no such library (build first)" >&2
        exit 2
    fi
    # nm -A -P: "LIB[MEMBER]: SYMBOL TYPE [VALUE SIZE]"
    found=$(nm -A -P "$lib" | awk -v lib="$(basename "$lib")" '
        {
            m = $1
            sub(/^.*\[/, "", m); sub(/\]:$/, "", m)
            sym = $2; type = $3
            if (type == "U")
                users[sym] = users[sym] " " m
            else if (type ~ /^[TDBRCGSVW]$/)
                def[sym] = m
        }
        END {
            # A uses a symbol B defines: edge A -> B, remembering one symbol
            for (sym in users) {
                if (!(sym in def))
                    continue
                n = split(users[sym], us, " ")
                for (i = 1; i <= n; i++)
                    if (us[i] != def[sym] && !((us[i], def[sym]) in edge))
                        edge[us[i], def[sym]] = sym
            }
            for (k in edge) {
                split(k, ab, SUBSEP)
                a = ab[1]; b = ab[2]
                if (a < b && ((b, a) in edge))
                    printf "%s: %s calls %s (%s) and %s calls %s (%s)\n", lib, a, b,
                           edge[k], b, a, edge[b, a]
            }
        }' | sort)
    if [ -n "$found" ]; then
        echo "$found"
        status=1
    fi
done
if [ "$status" -ne 0 ]; then
    echo "call_circles: the pairs above call each other in a circle: move what both" \
         "use into a leaf file (or the front end), so calls go one way" >&2
fi
exit "$status"
