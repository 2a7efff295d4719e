# tests/unit/agent/hold.cmake - agent/hold.c, included from
# tests/CMakeLists.txt.
#
#   unit.hold    cmocka: replica-priority holds in a host root (hold_put,
#                hold_active): a hold is active until its expiry and only
#                for its port, lifting one keeps the others, expired ones
#                are dropped, a missing or corrupt file holds nothing; and
#                hold_request's refusals (bad port or ttl, no such node)

mrd_unit_test(hold mrd_agent)
