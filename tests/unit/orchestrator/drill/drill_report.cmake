# tests/unit/orchestrator/drill/drill_report.cmake -
# orchestrator/drill/drill_report.c, included from tests/CMakeLists.txt.
#
#   unit.drill_report   cmocka: drill_result_compute on hand-built drill
#                       records (write gaps, detection, failover, isolated
#                       writes, verdict), report.json fields and nulls,
#                       report.txt, timeline.svg (well formed, escaped,
#                       labelled markers) and drill_report_write into a
#                       mkdtemp folder

mrd_unit_test(drill_report mrd_orch_drill)
