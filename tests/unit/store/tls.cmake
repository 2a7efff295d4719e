# tests/unit/store/tls.cmake - store/tls.c, included from tests/CMakeLists.txt.
#
#   unit.tls     cmocka: store_set_tls() and its errors, no plaintext after a
#                failed setup, handshakes refused by sockets of the test
#                itself (silent, plaintext, closing), the plaintext-mode
#                hint about TLS-only servers

mrd_unit_test(tls mrd_store)

