# unit.agent_client: the heal report (pure) and the libcurl agent client against local sockets.
mrd_unit_test(agent_client mrd_orch_agents)
