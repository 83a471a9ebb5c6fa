"""How long `omnihub serve` takes from process start to answering /healthz and /readyz.

Usage: python benchmarks/startup.py [--runs N] [--database-url URL]
The database is migrated first (not timed); each run starts a fresh process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from crm import migrate
from crm.db import Database


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (loopback)
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError):
        return False


def _one_run(database_url: str, deadline: float = 60.0) -> tuple[float, float]:
    port = _free_port()
    env = os.environ | {"OMNIHUB_DATABASE_URL": database_url, "OMNIHUB_PORT": str(port)}
    omnihub = Path(sys.executable).with_name("omnihub")
    start = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603
        [str(omnihub), "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        healthy = ready = 0.0
        while time.perf_counter() - start < deadline:
            if not healthy and _answers(f"http://127.0.0.1:{port}/healthz"):
                healthy = time.perf_counter() - start
            if healthy and _answers(f"http://127.0.0.1:{port}/readyz"):
                ready = time.perf_counter() - start
                return healthy, ready
            time.sleep(0.01)
        raise SystemExit(f"the hub did not answer within {deadline} s")
    finally:
        process.terminate()
        process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/omnihub.db"

        async def prepare() -> None:
            db = Database(url)
            await migrate.upgrade(db)
            await db.dispose()

        asyncio.run(prepare())
        runs = [_one_run(url) for _ in range(args.runs)]
    healthy = [h for h, _ in runs]
    ready = [r for _, r in runs]
    print(f"database: {url.split('://')[0]}  runs: {args.runs}")
    print(f"start to /healthz: median {statistics.median(healthy):.2f} s, max {max(healthy):.2f} s")
    print(f"start to /readyz:  median {statistics.median(ready):.2f} s, max {max(ready):.2f} s")


if __name__ == "__main__":
    main()
