from governance.admin import changes, controls, evidence, frameworks, inventory, risks, soa, teams, tokens  # noqa: F401  (registers the admins)
