"""Incident models arrive with the incident register; the app is in place for the layout."""
