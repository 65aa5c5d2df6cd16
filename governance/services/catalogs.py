"""Load the framework catalogs shipped in ``governance/catalogs/`` into the database.

Layout of a catalog root::

    <root>/<code>/<version>/framework.json      one folder per framework version
    <root>/<code>/<version>/requirements.csv
    <root>/mappings/<name>.csv                  requirement mappings between (or within) frameworks
    <root>/transparency/sets.json (+ CSV files)  transparency indicator sets (transparency_catalogs.py)

Every file is read and validated before anything is written, and a bad file fails with a
``CatalogError`` naming the file and line. Loading is idempotent: rows are compared with what the
database holds and only differences are written, so a second run writes no row at all (and leaves
no trace in the change history). A new version folder of a framework loads beside the old one.
Rows that disappeared from a file are reported, never deleted: controls and assessments may still
point at them. Mappings officers recorded (``origin`` local) or changed (``modified_locally``) are
never changed by a load; a file row that differs from one of them is reported as ``kept``.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_slug
from django.db import transaction
from django.db.models import Q

from governance.change_context import change_context
from governance.choices import MappingRelationship, RequirementKind
from governance.exceptions import DataFileError
from governance.models import Framework, Requirement, RequirementMapping, User

CATALOG_ROOT = Path(__file__).resolve().parents[1] / "catalogs"
MAPPINGS_DIR = "mappings"
TRANSPARENCY_DIR = "transparency"  # indicator sets (services/transparency_catalogs.py)
FRAMEWORK_FILE = "framework.json"
REQUIREMENTS_FILE = "requirements.csv"

REQUIRED_FRAMEWORK_KEYS = ("code", "version", "name", "short_name", "publisher", "licence")
OPTIONAL_FRAMEWORK_KEYS = ("published_on", "source_url", "attribution")
REQUIREMENT_COLUMNS = (
    "ref_id",
    "parent_ref_id",
    "kind",
    "title",
    "text",
    "description",
    "order",
    "assessable",
    "attributes",
)
MAPPING_COLUMNS = (
    "source_framework",
    "source_version",
    "source_ref",
    "target_framework",
    "target_version",
    "target_ref",
    "relationship",
    "provenance",
    "rationale",
)
REQUIREMENT_FIELDS = ("kind", "title", "text", "description", "order", "assessable", "attributes")
MAPPING_FIELDS = ("relationship", "provenance", "rationale")
BATCH_SIZE = 500


class CatalogError(DataFileError):
    """A catalog file is malformed or refers to something that does not exist."""


@dataclass
class _RequirementRow:
    line: int
    ref_id: str
    parent_ref: str
    values: dict[str, Any]


@dataclass
class _Catalog:
    folder: Path
    meta: dict[str, Any]
    rows: list[_RequirementRow]

    @property
    def key(self) -> str:
        return f"{self.meta['code']}:{self.meta['version']}"


@dataclass
class _MappingRow:
    path: Path
    line: int
    source: tuple[str, str, str]
    target: tuple[str, str, str]
    values: dict[str, str]


@dataclass
class _Tally:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def as_dict(self, **more) -> dict[str, Any]:
        return {**more, "created": self.created, "updated": self.updated, "unchanged": self.unchanged}


@transaction.atomic
def load_catalogs(root: Path = CATALOG_ROOT, *, actor: User | None = None) -> dict[str, Any]:
    """Load every framework folder and mapping file under ``root``; return what was written.

    The result has one entry per framework version (``"code:version"``) under ``"frameworks"``,
    one per mapping file under ``"mappings"`` and one per transparency indicator set (from
    ``transparency/``, when present) under ``"indicator_sets"``, each with
    ``created``/``updated``/``unchanged`` row counts. Mapping files also report ``kept``: file rows
    that differ from a mapping an officer recorded or changed, left as the officer has it (see
    ``services/mappings.py``). Frameworks also report their row count per kind and ``not_in_file``:
    rows the database holds that the file no longer lists (kept, not deleted).

    Raises ``CatalogError`` (naming file and line) on bad data; nothing is written then.
    """
    root = Path(root)
    if not root.is_dir():
        raise CatalogError(root, None, "catalog root is not a directory")
    catalogs = [_read_catalog(folder) for folder in _framework_folders(root)]
    mapping_rows = _read_all_mappings(root / MAPPINGS_DIR)

    context: dict[str, Any] = {"reason": f"load_catalogs from {_display_path(root)}"}
    if actor is not None:
        context["actor"] = actor
    with change_context(**context):
        frameworks = {catalog.key: _load_framework(catalog) for catalog in catalogs}
        mappings = _load_mappings(mapping_rows)
        indicator_sets = {}
        if (root / TRANSPARENCY_DIR).is_dir():
            from governance.services.transparency_catalogs import load_indicator_sets

            indicator_sets = load_indicator_sets(root / TRANSPARENCY_DIR)
    return {"frameworks": frameworks, "mappings": mappings, "indicator_sets": indicator_sets}


# --- reading and validating files -----------------------------------------------------------


def _framework_folders(root: Path) -> list[Path]:
    folders = []
    for code_dir in sorted(p for p in root.iterdir() if p.is_dir() and _visible(p)):
        if code_dir.name in (MAPPINGS_DIR, TRANSPARENCY_DIR):
            continue
        for version_dir in sorted(p for p in code_dir.iterdir() if p.is_dir() and _visible(p)):
            folders.append(version_dir)
    return folders


def _visible(path: Path) -> bool:
    return not path.name.startswith((".", "_"))


def _read_catalog(folder: Path) -> _Catalog:
    meta = _read_framework_meta(folder / FRAMEWORK_FILE)
    if (meta["code"], meta["version"]) != (folder.parent.name, folder.name):
        raise CatalogError(
            folder / FRAMEWORK_FILE,
            None,
            f"code/version {meta['code']!r}/{meta['version']!r} do not match the folder "
            f"{folder.parent.name}/{folder.name}",
        )
    return _Catalog(folder=folder, meta=meta, rows=_read_requirements(folder / REQUIREMENTS_FILE))


def _read_framework_meta(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CatalogError(path, None, "missing file")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CatalogError(path, exc.lineno, f"invalid JSON: {exc.msg}") from exc
    if not isinstance(meta, dict):
        raise CatalogError(path, None, "must hold a JSON object")
    missing = [key for key in REQUIRED_FRAMEWORK_KEYS if not str(meta.get(key) or "").strip()]
    if missing:
        raise CatalogError(path, None, f"missing or empty keys: {', '.join(missing)}")
    unknown = sorted(set(meta) - set(REQUIRED_FRAMEWORK_KEYS) - set(OPTIONAL_FRAMEWORK_KEYS))
    if unknown:
        raise CatalogError(path, None, f"unknown keys: {', '.join(unknown)}")
    values: dict[str, Any] = {key: str(meta.get(key) or "").strip() for key in meta}
    for key in OPTIONAL_FRAMEWORK_KEYS:
        values.setdefault(key, "")
    try:
        validate_slug(values["code"])
        if values["source_url"]:
            URLValidator()(values["source_url"])
    except ValidationError as exc:
        raise CatalogError(path, None, f"invalid code or source_url: {'; '.join(exc.messages)}") from exc
    if values["published_on"]:
        try:
            values["published_on"] = date.fromisoformat(values["published_on"])
        except ValueError as exc:
            raise CatalogError(path, None, f"published_on is not a date (YYYY-MM-DD): {exc}") from exc
    else:
        values["published_on"] = None
    _check_lengths(path, None, Framework, values)
    return values


def _csv_rows(path: Path, columns: tuple[str, ...]):
    """Yield ``(line, {column: value})`` for each record, ``line`` being where the record starts."""
    if not path.is_file():
        raise CatalogError(path, None, "missing file")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            raise CatalogError(path, 1, "empty file, expected a header row") from None
        except csv.Error as exc:
            raise CatalogError(path, 1, f"unreadable CSV: {exc}") from exc
        header = [name.strip() for name in header]
        missing = [c for c in columns if c not in header]
        unknown = [c for c in header if c not in columns]
        if missing or unknown or len(set(header)) != len(header):
            raise CatalogError(
                path,
                1,
                f"header must name the columns {', '.join(columns)} once each "
                f"(missing: {', '.join(missing) or '-'}; unknown: {', '.join(unknown) or '-'})",
            )
        line = reader.line_num + 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise CatalogError(path, line, f"unreadable CSV: {exc}") from exc
            if cells and any(cell.strip() for cell in cells):
                if len(cells) != len(header):
                    raise CatalogError(path, line, f"expected {len(header)} cells, found {len(cells)}")
                yield line, {name: cell.strip() for name, cell in zip(header, cells, strict=True)}
            line = reader.line_num + 1


def _read_requirements(path: Path) -> list[_RequirementRow]:
    kinds = set(RequirementKind.values)
    rows: list[_RequirementRow] = []
    seen: dict[str, int] = {}
    for line, cells in _csv_rows(path, REQUIREMENT_COLUMNS):
        ref_id = cells["ref_id"]
        if not ref_id:
            raise CatalogError(path, line, "ref_id is empty")
        if ref_id in seen:
            raise CatalogError(path, line, f"duplicate ref_id {ref_id!r} (first on line {seen[ref_id]})")
        seen[ref_id] = line
        if cells["kind"] not in kinds:
            raise CatalogError(
                path, line, f"unknown kind {cells['kind']!r} for {ref_id!r}; expected one of {sorted(kinds)}"
            )
        if not cells["title"]:
            raise CatalogError(path, line, f"title is empty for {ref_id!r}")
        try:
            order = int(cells["order"])
            if order < 0:
                raise ValueError
        except ValueError:
            raise CatalogError(
                path, line, f"order must be a whole number >= 0, not {cells['order']!r}"
            ) from None
        assessable = cells["assessable"].lower()
        if assessable not in ("true", "false"):
            raise CatalogError(path, line, f"assessable must be true or false, not {cells['assessable']!r}")
        values = {
            "kind": cells["kind"],
            "title": cells["title"],
            "text": cells["text"],
            "description": cells["description"],
            "order": order,
            "assessable": assessable == "true",
            "attributes": _parse_attributes(path, line, cells["attributes"]),
        }
        _check_lengths(path, line, Requirement, {"ref_id": ref_id, **values})
        rows.append(
            _RequirementRow(line=line, ref_id=ref_id, parent_ref=cells["parent_ref_id"], values=values)
        )
    _check_parents(path, rows)
    return rows


def _parse_attributes(path: Path, line: int, raw: str) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CatalogError(path, line, f"attributes is not valid JSON: {exc.msg}") from exc
    if not isinstance(value, dict):
        raise CatalogError(path, line, "attributes must be a JSON object")
    return value


def _check_parents(path: Path, rows: list[_RequirementRow]) -> None:
    parents = {row.ref_id: row.parent_ref for row in rows}
    for row in rows:
        if row.parent_ref and row.parent_ref not in parents:
            raise CatalogError(path, row.line, f"unknown parent_ref_id {row.parent_ref!r} for {row.ref_id!r}")
        seen, ref = {row.ref_id}, row.parent_ref
        while ref:
            if ref in seen:
                raise CatalogError(path, row.line, f"parent_ref_id of {row.ref_id!r} makes a cycle")
            seen.add(ref)
            ref = parents[ref]


def _check_lengths(path: Path, line: int | None, model, values: dict[str, Any]) -> None:
    for name, value in values.items():
        limit = getattr(model._meta.get_field(name), "max_length", None)
        if limit and isinstance(value, str) and len(value) > limit:
            raise CatalogError(path, line, f"{name} is longer than {limit} characters")


def _read_all_mappings(folder: Path) -> list[_MappingRow]:
    if not folder.is_dir():
        return []
    relationships = set(MappingRelationship.values)
    rows: list[_MappingRow] = []
    seen: dict[tuple, _MappingRow] = {}
    for path in sorted(folder.glob("*.csv")):
        for line, cells in _csv_rows(path, MAPPING_COLUMNS):
            source = (cells["source_framework"], cells["source_version"], cells["source_ref"])
            target = (cells["target_framework"], cells["target_version"], cells["target_ref"])
            if not all(source) or not all(target):
                raise CatalogError(path, line, "framework, version and ref are required for both ends")
            if source == target:
                raise CatalogError(path, line, f"{_label(source)} is mapped to itself")
            if cells["relationship"] not in relationships:
                raise CatalogError(
                    path,
                    line,
                    f"unknown relationship {cells['relationship']!r}; "
                    f"expected one of {sorted(relationships)}",
                )
            if not cells["provenance"]:
                raise CatalogError(path, line, "provenance is empty")
            values = {name: cells[name] for name in MAPPING_FIELDS}
            _check_lengths(path, line, RequirementMapping, values)
            row = _MappingRow(path=path, line=line, source=source, target=target, values=values)
            if (source, target) in seen:
                first = seen[(source, target)]
                raise CatalogError(
                    path,
                    line,
                    f"duplicate mapping {_label(source)} -> {_label(target)} "
                    f"(first in {first.path.name} line {first.line})",
                )
            seen[(source, target)] = row
            rows.append(row)
    return rows


# --- writing ----------------------------------------------------------------------------------


def _changed_fields(obj, values: dict[str, Any]) -> list[str]:
    changed = [name for name, value in values.items() if getattr(obj, name) != value]
    for name in changed:
        setattr(obj, name, values[name])
    return changed


def _load_framework(catalog: _Catalog) -> dict[str, Any]:
    meta = catalog.meta
    values = {key: meta[key] for key in meta if key not in ("code", "version")}
    values["loaded_from"] = _display_path(catalog.folder)
    framework = Framework.objects.filter(code=meta["code"], version=meta["version"]).first()
    if framework is None:
        framework = Framework.objects.create(code=meta["code"], version=meta["version"], **values)
        framework_status, existing = "created", {}
    else:
        changed = _changed_fields(framework, values)
        if changed:
            framework.save(update_fields=[*changed, "updated_at"])
        framework_status = "updated" if changed else "unchanged"
        existing = {r.ref_id: r for r in Requirement.objects.filter(framework=framework)}

    tally = _Tally()
    ids = {ref: r.pk for ref, r in existing.items()}
    # Pass 1: create missing rows, parents before children, so each INSERT carries its parent.
    by_ref = {row.ref_id: row for row in catalog.rows}
    new_rows = [row for row in catalog.rows if row.ref_id not in existing]
    for level in _levels(new_rows, by_ref):
        objs = [
            Requirement(
                framework=framework,
                ref_id=row.ref_id,
                parent_id=ids[row.parent_ref] if row.parent_ref else None,
                **row.values,
            )
            for row in level
        ]
        for obj in Requirement.objects.bulk_create(objs, batch_size=BATCH_SIZE):
            ids[obj.ref_id] = obj.pk
        tally.created += len(objs)
    # Pass 2: every row now exists; compare the rest (parents included) and write differences only.
    to_update, fields = [], set()
    for row in catalog.rows:
        obj = existing.get(row.ref_id)
        if obj is None:
            continue
        values = {**row.values, "parent_id": ids[row.parent_ref] if row.parent_ref else None}
        changed = _changed_fields(obj, values)
        if changed:
            to_update.append(obj)
            fields.update(changed)
        else:
            tally.unchanged += 1
    if to_update:
        Requirement.objects.bulk_update(to_update, sorted(fields), batch_size=BATCH_SIZE)
        tally.updated = len(to_update)

    return tally.as_dict(
        name=framework.short_name,
        framework=framework_status,
        rows=len(catalog.rows),
        kinds=_kind_counts(catalog.rows),
        not_in_file=len(set(existing) - set(by_ref)),
    )


def _kind_counts(rows: list[_RequirementRow]) -> dict[str, int]:
    counts = Counter(row.values["kind"] for row in rows)
    return {kind: counts[kind] for kind in RequirementKind.values if counts[kind]}


def _levels(rows: list[_RequirementRow], by_ref: dict[str, _RequirementRow]) -> list[list[_RequirementRow]]:
    """Group rows by depth in the file's tree (roots first)."""

    def depth(row: _RequirementRow) -> int:
        level = 0
        while row.parent_ref:
            row, level = by_ref[row.parent_ref], level + 1
        return level

    levels: dict[int, list[_RequirementRow]] = {}
    for row in rows:
        levels.setdefault(depth(row), []).append(row)
    return [levels[d] for d in sorted(levels)]


def _load_mappings(rows: list[_MappingRow]) -> dict[str, Any]:
    if not rows:
        return {}
    wanted = {end[:2] for row in rows for end in (row.source, row.target)}
    condition = Q()
    for code, version in wanted:
        condition |= Q(code=code, version=version)
    frameworks = {(f.code, f.version): f.pk for f in Framework.objects.filter(condition)}
    requirement_ids = {
        (framework_id, ref_id): pk
        for pk, framework_id, ref_id in Requirement.objects.filter(
            framework_id__in=frameworks.values()
        ).values_list("pk", "framework_id", "ref_id")
    }

    def resolve(row: _MappingRow, end: tuple[str, str, str], side: str) -> int:
        framework_id = frameworks.get(end[:2])
        if framework_id is None:
            raise CatalogError(row.path, row.line, f"unknown {side} framework {end[0]!r} version {end[1]!r}")
        pk = requirement_ids.get((framework_id, end[2]))
        if pk is None:
            raise CatalogError(row.path, row.line, f"unknown {side} requirement {_label(end)}")
        return pk

    resolved = [(row, resolve(row, row.source, "source"), resolve(row, row.target, "target")) for row in rows]
    existing = {
        (m.source_id, m.target_id): m
        for m in RequirementMapping.objects.filter(source__framework_id__in=frameworks.values())
    }

    tallies: dict[str, _Tally] = {}
    kept: Counter[str] = Counter()
    to_create, to_update, fields = [], [], set()
    for row, source_id, target_id in resolved:
        tally = tallies.setdefault(row.path.name, _Tally())
        obj = existing.get((source_id, target_id))
        if obj is None:
            reverse = existing.get((target_id, source_id))
            if reverse is not None and _officers(reverse):
                # An officer recorded this pair the other way round; a second row would duplicate it.
                kept[row.path.name] += 1
                continue
            to_create.append(
                RequirementMapping(
                    source_id=source_id,
                    target_id=target_id,
                    origin=RequirementMapping.Origin.CATALOG,
                    **row.values,
                )
            )
            tally.created += 1
            continue
        if _officers(obj):
            # Never overwrite an officer's mapping; count it as kept only where the file differs.
            if any(getattr(obj, name) != value for name, value in row.values.items()):
                kept[row.path.name] += 1
            else:
                tally.unchanged += 1
            continue
        changed = _changed_fields(obj, row.values)
        if changed:
            to_update.append(obj)
            fields.update(changed)
            tally.updated += 1
        else:
            tally.unchanged += 1
    if to_create:
        RequirementMapping.objects.bulk_create(to_create, batch_size=BATCH_SIZE)
    if to_update:
        RequirementMapping.objects.bulk_update(to_update, sorted(fields), batch_size=BATCH_SIZE)
    counts = Counter(row.path.name for row in rows)
    return {name: tally.as_dict(rows=counts[name], kept=kept[name]) for name, tally in tallies.items()}


def _officers(mapping: RequirementMapping) -> bool:
    """Whether an officer made or changed this mapping, so the loader must leave it as it is."""
    return mapping.origin != RequirementMapping.Origin.CATALOG or mapping.modified_locally


def _label(end: tuple[str, str, str]) -> str:
    return f"{end[0]} {end[1]} {end[2]!r}"


def _display_path(path: Path) -> str:
    path = Path(path).resolve()
    try:
        return path.relative_to(Path(settings.BASE_DIR).resolve()).as_posix()
    except ValueError:
        return str(path)
