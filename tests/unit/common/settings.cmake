# tests/unit/common/settings.cmake - unit.settings: common/settings.c, the
# settings table, and the README key tables it generates.
mrd_unit_test(settings mrd_common)
target_compile_definitions(test_settings PRIVATE SRC_DIR="${PROJECT_SOURCE_DIR}")
