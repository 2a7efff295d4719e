# unit.reconcile: reconcile's pure decisions (orchestrator/reconcile/
# reconcile.c): what differs from the topology, how a size is written,
# and that an agent's self-fence is never taken for drift.
mrd_unit_test(reconcile mrd_orch_reconcile)
