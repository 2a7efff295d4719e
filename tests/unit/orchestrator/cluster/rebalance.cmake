# unit.rebalance: which single step puts masters back where the plan put
# them (orchestrator/cluster/rebalance.c), pure, over hand-made views.
mrd_unit_test(rebalance mrd_orch_cluster)
