# unit.switchover: the pure parts of `meridian switchover`
# (orchestrator/operations/switchover_common.c): the choice of target over
# hand-made status reports, the states' names and order, and what a run
# that finds a killed switchover does.
mrd_unit_test(switchover mrd_orch_operations)
