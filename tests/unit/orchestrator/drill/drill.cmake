# tests/unit/orchestrator/drill/drill.cmake - orchestrator/drill/drill.c
# and drill_scale.c, included from tests/CMakeLists.txt.
#
#   unit.drill   cmocka: the pure parts of a drill (how long a fault is
#                kept in place, also with every setting at INT_MAX; when
#                the scale drill refuses; its writers' slot shares)

mrd_unit_test(drill mrd_orch_drill)
