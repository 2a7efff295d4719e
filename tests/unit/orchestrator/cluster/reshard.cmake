# unit.reshard: which slots move where so that every shard owns its quota
# (orchestrator/cluster/reshard.c), pure.
mrd_unit_test(reshard mrd_orch_cluster)
