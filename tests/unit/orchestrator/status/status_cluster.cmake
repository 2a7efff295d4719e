# unit.status_cluster: cluster mode's health judgement
# (orchestrator/status/cluster.c), pure, over hand-made CLUSTER NODES views.
mrd_unit_test(status_cluster mrd_orch_status)
