# tests/unit/orchestrator/drill/drill_total_loss.cmake -
# the total-loss drill's pure parts (orchestrator/drill/drill_report.c),
# included from tests/CMakeLists.txt.
#
#   unit.drill_total_loss   cmocka: drill_total_loss_classify() on every
#                           side of the backup's marks and the kill;
#                           drill_result_compute() on hand-built total-loss
#                           records (losses per class, RPO, RTO, the
#                           verdict and why it fails), report.json's
#                           total_loss fields and seq ranges, report.txt

mrd_unit_test(drill_total_loss mrd_orch_drill)
