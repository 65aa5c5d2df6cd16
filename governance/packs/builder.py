"""Writing an evidence pack: the registered sections, then README.txt, verify.py, report.html (and
report.pdf where WeasyPrint works, see ``report``) and manifest.json (the list of every other file
with its size and SHA-256)."""

from __future__ import annotations

import dataclasses
import datetime
import json
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import BinaryIO

from django.db import connection, transaction
from django.utils import timezone

from governance.packs import PackScope, audit_log, registered_sections, report, sections
from governance.packs.writer import PackWriter

VERIFY_SOURCE = Path(__file__).with_name("verify_script.py")

README = """Verity evidence pack
====================

Generated {generated_at} by Verity {version} for {requested_by}.
Frameworks: {frameworks}. Team: {team}. Systems: {systems}. Period: {start} to {end}.

What is inside
--------------
manifest.json                 every other file with its path, size and SHA-256; the parameters of the
                              pack, the generator version and the head of the audit chain
verify.py                     re-checks the pack (Python 3, standard library only)
audit_log.jsonl               the audit chain's events of the period, one per line with its link
                              (seq, event_hash, chain_hash); manifest.json gives the hash it continues
                              from (absent when this installation keeps no audit chain). A reader
                              who does not see the whole register gets only the link of an event
                              outside their scope ("withheld": true), which still chains
report.html                   a readable summary with tables and charts: framework coverage, systems
                              by risk tier and EU AI Act class, reviews, transparency scores, incidents
                              and evaluation results, the audit chain head and segment, the files
report.pdf                    the summary as PDF, without the segment and the files (where the
                              server can render PDFs)
systems.csv                   the AI systems in scope
controls.csv                  the control library
control_implementations.csv   how each control is implemented, organisation-wide and per system
risks.csv                     the risks of the systems in scope
reviews.csv                   the reviews due in the period
transparency_assessments.csv  transparency assessments made in the period
soa/                          the Statement of Applicability per framework (CSV and JSON)
coverage/                     the coverage of each framework's requirements (CSV and JSON)
evidence.csv, evidence/       the evidence index and its files, named <id>-<name>
Other files come from other parts of Verity (incidents, findings, evaluation runs).

Everything was read in one consistent snapshot of the register. Times are UTC.

Spreadsheet safety: a cell starting with =, +, -, @, a tab, a carriage return or NUL is prefixed with
a single quote so that no spreadsheet reads it as a formula.

How to verify
-------------
Extract the ZIP, then in its folder run:  python3 verify.py
It prints OK, or names each file that was changed, is missing or was added, and exits with 1.
"""


def generator_version() -> str:
    try:
        return metadata.version("verity")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


def verify_source(canonical: str | None) -> str:
    """``verify.py``: the checker, preceded by the audit chain's canonical form when there is one."""
    checker = VERIFY_SOURCE.read_text(encoding="utf-8")
    if canonical is None:
        return checker
    body = checker.split("\n", 1)[1]  # the shebang goes first
    return f"#!/usr/bin/env python3\n{canonical}\n\n# --- The pack checker ---\n{body}"


def write_pack(scope: PackScope, fileobj: BinaryIO) -> dict:
    """Write the pack for ``scope`` into ``fileobj`` (opened for binary writing); return the manifest.

    Everything is read in one snapshot, so the report's counts, the CSV files and the audit chain
    agree with each other; report.pdf is rendered alongside the writing of the files."""
    sections.register()
    report.register()
    generated_at = timezone.now()
    scope = dataclasses.replace(scope, as_of=scope.as_of or generated_at)
    writer = PackWriter(fileobj)
    try:
        with consistent_snapshot():
            manifest = _write(scope, writer, generated_at)
    finally:
        writer.close()
    return manifest


def _write(scope: PackScope, writer: PackWriter, generated_at: datetime.datetime) -> dict:
    parameters = scope.parameters()
    version = generator_version()
    chain = {"head": audit_log.head(), "segment": None}
    summary = report.summary_html(scope, parameters, chain["head"], generated_at)
    pdf = report.BackgroundPdf(report.pdf_document(summary))
    for _name, builder in registered_sections().items():
        for path, content in builder(scope):
            if path.endswith(".csv"):
                writer.add_rows(path, content)
            else:
                writer.add(path, content)
    text = README.format(
        generated_at=generated_at.isoformat(),
        version=version,
        requested_by=parameters["requested_by"],
        frameworks=", ".join(parameters["frameworks"]) or "none",
        team=parameters["team"] or "all visible",
        systems=", ".join(parameters["systems"]) or "all visible",
        start=parameters["start"] or "the beginning",
        end=parameters["end"] or "now",
    )
    writer.add("README.txt", [text.encode("utf-8")])
    canonical = audit_log.canonical_source()
    if canonical is not None and audit_log.chain_module() is not None:
        segment: dict = {}
        writer.add(audit_log.MEMBER, audit_log.segment_lines(scope, segment))
        chain["segment"] = {"path": audit_log.MEMBER, **segment}
    writer.add("verify.py", [verify_source(canonical).encode("utf-8")])
    writer.add("report.html", [report.render_html(summary, chain, writer).encode("utf-8")])
    if (rendered := pdf.result()) is not None:
        writer.add("report.pdf", [rendered])
    manifest = {
        "format": "verity-evidence-pack/1",
        "generator": {"name": "verity", "version": version},
        "generated_at": generated_at.isoformat(),
        "parameters": parameters,
        "audit_chain": chain,
        "files": writer.entries,
    }
    writer.add_unlisted("manifest.json", json.dumps(manifest, indent=2, default=str).encode("utf-8"))
    return manifest


@contextmanager
def consistent_snapshot():
    """A read-only REPEATABLE READ transaction around the build, or the caller's transaction when
    there already is one (then its snapshot rules)."""
    if connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            # The pack's statements each read a table once: compiling them costs more than it saves.
            cursor.execute("SET LOCAL jit = off")
        yield
