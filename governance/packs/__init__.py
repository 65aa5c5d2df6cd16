"""Evidence packs: a ZIP an auditor can verify offline.

Each app contributes sections through ``register_section(name, builder)``. A builder receives a
``PackScope`` and yields ``(member_path, content)`` pairs: for a member ending in ``.csv`` the
content is an iterator of rows whose first row is the header; for any other member it is an
iterator of ``bytes`` chunks. Governance owns this registry and never imports the apps that
register with it (incidents registers its sections in its ``AppConfig.ready()``).

``report.html`` is built the same way: ``register_report_part(name, builder)`` adds a part whose
builder receives the ``PackScope`` and returns a ``ReportPart`` (or an iterable of them, or
``None``), computed with aggregate queries so that a pack of any size builds in constant memory.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

MAX_NAME_LENGTH = 100

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]+")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def framework_label(framework) -> str:
    """How a pack names a framework, in its manifest and in the API: ``code:version``."""
    return f"{framework.code}:{framework.version}"


@dataclass(frozen=True)
class PackScope:
    """What a pack covers: frameworks, an optional team or list of systems, a period and its reader."""

    frameworks: tuple = ()
    team: Any = None
    systems: tuple = ()
    start: datetime.date | None = None
    end: datetime.date | None = None
    user: Any = None
    extra: dict = field(default_factory=dict)
    # The moment the pack describes (its ``generated_at``): clock states are computed as of then.
    as_of: datetime.datetime | None = None

    def moment(self) -> datetime.datetime:
        """``as_of``, or now when the scope was built without one."""
        from django.utils import timezone

        return self.as_of or timezone.now()

    def system_queryset(self):
        """The AI systems in scope that ``user`` may read."""
        from governance.models import AISystem

        queryset = AISystem.objects.visible_to(self.user)
        if self.systems:
            queryset = queryset.filter(pk__in=[getattr(s, "pk", s) for s in self.systems])
        elif self.team is not None:
            queryset = queryset.filter(owning_team=self.team)
        return queryset.order_by("id")

    def parameters(self) -> dict:
        return {
            "frameworks": [framework_label(f) for f in self.frameworks],
            "team": self.team.slug if self.team is not None else None,
            "systems": sorted(s.slug for s in self.system_queryset()) if self.systems else [],
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "requested_by": getattr(self.user, "username", None),
        }


Builder = Callable[[PackScope], Iterable[tuple[str, Iterator[Any]]]]

_SECTIONS: dict[str, Builder] = {}


def register_section(name: str, builder: Builder) -> None:
    """Add (or replace) the section ``name``; sections are written in registration order."""
    _SECTIONS[name] = builder


def registered_sections() -> dict[str, Builder]:
    return dict(_SECTIONS)


@dataclass(frozen=True)
class ReportPart:
    """A block of ``report.html``: a heading, an optional short text, an optional table (``header``
    and at most ``MAX_REPORT_ROWS`` ``rows``) and an optional chart. A chart is a dict:
    ``{"title", "categories": [...], "series": [(name, [value per category]), ...]}`` with optional
    ``"stacked"`` (bool), ``"percent"`` (values are 0–1 shares) and ``"markers"`` (a value per
    category drawn as a tick, e.g. a limit). Every string is escaped when the report is rendered."""

    heading: str
    text: str = ""
    header: tuple = ()
    rows: tuple = ()
    chart: dict | None = None


MAX_REPORT_ROWS = 50

ReportBuilder = Callable[[PackScope], "ReportPart | Iterable[ReportPart] | None"]

_REPORT_PARTS: dict[str, ReportBuilder] = {}


def register_report_part(name: str, builder: ReportBuilder) -> None:
    """Add (or replace) the report part ``name``; governance's own parts come first in the report,
    then the others in registration order."""
    _REPORT_PARTS[name] = builder


def registered_report_parts() -> dict[str, ReportBuilder]:
    return dict(_REPORT_PARTS)


def safe_name(text: str, *, fallback: str = "file") -> str:
    """One path component for an archive member: no separators, ``..``, control characters or
    spaces, at most ``MAX_NAME_LENGTH`` characters."""
    text = _CONTROL_CHARS.sub("-", str(text))
    cleaned = _UNSAFE_CHARS.sub("-", text)
    cleaned = re.sub(r"\.{2,}", ".", cleaned).strip(".-")
    return cleaned[:MAX_NAME_LENGTH].strip(".-") or fallback


def member_path(folder: str, pk: int, name: str) -> str:
    """``<folder>/<id>-<safe name>``: built from an id and a sanitised name, never a caller's path."""
    return f"{safe_name(folder)}/{int(pk)}-{safe_name(name)}"
