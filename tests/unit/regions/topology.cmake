# tests/unit/regions/topology.cmake - the topology parser's tests, included from
# tests/CMakeLists.txt.
#
#   unit.topology                    cmocka unit tests (valid fixtures, the
#                                    shipped regions/*.json, sizes, jsonpos)
#   unit.topology.invalid.<case>     one per tests/fixtures/topology/invalid/
#                                    <case>/: input.json must fail with the
#                                    exact text of expected-error

mrd_unit_test(topology mrd_regions)
target_compile_definitions(test_topology PRIVATE
  MRD_SOURCE_DIR="${PROJECT_SOURCE_DIR}")

# CONFIGURE_DEPENDS: a case directory added later is picked up by the next
# build without re-running cmake by hand.
file(GLOB mrd_topology_cases LIST_DIRECTORIES true CONFIGURE_DEPENDS
     "${PROJECT_SOURCE_DIR}/tests/fixtures/topology/invalid/*")
math(EXPR mrd_topology_timeout "30 * ${MERIDIAN_TEST_TIMEOUT_SCALE}")
foreach(dir IN LISTS mrd_topology_cases)
  if(IS_DIRECTORY "${dir}" AND EXISTS "${dir}/input.json")
    get_filename_component(case "${dir}" NAME)
    add_test(NAME unit.topology.invalid.${case}
             COMMAND test_topology "${dir}")
    set_tests_properties(unit.topology.invalid.${case} PROPERTIES
                         LABELS unit TIMEOUT ${mrd_topology_timeout})
  endif()
endforeach()
