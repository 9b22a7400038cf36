"""API throughput: the same FastAPI app through the Ray Serve ingress and under plain uvicorn.

Prints requests/s and p50/p99 latency for ``GET /api/v1/inventory`` (100 items) and a catalog
search over the full catalogs, at concurrency 1 (latency) and at a higher concurrency
(throughput), for both servers side by side, with the Serve/uvicorn ratio.

    .venv/bin/python benchmarks/api_throughput.py [--seconds 10] [--concurrency 16]

Both servers run one replica/worker on the embedded default (SQLite) with the same data;
they run one after the other so they do not share the CPU. The load generator (aiohttp) runs
in this process, on the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
EMAIL, PASSWORD = "bench@cardvault.example", "benchmark-password-1"


@dataclass
class Result:
    server: str
    endpoint: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare(env: dict[str, str]) -> None:
    """Migrate, import the catalogs and create a user with 100 inventory items."""
    code = f"""
import asyncio
from serve_app.api.state import build_state
from serve_app.db.migrate import upgrade
from serve_app.services.demo import ensure_catalogs, ensure_demo_user
from serve_app.settings import Settings
s = Settings()
upgrade(s.effective_database_url)
async def main():
    state = build_state(s)
    await ensure_catalogs(state.engine, s.resolved_catalog_dir())
    await ensure_demo_user(state.engine, state.vault, items=100, email={EMAIL!r}, password={PASSWORD!r})
    await state.close()
asyncio.run(main())
"""
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=ROOT)


async def wait_ready(url: str, patience_s: float = 120) -> None:
    deadline = time.monotonic() + patience_s
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(f"{url}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)
    raise RuntimeError(f"{url} did not become ready")


async def login(url: str) -> str:
    form = {"username": EMAIL, "password": PASSWORD}
    async with aiohttp.ClientSession() as http, http.post(f"{url}/api/v1/auth/token", data=form) as r:
        r.raise_for_status()
        return str((await r.json())["access_token"])


async def load(
    server: str,
    url: str,
    endpoint: str,
    path: str,
    headers: dict[str, str],
    *,
    concurrency: int,
    seconds: float,
    warmup: float = 2.0,
) -> Result:
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as http:
        stop_warm = time.monotonic() + warmup
        stop = stop_warm + seconds

        async def worker() -> None:
            nonlocal errors
            while (now := time.monotonic()) < stop:
                start = time.perf_counter()
                async with http.get(url + path) as response:
                    await response.read()
                    ok = response.status == 200
                if now >= stop_warm:
                    if ok:
                        latencies.append((time.perf_counter() - start) * 1000)
                    else:
                        errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Result(server, endpoint, concurrency, len(latencies), errors, seconds, latencies)


ENDPOINTS = {
    "inventory list (100 items)": "/api/v1/inventory?page_size=100",
    "catalog search 'charzard'": "/api/v1/catalog/cards?q=charzard&page_size=20",
}


async def measure(server: str, url: str, args: argparse.Namespace) -> list[Result]:
    await wait_ready(url)
    headers = {"Authorization": f"Bearer {await login(url)}"}
    results = []
    for name, path in ENDPOINTS.items():
        for concurrency in (1, args.concurrency):
            results.append(await load(server, url, name, path, headers, concurrency=concurrency, seconds=args.seconds))
    return results


def start(cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cardvault-bench-"))
    env = {
        **os.environ,
        "CARDVAULT_DATA_DIR": str(tmp),
        "RAY_USAGE_STATS_ENABLED": "0",
        "CARDVAULT_MASTER_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "CARDVAULT_LOG_LEVEL": "WARNING",
        "CARDVAULT_DEMO_DATA": "false",
        "CARDVAULT_RATE_LIMIT_IP_CAPACITY": "1000000000",
        "CARDVAULT_RATE_LIMIT_USER_CAPACITY": "1000000000",
        "CARDVAULT_RATE_LIMIT_IP_REFILL_PER_S": "1000000",
        "CARDVAULT_RATE_LIMIT_USER_REFILL_PER_S": "1000000",
    }
    print("preparing data (full catalogs, 100 inventory items) ...", flush=True)
    prepare(env)
    results: list[Result] = []
    port = free_port()
    uvicorn = start(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "serve_app.api.factory:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env,
    )
    try:
        print("measuring uvicorn ...", flush=True)
        results += asyncio.run(measure("uvicorn", f"http://127.0.0.1:{port}", args))
    finally:
        stop(uvicorn)
    port = free_port()
    serve = start(
        [
            sys.executable,
            "-m",
            "serve_app.cli",
            "serve",
            "--port",
            str(port),
            "--no-demo",
            "--max-replicas",
            "1",
            "--no-scans",
        ],
        env,
    )
    try:
        print("measuring Ray Serve ...", flush=True)
        results += asyncio.run(measure("serve", f"http://127.0.0.1:{port}", args))
    finally:
        stop(serve)
    report(results)


def report(results: list[Result]) -> None:
    by_key = {(r.server, r.endpoint, r.concurrency): r for r in results}
    print()
    print(
        f"{'endpoint':<28} {'conc':>4} | {'uvicorn rps':>11} {'p50 ms':>7} {'p99 ms':>7} | "
        f"{'serve rps':>9} {'p50 ms':>7} {'p99 ms':>7} | {'serve/uvicorn':>13} | errors"
    )
    print("-" * 118)
    for (server, endpoint, concurrency), u in by_key.items():
        if server != "uvicorn":
            continue
        s = by_key[("serve", endpoint, concurrency)]
        print(
            f"{endpoint:<28} {concurrency:>4} | {u.rps:>11.1f} {u.pct(0.5):>7.1f} {u.pct(0.99):>7.1f} | "
            f"{s.rps:>9.1f} {s.pct(0.5):>7.1f} {s.pct(0.99):>7.1f} | {s.rps / u.rps:>12.0%} | "
            f"{u.errors}/{s.errors}"
        )
    print(
        f"\nmachine: {os.cpu_count()} CPUs; mean of latencies is not shown, p50/p99 are per request "
        f"(median of {statistics.median([len(r.latencies_ms) for r in results]):.0f} requests per cell)"
    )


if __name__ == "__main__":
    main()
