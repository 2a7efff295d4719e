# tests/unit/store/snapshot.cmake - store/snapshot.c, included from
# tests/CMakeLists.txt.
#
#   unit.snapshot          cmocka: store_rdb_inspect on hand-built RDB bytes,
#                          the RDB CRC64
#   snapshot_fetch         a driver for store_snapshot_fetch(), used by
#                          integration.snapshot (tests/integration/snapshot.sh)
#                          and handy by hand:
#                          snapshot_fetch ADDRESS PORT USER PASSFILE DEST [TIMEOUT_MS]

mrd_unit_test(snapshot mrd_store)

add_executable(snapshot_fetch ${CMAKE_CURRENT_SOURCE_DIR}/integration/snapshot_fetch.c)
target_link_libraries(snapshot_fetch PRIVATE mrd_store)

# Like every executable it lands in the build folder, where the integration
# script finds it as $BUILD/snapshot_fetch.
