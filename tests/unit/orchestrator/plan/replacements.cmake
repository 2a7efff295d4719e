# unit.replacements: the replacement record (orchestrator/plan/replacements.c).
mrd_unit_test(replacements mrd_orch_plan)
