# unit.agent_client_tls: the agent client (both backends) over HTTPS against
# the agent's own API server in the same process (so it links mrd_agent too),
# with certificates from common/certs.c; ports 24150-24179 on 127.0.0.1 and
# 127.0.0.2.
mrd_unit_test(agent_client_tls mrd_orch_agents mrd_agent)
