# tests/unit/store/store.cmake - unit.store: the INFO parser (store/info.h) on
# real Redis 7 captures and hand-written cases in tests/fixtures/info/.
# store/sentinel.h needs a server and is covered by the integration tests.
mrd_unit_test(store mrd_store)
target_compile_definitions(test_store PRIVATE
  MRD_SOURCE_DIR="${PROJECT_SOURCE_DIR}")

