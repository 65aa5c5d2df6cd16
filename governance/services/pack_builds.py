"""Requesting, building, retrying and downloading evidence packs.

Anyone with a Verity role may request a pack: its content is read through ``visible_to()`` of the
person who asked, so an engineer's pack holds only their teams' systems (and a team or system
outside their scope is refused). Every download is recorded as a ``PackDownload`` row, which the
change-history trigger turns into an audit event. How a build is queued, leased, taken over and
bounded is ``governance.services.pack_queue``.
"""

from __future__ import annotations

import datetime
import hashlib
import tempfile
from collections.abc import Iterable

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from governance.exceptions import Conflict
from governance.models import AISystem, EvidencePack, Framework, PackDownload, Team, User
from governance.packs import PackScope, framework_label
from governance.packs.builder import write_pack
from governance.services import pack_queue

CHUNK = 1024 * 1024


def _check(*, actor: User, frameworks, team, systems, start, end) -> None:
    if not actor.has_perm("governance.add_evidencepack"):
        raise PermissionDenied("Your role may not build evidence packs.")
    if start and end and start > end:
        raise ValidationError({"end": "The period ends before it starts."})
    visible = AISystem.objects.visible_to(actor)
    if systems and visible.filter(pk__in=[s.pk for s in systems]).count() != len(set(systems)):
        raise ValidationError({"systems": "Some of these systems are outside what you may read."})
    if team is not None and not actor.sees_everything and team.pk not in actor.team_ids():
        raise ValidationError({"team": "You may only build packs for your own teams."})


def _parameters(frameworks, team, systems, start, end) -> dict:
    return {
        "frameworks": [f.pk for f in frameworks],
        "team": team.pk if team is not None else None,
        "systems": sorted(s.pk for s in systems or ()),
        "start": start.isoformat() if start else None,
        "end": end.isoformat() if end else None,
    }


def requested_scopes(packs: Iterable[EvidencePack]) -> dict[int, dict]:
    """What each pack was asked for, by the names the API takes: frameworks as ``code:version``,
    the team's slug, the systems' slugs, and the period. A pack stores ids; this reads the names
    of a whole page of packs in one query per kind of object."""
    packs = list(packs)
    stored = {pack.pk: pack.parameters or {} for pack in packs}
    framework_ids = {pk for params in stored.values() for pk in params.get("frameworks") or ()}
    team_ids = {params["team"] for params in stored.values() if params.get("team")}
    system_ids = {pk for params in stored.values() for pk in params.get("systems") or ()}
    frameworks = {
        framework.pk: framework_label(framework)
        for framework in Framework.objects.filter(pk__in=framework_ids).only("code", "version")
    }
    teams = dict(Team.objects.filter(pk__in=team_ids).values_list("pk", "slug"))
    systems = dict(AISystem.objects.filter(pk__in=system_ids).values_list("pk", "slug"))
    return {
        pk: {
            "frameworks": [frameworks[f] for f in params.get("frameworks") or () if f in frameworks],
            "team": teams.get(params.get("team")),
            "systems": sorted(systems[s] for s in params.get("systems") or () if s in systems),
            "start": params.get("start"),
            "end": params.get("end"),
        }
        for pk, params in stored.items()
    }


@transaction.atomic
def request_pack(
    *,
    actor: User,
    frameworks: Iterable[Framework],
    team: Team | None = None,
    systems: Iterable[AISystem] | None = None,
    start: datetime.date | None = None,
    end: datetime.date | None = None,
) -> EvidencePack:
    """Queue a pack for the ``build_evidence_pack`` task. The build message is sent before this
    transaction commits; if the broker cannot take it, ``Unavailable`` is raised and nothing is
    saved (see ``pack_queue``)."""
    pack = _record(actor=actor, frameworks=frameworks, team=team, systems=systems, start=start, end=end)
    pack_queue.send_build(pack)
    return pack


@transaction.atomic
def retry_pack(*, actor: User, pack: EvidencePack) -> EvidencePack:
    """Queue a failed pack again, with its attempts and its build bound counted afresh.

    The actor needs the role to build packs and must see the pack (officers and auditors: any;
    engineers: their own); it is built for the person who first asked, as before.
    """
    if not actor.has_perm("governance.add_evidencepack"):
        raise PermissionDenied("Your role may not build evidence packs.")
    pack_queue.lock(pack.pk)
    locked = EvidencePack.objects.visible_to(actor).select_for_update(of=("self",)).filter(pk=pack.pk).first()
    if locked is None:
        raise PermissionDenied("This pack is outside what you may read.")
    if locked.status != EvidencePack.Status.FAILED:
        raise Conflict(
            f"Only a failed pack can be retried; this one is {locked.get_status_display().lower()}."
        )
    locked.status, locked.error, locked.attempts = EvidencePack.Status.QUEUED, "", 0
    locked.started_at = locked.finished_at = locked.lease_until = None
    locked.save(update_fields=["status", "error", "attempts", "started_at", "finished_at", "lease_until"])
    pack_queue.send_build(locked)
    return locked


def build_pack(
    *,
    actor: User,
    frameworks: Iterable[Framework],
    team: Team | None = None,
    systems: Iterable[AISystem] | None = None,
    start: datetime.date | None = None,
    end: datetime.date | None = None,
) -> EvidencePack:
    """Record and build a pack now (admin actions, commands and tests)."""
    pack = _record(actor=actor, frameworks=frameworks, team=team, systems=systems, start=start, end=end)
    return run_pack(pack_id=pack.pk)


def _record(*, actor, frameworks, team, systems, start, end) -> EvidencePack:
    """Check the request and store it as a queued pack."""
    frameworks, systems = list(frameworks), list(systems or ())
    _check(actor=actor, frameworks=frameworks, team=team, systems=systems, start=start, end=end)
    return EvidencePack.objects.create(
        requested_by=actor,
        parameters=_parameters(frameworks, team, systems, start, end),
        queued_at=timezone.now(),
    )


def _scope(pack: EvidencePack) -> PackScope:
    params = pack.parameters
    frameworks = tuple(Framework.objects.filter(pk__in=params["frameworks"]).order_by("code", "version"))
    return PackScope(
        frameworks=frameworks,
        team=Team.objects.filter(pk=params["team"]).first() if params.get("team") else None,
        systems=tuple(AISystem.objects.filter(pk__in=params.get("systems") or [])),
        start=datetime.date.fromisoformat(params["start"]) if params.get("start") else None,
        end=datetime.date.fromisoformat(params["end"]) if params.get("end") else None,
        user=pack.requested_by,
    )


def run_pack(*, pack_id: int) -> EvidencePack | None:
    """Build a queued pack into evidence storage; a failure is recorded on the pack, not raised.

    Does nothing to a pack that is finished or held by a live build; returns the pack as it is
    then (None if it does not exist: its request was rolled back).
    """
    held = pack_queue.claim(pack_id=pack_id)
    if held is None:
        return EvidencePack.objects.filter(pk=pack_id).first()
    pack = held.pack
    with pack_queue.heartbeat(held):
        outcome = _build(pack)
    if not pack_queue.finish(held, **outcome):
        # The sweep gave the pack to another build, or failed it past its bound: that stands.
        if outcome.get("file"):
            pack.file.storage.delete(outcome["file"])
    return EvidencePack.objects.filter(pk=pack_id).first()


def _build(pack: EvidencePack) -> dict:
    """Write the pack into evidence storage; the fields its outcome sets."""
    try:
        with tempfile.TemporaryFile() as handle:
            write_pack(_scope(pack), handle)
            handle.seek(0)
            digest, size = hashlib.sha256(), 0
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
            handle.seek(0)
            stamp = timezone.now()
            pack.file.save(f"packs/{stamp:%Y/%m}/evidence-pack-{pack.pk}.zip", File(handle), save=False)
    except Exception as exc:  # noqa: BLE001 - the pack records why it failed
        return {"status": EvidencePack.Status.FAILED, "error": f"{type(exc).__name__}: {exc}"[:2000]}
    return {
        "status": EvidencePack.Status.READY,
        "error": "",
        "file": pack.file.name,
        "size": size,
        "sha256": digest.hexdigest(),
    }


@transaction.atomic
def record_download(*, actor: User, pack: EvidencePack) -> PackDownload:
    """The audit event of a download (the change-history trigger records the row)."""
    if pack.status != EvidencePack.Status.READY:
        raise ValidationError("This pack is not ready.")
    return PackDownload.objects.create(pack=pack, user=actor, sha256=pack.sha256)


def open_pack(pack: EvidencePack):
    return pack.file.open("rb")
