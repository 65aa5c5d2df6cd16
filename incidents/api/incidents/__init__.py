"""The incident API: ``serializers`` (the incident and the bodies of its actions), ``filters`` (the
incident list's) and ``views`` (the viewset with its lifecycle, timeline, corrective-action,
Art. 73 and similarity endpoints)."""
