# unit.replace: when `meridian heal` may replace a lost host
# (orchestrator/operations/replace.c's replace_can_act), pure, over
# hand-made status reports: never from a minority, never during a failover.
mrd_unit_test(replace mrd_orch_operations)
