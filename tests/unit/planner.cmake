# unit.planner: placement and survivability matrix (orchestrator/plan.c).
# Built from plan.c directly rather than through mrd_orch, so the planner's
# tests need neither the transports nor the store library.
add_executable(test_planner
  ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_planner.c
  ${PROJECT_SOURCE_DIR}/orchestrator/plan.c)
target_include_directories(test_planner PRIVATE ${PROJECT_SOURCE_DIR}/orchestrator)
target_link_libraries(test_planner PRIVATE mrd_regions PkgConfig::JANSSON PkgConfig::CMOCKA)
add_test(NAME unit.planner COMMAND test_planner)
math(EXPR _mrd_planner_timeout "60 * ${MERIDIAN_TEST_TIMEOUT_SCALE}")
set_tests_properties(unit.planner PROPERTIES LABELS unit TIMEOUT ${_mrd_planner_timeout})
