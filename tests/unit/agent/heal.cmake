# tests/unit/agent/heal.cmake - agent/heal.c, included from
# tests/CMakeLists.txt.
#
#   unit.heal   cmocka: the pure half of the check-and-heal pass: the
#               decision table (heal_decide) by scenario, by invariant and
#               over every combination of facts; action names;
#               stale sentinel replica entries (heal_stale_replicas);
#               the crash fast path's once-per-cooldown rule
#               (heal_fast_path_due); which kept-aside AOF folders of
#               a node's previous lives go (heal_aof_lost_prune)

mrd_unit_test(heal mrd_agent)
