"""Load for bench/incidents.py: the raw INSERT rate, the incident requests driven by
``loadgen.run_phase`` and the removal of the rows a run created.

A module of the bench, imported by bench/incidents.py (bench/ is the script's directory on the path).
It is named ``incident_load``, not ``incidents_*``, and must never ``import incidents``: that name is
the Django app's.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import loadgen
from loadgen import _Conn
from rawinsert import single_row_insert_rate

API = "/api/v1/incidents/"
SEARCH_WORD = "injection"  # in one seeded title in twelve


# --------------------------------------------------------------------------------------------
# Raw INSERT rate
# --------------------------------------------------------------------------------------------

RAW_INSERT = """
INSERT INTO incidents_incident (
    reference, title, description, occurred_at, detected_at, became_aware_at, source, external_id,
    severity, status, harm_types, harm_level, mit_domain, mit_subdomain, affected_parties, sector,
    is_serious, serious_grounds, widespread_infringement, report_due_rule, authority_reference,
    respond_by, resolve_by, created_at, updated_at, reporter_id, system_id, team_id
) VALUES (
    %s, %s, 'Raw insert rate.', %s, %s, %s, 'api', %s, 'SEV3', 'reported', '{}', '', '', '', '{}', '',
    false, '{}', false, '', '', %s, %s, %s, %s, %s, %s, %s
)
"""


def measure_raw_inserts(db_url: str, run_id: str, setup: dict, seconds: float) -> dict:
    prefix = f"bench-{run_id}-raw-"
    system_id, team_id, _ = setup["systems"][0]

    def params_for(n: int, now: datetime) -> list:
        return [
            f"RAW-{run_id}-{n}",
            f"Raw insert {n}",
            now - timedelta(hours=1),
            now,
            now,
            f"{prefix}{n}",
            now + timedelta(hours=24),
            now + timedelta(days=14),
            now,
            now,
            setup["user_id"],
            system_id,
            team_id,
        ]

    return single_row_insert_rate(
        db_url,
        table="incidents_incident",
        insert_sql=RAW_INSERT,
        params_for=params_for,
        cleanup_sql="DELETE FROM incidents_incident WHERE reference LIKE %s",
        cleanup_params=[f"RAW-{run_id}-%"],
        seconds=seconds,
        reason="incidents raw insert",
    )


# --------------------------------------------------------------------------------------------
# Load: the incident requests, driven by loadgen.run_phase
# --------------------------------------------------------------------------------------------

SEVERITY_WEIGHTS = (("SEV1", 1), ("SEV2", 4), ("SEV3", 9), ("SEV4", 6))


def _request(
    method: str, path: str, port: int, token: str, body: bytes | None = None, key: str = ""
) -> bytes:
    head = [
        f"{method} {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        f"Authorization: Bearer {token}",
        "Accept: application/json",
    ]
    if key:
        head.append(f"Idempotency-Key: {key}")
    if body is not None:
        head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + (body or b"")


async def incident_client_loop(kind: str, cfg: dict, worker_no: int, deadline: float, out: dict) -> None:
    """One connection's requests for a phase; same bookkeeping as ``loadgen``'s own loop."""
    port, token, systems, refs = cfg["port"], cfg["token"], cfg["system_slugs"], cfg["refs"]
    conn = _Conn("127.0.0.1", port)
    rng = random.Random(f"{cfg['run_id']}-{kind}-{cfg['proc']}-{worker_no}")
    severities = [s for s, w in SEVERITY_WEIGHTS for _ in range(w)]
    seq = 0
    while time.perf_counter() < deadline:
        if kind == "detail":
            raw = _request("GET", f"{API}{rng.choice(refs)}/", port, token)
        elif kind == "list":
            path = f"{API}?system={rng.choice(systems)}&severity=SEV2&status=investigating"
            raw = _request("GET", path, port, token)
        elif kind == "search":
            raw = _request("GET", f"{API}?system={rng.choice(systems)}&q={quote(SEARCH_WORD)}", port, token)
        else:
            unique = f"bench-{cfg['run_id']}-c{cfg['proc']}w{worker_no}n{seq}"
            seq += 1
            occurred = datetime.now(UTC) - timedelta(minutes=rng.randrange(5, 600))
            body = json.dumps(
                {
                    "system": rng.choice(systems),
                    "title": f"Unsafe answer reported by monitoring {unique}",
                    "description": "Created by bench/incidents.py to measure intake throughput.",
                    "severity": rng.choice(severities),
                    "occurred_at": occurred.isoformat(),
                    "external_id": unique,
                    "harm_types": ["reputational"],
                }
            ).encode()
            raw = _request("POST", API, port, token, body, key=f"{unique}-key")
        t0 = time.perf_counter()
        try:
            status, body = await conn.request(raw)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            await conn.close()
            out["errors"][type(exc).__name__] = out["errors"].get(type(exc).__name__, 0) + 1
            continue
        elapsed = time.perf_counter() - t0
        if status == (201 if kind == "create" else 200):
            out["latencies"].append(elapsed)
        else:
            key = f"HTTP {status}"
            out["errors"][key] = out["errors"].get(key, 0) + 1
            if len(out["samples"]) < 3:
                out["samples"].append(body[:300].decode("utf-8", "replace"))
    await conn.close()


# run_phase forks client processes that run ``loadgen._client_loop``; point it at the incident
# requests (the bookkeeping, timing and CPU accounting stay loadgen's).
loadgen._client_loop = incident_client_loop


def cleanup_rows(db_url: str, run_id: str, token_id: int) -> int:
    import psycopg

    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "SELECT set_config('verity.change_context', %s, false)",
            [json.dumps({"source": "bench", "reason": "incidents bench cleanup"})],
        )
        removed = conn.execute(
            "DELETE FROM incidents_incident WHERE source = 'api' AND external_id LIKE %s",
            [f"bench-{run_id}-%"],
        ).rowcount
        conn.execute("DELETE FROM governance_idempotencyrecord WHERE client = %s", [f"token:{token_id}"])
    return removed
