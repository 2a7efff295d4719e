# tests/unit/agent/fence_peers.cmake - agent/fence.c's I/O half, included from
# tests/CMakeLists.txt.
#
#   unit.fence_peers   cmocka: fence_ask_peers() against an agent API server
#                      (agent/api.c) on 127.0.0.2, ports 24180-24199, over
#                      HTTPS (tls.enabled: the CA of the secrets folder, no
#                      fallback) and plain HTTP

mrd_unit_test(fence_peers mrd_agent)
