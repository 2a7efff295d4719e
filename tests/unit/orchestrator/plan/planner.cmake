# unit.planner: placement and survivability matrix (orchestrator/plan/plan.c).
mrd_unit_test(planner mrd_orch_plan)
