"""Rasa as the hub's NLU: training time, server start, parse latency and held-out accuracy.

Usage: python benchmarks/rasa_nlu.py [--retrain] [--rounds N]
Needs Rasa's environment (bash scripts/rasa.sh env). --retrain deletes bots/'s cached
model first and trains with an empty Rasa cache, so a training from scratch is timed.
Latency is measured as the hub sees it: RasaEngine.parse over one kept-alive
connection, one message at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: tests.rasa

from bots.nlu.rasa import RasaEngine
from bots.nlu.training import load_file
from crm.models import Language
from dialogue.ports import Understanding
from tests.rasa.server import HELDOUT, model_path, start, train


class _NoFallback:
    async def parse(self, text: str) -> Understanding:
        raise RuntimeError(f"Rasa did not answer {text!r}")


def _no_language(text: str) -> Language | None:
    return None


async def _measure(url: str, rounds: int) -> None:
    examples = load_file(HELDOUT).examples
    right: Counter[Language | None] = Counter()
    total: Counter[Language | None] = Counter()
    latencies = []
    async with RasaEngine(
        url, fallback=_NoFallback(), detect_language=_no_language, timeout=10
    ) as engine:
        await engine.parse("hola")  # opens the connection
        for round_ in range(rounds):
            for example in examples:
                started = time.perf_counter()
                understood = await engine.parse(example.text)
                latencies.append(time.perf_counter() - started)
                if round_ == 0:
                    total[example.language] += 1
                    right[example.language] += understood.intent == example.intent
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    print(f"/model/parse latency: p50 {p50:.1f} ms, p99 {p99:.1f} ms ({len(latencies)} parses)")
    accuracy = ", ".join(
        f"{lang} {right[lang] / total[lang]:.3f}" for lang in sorted(total, key=str)
    )
    overall = sum(right.values()) / sum(total.values())
    print(f"held-out accuracy ({sum(total.values())} examples): {accuracy}, all {overall:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--retrain", action="store_true", help="time a training from scratch")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the held-out file")
    args = parser.parse_args()
    print("load average at start: " + " ".join(f"{load:.1f}" for load in os.getloadavg()))
    with tempfile.TemporaryDirectory() as tmp:
        if args.retrain:
            model_path().unlink(missing_ok=True)
            model, seconds = train({"RASA_CACHE_DIRECTORY": tmp})
        else:
            model, seconds = train()
    size = model.stat().st_size / 1e6
    how = "from scratch" if args.retrain else "cached or trained"
    print(f"rasa train: {seconds:.1f} s ({how})")
    print(f"model: {model} ({size:.1f} MB)")
    with tempfile.TemporaryDirectory() as tmp:
        server = start(Path(tmp) / "rasa.log")
        try:
            print(f"server start until /status lists the model: {server.started_in:.1f} s")
            asyncio.run(_measure(server.url, args.rounds))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
