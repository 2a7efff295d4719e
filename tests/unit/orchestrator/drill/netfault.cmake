# tests/unit/orchestrator/drill/netfault.cmake -
# orchestrator/drill/netfault.c, included from tests/CMakeLists.txt.
#
#   unit.netfault   cmocka: the partition script (both hooks, the inside
#                   set, the ports, four drop rules per hook, the table
#                   name made an nft identifier), refusals (no address, no
#                   port, not IPv4, a buffer too small) and the heal script

mrd_unit_test(netfault mrd_orch_drill)
