# tests/unit/agent/fence.cmake - agent/fence.c, included from
# tests/CMakeLists.txt.
#
#   unit.fence   cmocka: whether a host was replaced by a spare
#                (fence_decide: the own manifest, the marker, the peers'
#                answers, by scenario and over every combination), the
#                /v1/fence answer (fence_view_json, fence_view_parse and
#                its refusals) and the marker (fence_marker_parse)

mrd_unit_test(fence mrd_agent)
