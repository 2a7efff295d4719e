# unit.status_judge: the sentinel mode's health judgement
# (orchestrator/status/sentinel.c), pure, over hand-made probe findings.
mrd_unit_test(status_judge mrd_orch_status)
