# tests/unit/agent/retire.cmake - agent/retire.c, included from
# tests/CMakeLists.txt.
#
#   unit.retire   cmocka: node folders the manifest no longer lists: which
#                 root entries are node folders and whose (retire_folder_port,
#                 retire_is_leftover), the facts read from a node's INFO and
#                 CLUSTER NODES on real Redis captures (tests/fixtures/info/,
#                 tests/fixtures/cluster/), the decision (retire_decide) by
#                 scenario and over every combination of facts, and the
#                 sentences a pass reports (retire_explain)

mrd_unit_test(retire mrd_agent)
target_compile_definitions(test_retire PRIVATE
  MRD_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
