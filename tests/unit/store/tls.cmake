# tests/unit/store/tls.cmake - store/tls.c, included from tests/CMakeLists.txt.
#
#   unit.tls     cmocka: store_set_tls() and its errors, no plaintext after a
#                failed setup, handshakes refused by sockets of the test
#                itself (silent, plaintext, closing), the plaintext-mode
#                hint about TLS-only servers
#   tls_store    the driver of integration.tls_store (tests/integration/
#                tls_store.sh): its certificates and its cases against real
#                redis-server processes; tls_store certs DIR | tls_store CASE

mrd_unit_test(tls mrd_store)

add_executable(tls_store ${CMAKE_CURRENT_SOURCE_DIR}/integration/tls_store.c)
target_link_libraries(tls_store PRIVATE mrd_store)

# Like every executable it lands in the build folder, where the integration
# script finds it as $BUILD/tls_store.
