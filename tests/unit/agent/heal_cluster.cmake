# tests/unit/agent/heal_cluster.cmake - the pure parts of the heal pass's
# cluster mode and of the shared restore, included from tests/CMakeLists.txt.
#
#   unit.heal_cluster   cmocka: the snapshot source choice
#                       (heal_choose_source), a node's nodes.conf judged
#                       (heal_cluster_conf_judge), the id a restored node
#                       takes (heal_cluster_node_id), the shard's master in
#                       a view (heal_cluster_master) and what heal_decide
#                       does with the facts a crashed master leaves; the
#                       replica the crash fast path asks
#                       (heal_cluster_failover_target); the fence: a master
#                       cut off from a majority of the masters owning slots
#                       (heal_cluster_isolated), fence/lift/adopt
#                       (heal_fence_next) and the repair of a stray fence
#                       (heal_fence_drift); the replica-side failover
#                       request (heal_cluster_rfail_decide,
#                       heal_cluster_lost_by)

mrd_unit_test(heal_cluster mrd_agent)
