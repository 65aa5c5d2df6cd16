from incidents.admin import incidents, references  # noqa: F401  (registers the admins)
