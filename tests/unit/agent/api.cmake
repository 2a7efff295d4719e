# unit.api: the agent's HTTP API (agent/api.c) and event sink (agent/events.c),
# against a real libmicrohttpd server and webhook receiver on 127.0.0.1.
mrd_unit_test(api mrd_agent)
target_link_libraries(test_api PRIVATE CURL::libcurl PkgConfig::MHD Threads::Threads)
