"""A real Rasa server for tests and benchmarks: bots/ trained and served by scripts/rasa.sh.

Training goes through the script, so an unchanged project reuses its cached model, and
the server is the script's `serve` (`rasa run --enable-api`) on a free port of 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "rasa.sh"
BASH = shutil.which("bash") or "/bin/bash"
HELDOUT = ROOT / "tests" / "nlu" / "heldout.yml"
START_WITHIN = 180.0  # seconds; about 10 on an idle machine, CI shares two cores

# Loopback only: an inherited proxy variable must not catch these requests.
_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class RasaError(Exception):
    """Rasa's environment, training or server did not work; the message says what it said."""


def train(env: dict[str, str] | None = None) -> tuple[Path, float]:
    """Train bots/ (or reuse the model of an unchanged project): its path and the seconds taken."""
    started = time.monotonic()
    model = _script("train", env)
    return model, time.monotonic() - started


def model_path() -> Path:
    """Where bots/'s trained model is cached (whether or not it is trained yet)."""
    return _script("model")


def _script(command: str, env: dict[str, str] | None = None) -> Path:
    done = subprocess.run(  # noqa: S603 (our own script)
        [BASH, str(SCRIPT), command],
        env=os.environ | (env or {}),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RasaError(f"scripts/rasa.sh {command} failed:\n{done.stderr[-3000:]}")
    return Path(done.stdout.split()[-1])


@dataclass
class RasaServer:
    """A running `rasa run --enable-api`; `url` is what OMNIHUB_RASA_URL would be."""

    url: str
    model: Path
    started_in: float  # seconds from launch until /status named the model
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start(log: Path, *, within: float = START_WITHIN) -> RasaServer:
    """Serve bots/'s trained model and return once /status says the model is loaded."""
    model, _ = train()
    port = _free_port()
    env = os.environ | {"OMNIHUB_RASA_HOST": "127.0.0.1", "OMNIHUB_RASA_PORT": str(port)}
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 (our own script)
            [BASH, str(SCRIPT), "serve"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    server = RasaServer(url, model, 0.0, process, log)
    deadline = started + within
    while _loaded_model(url) != model.name:
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RasaError(f"Rasa did not start within {within:.0f} s:\n{_tail(log)}")
        time.sleep(0.1)  # polling a server that cannot announce itself
    server.started_in = time.monotonic() - started
    return server


def _loaded_model(url: str) -> str | None:
    try:
        with _LOCAL.open(f"{url}/status", timeout=2) as response:
            status: dict[str, object] = json.load(response)
    except (OSError, ValueError):  # not listening yet, or answering 409 until loaded
        return None
    return str(status.get("model_file") or "") or None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _tail(log: Path) -> str:
    with log.open("rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - 3000))
        return f.read().decode(errors="replace")
