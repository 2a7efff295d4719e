# tests/unit/common/health.cmake - unit.health: common/health.c, the one
# health vocabulary (codes, names, which is worse, majority).
mrd_unit_test(health mrd_common)
