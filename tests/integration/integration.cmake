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

# The same test against a deployment with tls.enabled (lib.sh reads
# MERIDIAN_TEST_TLS), on its own ports so it can run beside the plain one.
function(mrd_integration_test_tls name script timeout port_base)
  mrd_integration_test(${name}_tls ${script} ${timeout})
  set_tests_properties(integration.${name}_tls PROPERTIES
    ENVIRONMENT "BUILD=${PROJECT_BINARY_DIR};SRC=${PROJECT_SOURCE_DIR};MERIDIAN_TEST_TLS=1;PORT_BASE=${port_base}")
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
mrd_integration_test(cluster_scale cluster_scale.sh 420)
mrd_integration_test(cluster_retire cluster_retire.sh 120)
mrd_integration_test(cluster_scale_drill cluster_scale_drill.sh 150)
mrd_integration_test(fence fence.sh 180)
mrd_integration_test(spare spare.sh 240)
mrd_integration_test(cluster_spare cluster_spare.sh 300)
mrd_integration_test(ssh_spare ssh_spare.sh 180)
mrd_integration_test(switchover switchover.sh 240)
mrd_integration_test(cluster_switchover cluster_switchover.sh 240)
mrd_integration_test(restart restart.sh 120)
mrd_integration_test(rollout rollout.sh 300)
# store.persistence "aof": ports 18150.. (nodes), 19150 (agents), 28150 (sentinels)
mrd_integration_test(persistence persistence.sh 120)
set_tests_properties(integration.persistence PROPERTIES
  ENVIRONMENT "BUILD=${PROJECT_BINARY_DIR};SRC=${PROJECT_SOURCE_DIR};PORT_BASE=18150")
mrd_integration_test(tls_store tls_store.sh 120)
mrd_integration_test(tls tls.sh 300)
mrd_integration_test_tls(deploy deploy.sh 180 16550)
mrd_integration_test_tls(heal heal.sh 300 16650)
mrd_integration_test_tls(drill drill.sh 300 16750)
mrd_integration_test_tls(cluster cluster.sh 180 15850)
# The S3 client (orchestrator/backup/): against s3rver, and every signature
# checked with botocore.  Ports: integration.s3 24470 (s3rver) and 24479
# (where nothing listens), integration.s3_sigv4 24471-24472.
mrd_integration_test(s3 s3.sh 60)
mrd_integration_test(s3_sigv4 s3_sigv4.sh 60)
# Backups in cluster mode: nodes 21850.. (bus 31850..), agents 22850,
# s3rver 24484.
mrd_integration_test(backup_cluster backup_cluster.sh 120)
# Backups to S3-compatible storage and restores (issue 17): nodes 18250..,
# agents 19250, sentinels 28250; s3rver 24481, a proxy 24485, nothing on 24486.
mrd_integration_test(backup backup.sh 90)
set_tests_properties(integration.backup PROPERTIES
  ENVIRONMENT "BUILD=${PROJECT_BINARY_DIR};SRC=${PROJECT_SOURCE_DIR};PORT_BASE=18250")
# The total-loss drill (backup, every node killed, restore): ports 24900..
# (nodes), 25900 (agents), 34900 (sentinels), s3rver on 24482, the test's
# own redis-server on 24950.
mrd_integration_test(drill_total_loss drill_total_loss.sh 120)
set_tests_properties(integration.drill_total_loss PROPERTIES
  ENVIRONMENT "BUILD=${PROJECT_BINARY_DIR};SRC=${PROJECT_SOURCE_DIR};PORT_BASE=24900")
