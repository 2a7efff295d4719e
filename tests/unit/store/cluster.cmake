# tests/unit/store/cluster.cmake - store/cluster.c, included from
# tests/CMakeLists.txt.
#
#   unit.cluster    cmocka: the CLUSTER NODES / nodes.conf parser, the
#                   questions asked of a view and the CLUSTER INFO parser on
#                   real Redis 7.0.15 captures (tests/fixtures/cluster/) and
#                   malformed cases; the nodes.conf of a restored replica
#   cluster_conf    a driver for store_cluster_replica_conf(), handy by hand:
#                   cluster_conf PEER_NODES ID|new IP PORT BUS_PORT MASTER_ID EPOCH

mrd_unit_test(cluster mrd_store)
target_compile_definitions(test_cluster PRIVATE
  MRD_SOURCE_DIR="${PROJECT_SOURCE_DIR}")

add_executable(cluster_conf ${CMAKE_CURRENT_SOURCE_DIR}/integration/cluster_conf.c)
target_link_libraries(cluster_conf PRIVATE mrd_store)
