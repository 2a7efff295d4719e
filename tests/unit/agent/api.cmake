# unit.api: the agent's HTTP API (agent/api.c) and event sink (agent/events.c),
# against a real libmicrohttpd server and webhook receiver on 127.0.0.1, over
# HTTP and HTTPS (certificates from certs.h; OpenSSL for a raw TLS client).
mrd_unit_test(api mrd_agent)
target_link_libraries(test_api PRIVATE CURL::libcurl PkgConfig::MHD OpenSSL::SSL
                      Threads::Threads)
