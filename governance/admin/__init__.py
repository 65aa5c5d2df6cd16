from governance.admin import changes, inventory, teams, tokens  # noqa: F401  (registers the admins)
