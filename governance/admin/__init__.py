from governance.admin import (  # noqa: F401  (registers the admins)
    changes,
    controls,
    evidence,
    frameworks,
    inventory,
    notifications,
    reviews,
    risks,
    soa,
    teams,
    tokens,
    transparency,
)
