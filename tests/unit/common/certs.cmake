# tests/unit/common/certs.cmake - unit.certs: common/certs.c, the private
# CA, host certificates and their checks.  Files go to a mkdtemp folder
# under /tmp that each test removes; nothing is started.  The test reads
# and re-signs one certificate itself (an operator's serverAuth-only
# certificate), so it links libcrypto too.
mrd_unit_test(certs mrd_common OpenSSL::Crypto)
target_compile_definitions(test_certs PRIVATE OPENSSL_API_COMPAT=30000
                           OPENSSL_NO_DEPRECATED)
