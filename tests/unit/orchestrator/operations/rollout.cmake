# unit.rollout: the steps of `meridian rollout` (rollout_plan(), pure) for
# the sentinel and cluster layouts: agents first, replicas outside their
# leader's region before those in it, sentinels, then each leader handed
# over inside its region before it restarts; refused without a master.
mrd_unit_test(rollout mrd_orch_operations)
