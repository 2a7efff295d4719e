# unit.catalog: backup ids, object names, manifests (round trip and every
# refusal) and retention (orchestrator/backup/catalog.c, pure).
mrd_unit_test(catalog mrd_orch_backup)
