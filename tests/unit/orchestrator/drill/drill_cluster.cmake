# tests/unit/orchestrator/drill/drill_cluster.cmake -
# orchestrator/drill/drill_cluster.c, included from tests/CMakeLists.txt.
#
#   unit.drill_cluster  cmocka: the pure helpers of cluster drills: a
#                       shard's next key, the slot map of several views
#                       (highest config epoch wins), the events between two
#                       polls of a node

mrd_unit_test(drill_cluster mrd_orch_drill)
