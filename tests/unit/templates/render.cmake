# unit.render: template substitution and the embedded templates.
mrd_unit_test(render mrd_templates)
