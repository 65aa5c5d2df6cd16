"""Load the transparency indicator sets shipped in ``governance/catalogs/transparency/``.

Layout of the folder::

    sets.json           one object per set: key, file, name, version, publisher, licence,
                        source_url, attribution, subject_kind (model|system), scoring_rule
    <file>.csv          its indicators: key, domain, subdomain, name, definition, notes,
                        rationale, weight, order

The sets are the three editions of the Foundation Model Transparency Index (CC BY 4.0, attributed
in each set) and Verity's own deployment transparency set. Loading works like the framework
catalogs (``services/catalogs.py``): every file is read and validated before anything is written,
a bad file fails with a ``CatalogError`` naming file and line, and only differences are written, so
a second run writes no row. Indicators that disappeared from a file are reported, never deleted:
assessments may still answer them. A set's ``domains`` are derived from its indicators, in order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_slug
from django.db import transaction

from governance.change_context import change_context
from governance.choices import TransparencySubject
from governance.models import Indicator, IndicatorSet, User
from governance.services.catalogs import (
    BATCH_SIZE,
    CatalogError,
    _changed_fields,
    _check_lengths,
    _csv_rows,
    _display_path,
    _Tally,
)

TRANSPARENCY_DIR = Path(__file__).resolve().parents[1] / "catalogs" / "transparency"
SETS_FILE = "sets.json"
SET_KEYS = (
    "key",
    "file",
    "name",
    "version",
    "publisher",
    "licence",
    "source_url",
    "attribution",
    "subject_kind",
    "scoring_rule",
)
REQUIRED_SET_KEYS = ("key", "file", "name", "version", "publisher", "licence", "subject_kind", "scoring_rule")
INDICATOR_COLUMNS = (
    "key",
    "domain",
    "subdomain",
    "name",
    "definition",
    "notes",
    "rationale",
    "weight",
    "order",
)
INDICATOR_FIELDS = ("domain", "subdomain", "name", "definition", "notes", "rationale", "weight", "order")


@dataclass
class _IndicatorSetFile:
    path: Path
    meta: dict[str, Any]
    rows: list[dict[str, Any]]


@transaction.atomic
def load_indicator_sets(folder: Path = TRANSPARENCY_DIR, *, actor: User | None = None) -> dict[str, Any]:
    """Load every indicator set listed in ``folder/sets.json``; return what was written per set key:
    ``set`` (created/updated/unchanged), ``rows``, ``created``/``updated``/``unchanged`` indicator
    counts, ``domains`` (indicators per domain) and ``not_in_file``.

    Raises ``CatalogError`` (naming file and line) on bad data; nothing is written then.
    """
    folder = Path(folder)
    sets = _read_sets(folder)
    context: dict[str, Any] = {"reason": f"load indicator sets from {_display_path(folder)}"}
    if actor is not None:
        context["actor"] = actor
    with change_context(**context):
        return {item.meta["key"]: _load_set(item) for item in sets}


# --- reading and validating -------------------------------------------------------------------


def _read_sets(folder: Path) -> list[_IndicatorSetFile]:
    path = folder / SETS_FILE
    if not path.is_file():
        raise CatalogError(path, None, "missing file")
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CatalogError(path, exc.lineno, f"invalid JSON: {exc.msg}") from exc
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise CatalogError(path, None, "must hold a JSON list of objects")
    result, seen = [], set()
    for number, entry in enumerate(entries, 1):
        where = f"set {number}"
        missing = [key for key in REQUIRED_SET_KEYS if not str(entry.get(key) or "").strip()]
        unknown = sorted(set(entry) - set(SET_KEYS))
        if missing or unknown:
            raise CatalogError(
                path,
                None,
                f"{where}: missing or empty keys: {', '.join(missing) or '-'}; unknown keys: "
                f"{', '.join(unknown) or '-'}",
            )
        meta = {key: str(entry.get(key) or "").strip() for key in SET_KEYS}
        try:
            validate_slug(meta["key"])
            if meta["source_url"]:
                URLValidator()(meta["source_url"])
        except ValidationError as exc:
            raise CatalogError(
                path, None, f"{where}: invalid key or source_url: {'; '.join(exc.messages)}"
            ) from exc
        if meta["subject_kind"] not in TransparencySubject.values:
            raise CatalogError(
                path, None, f"{where}: subject_kind must be one of {', '.join(TransparencySubject.values)}"
            )
        if meta["key"] in seen:
            raise CatalogError(path, None, f"{where}: duplicate key {meta['key']!r}")
        seen.add(meta["key"])
        _check_lengths(path, None, IndicatorSet, {k: v for k, v in meta.items() if k != "file"})
        rows_path = folder / meta["file"]
        result.append(_IndicatorSetFile(path=rows_path, meta=meta, rows=_read_indicators(rows_path)))
    return result


def _read_indicators(path: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    keys: dict[str, int] = {}
    orders: dict[int, int] = {}
    for line, cells in _csv_rows(path, INDICATOR_COLUMNS):
        key = cells["key"]
        try:
            validate_slug(key)
        except ValidationError:
            raise CatalogError(path, line, f"key {key!r} is not a slug") from None
        if key in keys:
            raise CatalogError(path, line, f"duplicate key {key!r} (first on line {keys[key]})")
        keys[key] = line
        for name in ("domain", "subdomain", "name", "definition"):
            if not cells[name]:
                raise CatalogError(path, line, f"{name} is empty for {key!r}")
        try:
            weight = Decimal(cells["weight"] or "1")
            if weight <= 0 or weight != weight.quantize(Decimal("0.01")):
                raise InvalidOperation
        except InvalidOperation:
            raise CatalogError(
                path,
                line,
                f"weight must be a positive number with at most 2 decimals, not {cells['weight']!r}",
            ) from None
        try:
            order = int(cells["order"])
            if order < 1:
                raise ValueError
        except ValueError:
            raise CatalogError(
                path, line, f"order must be a whole number >= 1, not {cells['order']!r}"
            ) from None
        if order in orders:
            raise CatalogError(path, line, f"duplicate order {order} (first on line {orders[order]})")
        orders[order] = line
        values = {name: cells[name] for name in INDICATOR_FIELDS if name not in ("weight", "order")}
        values.update(weight=weight.quantize(Decimal("0.01")), order=order)
        _check_lengths(path, line, Indicator, {"key": key, **values})
        rows.append({"key": key, **values})
    if not rows:
        raise CatalogError(path, None, "no indicators")
    return sorted(rows, key=lambda row: row["order"])


def _domains(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Domains in order of first appearance, each with its subdomains in order."""
    domains: dict[str, list[str]] = {}
    for row in rows:
        subdomains = domains.setdefault(row["domain"], [])
        if row["subdomain"] not in subdomains:
            subdomains.append(row["subdomain"])
    return [{"domain": domain, "subdomains": subdomains} for domain, subdomains in domains.items()]


# --- writing ----------------------------------------------------------------------------------


def _load_set(item: _IndicatorSetFile) -> dict[str, Any]:
    meta = item.meta
    values = {key: meta[key] for key in SET_KEYS if key not in ("key", "file")}
    values["domains"] = _domains(item.rows)
    indicator_set = IndicatorSet.objects.filter(key=meta["key"]).first()
    existing: dict[str, Indicator] = {}
    if indicator_set is None:
        indicator_set = IndicatorSet.objects.create(key=meta["key"], **values)
        set_status = "created"
    else:
        changed = _changed_fields(indicator_set, values)
        if changed:
            indicator_set.save(update_fields=[*changed, "updated_at"])
        set_status = "updated" if changed else "unchanged"
        existing = {i.key: i for i in Indicator.objects.filter(indicator_set=indicator_set)}

    tally = _Tally()
    to_create, to_update, fields = [], [], set()
    for row in item.rows:
        obj = existing.get(row["key"])
        row_values = {name: row[name] for name in INDICATOR_FIELDS}
        if obj is None:
            to_create.append(Indicator(indicator_set=indicator_set, key=row["key"], **row_values))
            continue
        changed = _changed_fields(obj, row_values)
        if changed:
            to_update.append(obj)
            fields.update(changed)
        else:
            tally.unchanged += 1
    if to_update:
        Indicator.objects.bulk_update(to_update, sorted(fields), batch_size=BATCH_SIZE)
        tally.updated = len(to_update)
    if to_create:
        Indicator.objects.bulk_create(to_create, batch_size=BATCH_SIZE)
        tally.created = len(to_create)

    counts: dict[str, int] = {}
    for row in item.rows:
        counts[row["domain"]] = counts.get(row["domain"], 0) + 1
    return tally.as_dict(
        name=str(indicator_set),
        set=set_status,
        rows=len(item.rows),
        domains=counts,
        not_in_file=len(set(existing) - {row["key"] for row in item.rows}),
    )
