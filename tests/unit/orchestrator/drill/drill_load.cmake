# tests/unit/orchestrator/drill/drill_load.cmake -
# orchestrator/drill/drill_load.c, included from tests/CMakeLists.txt.
#
#   unit.drill_load     cmocka: pacing without catch-up bursts, leader
#                       address to host mapping, +switch-master payloads,
#                       option checks
#   drill_load_driver   runs the writer, the timeline and the read-back
#                       against a deployment; used by integration.drill_load
#                       (tests/integration/drill_load.sh) and handy by hand:
#                       drill_load_driver run --master NAME --nodes A:P,...
#                         --sentinels A:P,... --app-pass-file F
#                         --admin-pass-file F [--duration-ms N] [--rate N]

mrd_unit_test(drill_load mrd_orch_drill)

add_executable(drill_load_driver
               ${CMAKE_CURRENT_SOURCE_DIR}/integration/drill_load_driver.c)
target_link_libraries(drill_load_driver PRIVATE mrd_orch_drill)

# Like every executable it lands in the build folder, where the integration
# script finds it as $BUILD/drill_load_driver.
