# tests/unit/orchestrator/backup/s3.cmake - orchestrator/backup/ (the S3
# client), included from tests/CMakeLists.txt.
#
#   unit.s3     cmocka: s3_parse.c (URI encoding, the sorted query, S3's XML
#               answers, the credentials file, bucket names) and
#               s3_credentials_load() on real files
#   s3_driver   a driver for the client (s3.h), used by integration.s3
#               (tests/integration/s3.sh, against s3rver) and
#               integration.s3_sigv4 (tests/integration/s3_sigv4.sh, every
#               signature checked with botocore):
#               s3_driver ENDPOINT BUCKET COMMAND ARG...

mrd_unit_test(s3 mrd_orch_backup)

add_executable(s3_driver ${CMAKE_CURRENT_SOURCE_DIR}/integration/s3_driver.c)
target_link_libraries(s3_driver PRIVATE mrd_orch_backup OpenSSL::Crypto)
