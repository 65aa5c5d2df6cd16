from incidents.models.corrective import CorrectiveAction
from incidents.models.incident import Incident, IncidentSequence
from incidents.models.reference import ReferenceIncident
from incidents.models.timeline import TimelineEntry

__all__ = ["CorrectiveAction", "Incident", "IncidentSequence", "ReferenceIncident", "TimelineEntry"]
