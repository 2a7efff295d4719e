# tests/unit/orchestrator/drill/drill_report.cmake -
# orchestrator/drill/drill_report.c, included from tests/CMakeLists.txt.
#
#   unit.drill_report   cmocka: drill_result_compute on hand-built drill
#                       records (write gaps, detection, failover, isolated
#                       writes, verdict), report.json fields and nulls,
#                       report.txt, timeline.svg (well formed, escaped,
#                       labelled markers), drill_report_write into a
#                       mkdtemp folder, and the scale drill's figures (one
#                       writer's longest gap, throughput before, during and
#                       after, its verdict) and reports

mrd_unit_test(drill_report mrd_orch_drill)
