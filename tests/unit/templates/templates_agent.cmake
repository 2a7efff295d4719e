# unit.templates_agent: the agent's systemd unit and cron entry render.
mrd_unit_test(templates_agent mrd_templates)
