from governance.admin import changes, frameworks, inventory, teams, tokens  # noqa: F401  (registers the admins)
