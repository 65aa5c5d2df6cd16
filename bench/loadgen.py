"""HTTP load generator: client processes running asyncio over raw sockets, HTTP/1.1.

gunicorn's sync workers close the connection after each response, so a client reconnects when
told to (loopback; cheap).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import random
import statistics
import time
from urllib.parse import urlsplit

from server import busy, cpu_snapshot, db_cpu

SEED_PREFIX = "bench-seed-"
API = "/api/v1/ai-systems/"
LIST_PAGE_SIZE = 50
LIST_CURSORS_FOLLOWED = 3  # pages 2..4 after each first page


def seed_slug(i: int) -> str:
    return f"{SEED_PREFIX}{i:06d}"


class _Conn:
    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
        self.reader = self.writer = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, close, chunked = None, False, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection":
                close = value.strip().lower() == b"close"
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
        if length is not None:
            body = await self.reader.readexactly(length)
        elif chunked:
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                parts.append(await self.reader.readexactly(size + 2))
                if size == 0:
                    break
            body = b"".join(p[:-2] for p in parts)
        else:
            body, close = await self.reader.read(), True
        if close:
            await self.close()
        return status, body


def _request_bytes(method: str, path: str, port: int, token: str, body: bytes | None = None) -> bytes:
    head = [
        f"{method} {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        f"Authorization: Bearer {token}",
        "Accept: application/json",
    ]
    if body is not None:
        head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + (body or b"")


async def _client_loop(kind: str, cfg: dict, worker_no: int, deadline: float, out: dict) -> None:
    port, token, n_systems = cfg["port"], cfg["token"], cfg["systems"]
    conn = _Conn("127.0.0.1", port)
    rng = random.Random(f"{cfg['run_id']}-{kind}-{cfg['proc']}-{worker_no}")
    first_page = f"{API}?page_size={LIST_PAGE_SIZE}"
    next_path, followed, seq = first_page, 0, 0
    while time.perf_counter() < deadline:
        if kind == "list":
            raw = _request_bytes("GET", next_path, port, token)
        elif kind == "detail":
            raw = _request_bytes("GET", f"{API}{seed_slug(rng.randrange(n_systems))}/", port, token)
        else:
            slug = f"bench-{cfg['run_id']}-c{cfg['proc']}w{worker_no}n{seq}"
            seq += 1
            body = json.dumps(
                {
                    "slug": slug,
                    "name": f"Bench created {slug}",
                    "purpose": "Created by bench/api_throughput.py.",
                    "owning_team": cfg["teams"][seq % len(cfg["teams"])],
                    "operator_role": "deployer",
                    "risk_tier": "low",
                    "autonomy_level": "assistive",
                    "human_oversight": "in_the_loop",
                }
            ).encode()
            raw = _request_bytes("POST", API, port, token, body)
        t0 = time.perf_counter()
        try:
            status, body = await conn.request(raw)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            await conn.close()
            out["errors"][type(exc).__name__] = out["errors"].get(type(exc).__name__, 0) + 1
            continue
        elapsed = time.perf_counter() - t0
        ok = status == (201 if kind == "create" else 200)
        if ok:
            out["latencies"].append(elapsed)
        else:
            key = f"HTTP {status}"
            out["errors"][key] = out["errors"].get(key, 0) + 1
            if len(out["samples"]) < 3:
                out["samples"].append(body[:300].decode("utf-8", "replace"))
        if kind == "list":
            nxt = json.loads(body).get("next") if ok else None
            if nxt and followed < LIST_CURSORS_FOLLOWED:
                parts = urlsplit(nxt)
                next_path, followed = f"{parts.path}?{parts.query}", followed + 1
            else:
                next_path, followed = first_page, 0
    await conn.close()


async def _client_main(kind: str, cfg: dict, connections: int, seconds: float) -> dict:
    out = {"latencies": [], "errors": {}, "samples": []}
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(_client_loop(kind, cfg, w, deadline, out) for w in range(connections)))
    out["elapsed"] = time.perf_counter() - started
    return out


def _client_process(kind: str, cfg: dict, connections: int, seconds: float, start_at: float, queue) -> None:
    # Start all client processes on the same wall-clock instant.
    time.sleep(max(0.0, start_at - time.time()))
    cpu0 = time.process_time()
    out = asyncio.run(_client_main(kind, cfg, connections, seconds))
    out["cpu"] = time.process_time() - cpu0
    queue.put(out)


def run_phase(kind: str, cfg: dict, concurrency: int, procs: int, seconds: float) -> dict:
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    start_at = time.time() + 0.3
    shares = [concurrency // procs + (1 if p < concurrency % procs else 0) for p in range(procs)]
    workers = [
        ctx.Process(
            target=_client_process,
            args=(kind, {**cfg, "proc": p}, shares[p], seconds, start_at, queue),
            daemon=True,
        )
        for p in range(procs)
        if shares[p]
    ]
    cpu_before = cpu_snapshot(cfg["gunicorn_pid"], cfg["db_url"])
    for w in workers:
        w.start()
    results = [queue.get(timeout=seconds + 120) for _ in workers]
    for w in workers:
        w.join(timeout=10)
    cpu_after = cpu_snapshot(cfg["gunicorn_pid"], cfg["db_url"])
    latencies = [x for r in results for x in r["latencies"]]
    errors: dict[str, int] = {}
    for r in results:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    elapsed = max(r["elapsed"] for r in results)
    wall = cpu_after["wall"] - cpu_before["wall"]
    return {
        "kind": kind,
        "ok": len(latencies),
        "rps": len(latencies) / elapsed,
        "elapsed": elapsed,
        "errors": errors,
        "samples": [s for r in results for s in r["samples"]][:3],
        "client_cpu": sum(r["cpu"] for r in results) / elapsed,  # in cores
        "server_cpu": (cpu_after["gunicorn"] - cpu_before["gunicorn"]) / wall,
        "db_cpu": db_cpu(cpu_before, cpu_after) / wall,
        "machine_busy": busy(cpu_before, cpu_after),
        "cores": os.cpu_count() or 1,
        **percentiles(latencies),
    }


def percentiles(latencies: list[float]) -> dict:
    if not latencies:
        return {"p50_ms": float("nan"), "p95_ms": float("nan")}
    if len(latencies) == 1:
        return {"p50_ms": latencies[0] * 1000, "p95_ms": latencies[0] * 1000}
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"p50_ms": cuts[49] * 1000, "p95_ms": cuts[94] * 1000}
