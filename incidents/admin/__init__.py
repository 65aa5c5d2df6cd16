from incidents.admin import evaluations, incidents, references  # noqa: F401  (registers the admins)
