from incidents.models.corrective import CorrectiveAction
from incidents.models.evaluations import (
    EvaluationRun,
    EvaluationSample,
    HallucinationFinding,
    HallucinationLimit,
)
from incidents.models.incident import Incident, IncidentSequence
from incidents.models.reference import ReferenceIncident
from incidents.models.timeline import TimelineEntry

__all__ = [
    "CorrectiveAction",
    "EvaluationRun",
    "EvaluationSample",
    "HallucinationFinding",
    "HallucinationLimit",
    "Incident",
    "IncidentSequence",
    "ReferenceIncident",
    "TimelineEntry",
]
