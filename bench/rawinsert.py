"""The bare single-row INSERT rate that the API's write throughput is compared with."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

from loadgen import percentiles
from server import local_database, proc_cpu, vacuum


def single_row_insert_rate(
    db_url: str,
    *,
    table: str,
    insert_sql: str,
    params_for: Callable[[int, datetime], list],
    cleanup_sql: str,
    cleanup_params: list,
    seconds: float,
    reason: str,
) -> dict:
    """Insert one row per statement on one autocommit psycopg connection for ``seconds``.

    The change-history trigger fires for every row, as it does for API writes; the rows are
    deleted afterwards and the table vacuumed. Returns the rate, latencies and PostgreSQL CPU.
    """
    import psycopg

    with psycopg.connect(db_url, autocommit=True) as conn:
        # Once per session, like the app's context stamp: the trigger files these rows under "bench".
        conn.execute(
            "SELECT set_config('verity.change_context', %s, false)",
            [json.dumps({"source": "bench", "reason": reason})],
        )
        backend_pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        if not local_database(db_url):
            backend_pid = -1  # a remote server's processes are not ours to read: report 0
        backend_cpu = proc_cpu(backend_pid)
        cur = conn.cursor()
        n = 0
        latencies = []
        started = time.perf_counter()
        deadline = started + seconds
        while True:
            t0 = time.perf_counter()
            if t0 >= deadline:
                break
            cur.execute(insert_sql, params_for(n, datetime.now(UTC)))
            latencies.append(time.perf_counter() - t0)
            n += 1
        elapsed = time.perf_counter() - started
        backend_cpu = proc_cpu(backend_pid) - backend_cpu
        conn.execute(cleanup_sql, cleanup_params)
    vacuum(db_url, (table,))
    return {
        "rows": n,
        "seconds": elapsed,
        "rate": n / elapsed,
        "db_cpu": backend_cpu / elapsed,
        **percentiles(latencies),
    }
