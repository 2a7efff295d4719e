# tests/unit/agent/api_request.cmake - agent/api_request.c, included from
# tests/CMakeLists.txt.
#
#   unit.api_request   cmocka: the agent API's request parser and router,
#                      no sockets: raw requests (NULs, duplicate headers,
#                      every limit) in, verdicts out; every prefix of a
#                      valid request; mutated requests; refusal rendering

mrd_unit_test(api_request mrd_agent)
