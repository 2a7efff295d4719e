# tests/unit/store/rdb_scan.cmake - store/rdb_scan.c, included from
# tests/CMakeLists.txt.
#
#   unit.rdb_scan   cmocka: key counts of RDB files made by the real
#                   redis-server 7.0.15 (tests/fixtures/rdb/, made by
#                   make.sh there) checked against what Redis reported;
#                   hand-built RDBs for every type and opcode 7.0 reads;
#                   cuts, flipped bytes, unknown types, hostile lengths.
#                   malloc is wrapped (--wrap=malloc) so the test sees the
#                   largest allocation the scan asks for.

mrd_unit_test(rdb_scan mrd_store)
target_compile_definitions(test_rdb_scan PRIVATE
  MRD_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
target_link_options(test_rdb_scan PRIVATE -Wl,--wrap=malloc)
