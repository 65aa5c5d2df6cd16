from incidents.admin import references  # noqa: F401  (registers the admins)
