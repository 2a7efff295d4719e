# Integration tests: shell scripts driving real processes on loopback.
# Each gets its own ports and state dir, so ctest -j can run them together.
function(mrd_integration_test name script timeout)
  add_test(NAME integration.${name}
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/${script} ${ARGN})
  math(EXPR t "${timeout} * ${MERIDIAN_TEST_TIMEOUT_SCALE}")
  set_tests_properties(integration.${name} PROPERTIES
    LABELS integration TIMEOUT ${t}
    ENVIRONMENT "BUILD=${PROJECT_BINARY_DIR};SRC=${PROJECT_SOURCE_DIR}")
endfunction()

mrd_integration_test(cli cli.sh 60)
mrd_integration_test(deploy deploy.sh 180)
mrd_integration_test(parallel parallel.sh 180)
mrd_integration_test(snapshot snapshot.sh 120)
mrd_integration_test(heal heal.sh 300)
mrd_integration_test(drill_load drill_load.sh 120)
mrd_integration_test(ssh ssh.sh 180)
mrd_integration_test(drill drill.sh 300)
mrd_integration_test(ssh_drill ssh_drill.sh 300)
mrd_integration_test(clients clients.sh 180)
mrd_integration_test(reconcile reconcile.sh 180)
mrd_integration_test(nodes nodes.sh 120)
mrd_integration_test(cluster cluster.sh 180)
mrd_integration_test(cluster_heal cluster_heal.sh 150)
mrd_integration_test(cluster_fastpath cluster_fastpath.sh 150)
mrd_integration_test(cluster_rebalance cluster_rebalance.sh 150)
mrd_integration_test(cluster_drill cluster_drill.sh 200)
mrd_integration_test(cluster_fence cluster_fence.sh 150)
mrd_integration_test(cluster_replica_failover cluster_replica_failover.sh 150)
mrd_integration_test(cluster_scale cluster_scale.sh 240)
mrd_integration_test(cluster_retire cluster_retire.sh 120)
mrd_integration_test(cluster_scale_drill cluster_scale_drill.sh 150)
mrd_integration_test(fence fence.sh 180)
