"""The embedded NLU engine: training time, held-out accuracy per language, parse latency.

Usage: python benchmarks/nlu.py [--file tests/nlu/heldout.yml] [--rounds 10]
Parses every held-out message `rounds` times, one at a time, as the hub does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from pathlib import Path

from bots.nlu.embedded import EmbeddedNlu
from bots.nlu.evaluation import evaluate
from bots.nlu.training import load_bundled, load_file

ROOT = Path(__file__).resolve().parent.parent


def _percentile(sorted_values: list[float], share: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * share))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=ROOT / "tests" / "nlu" / "heldout.yml")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--trainings", type=int, default=5)
    args = parser.parse_args()

    data = load_bundled()
    trainings = []
    training_cpu = []
    for _ in range(args.trainings):
        started, started_cpu = time.perf_counter(), time.process_time()
        engine = EmbeddedNlu(data)
        trainings.append(time.perf_counter() - started)
        training_cpu.append(time.process_time() - started_cpu)
    print(
        f"training: {len(data.examples)} examples, {len(data.intents)} intents; "
        f"median {statistics.median(trainings) * 1000:.0f} ms, "
        f"min {min(trainings) * 1000:.0f} ms over {args.trainings} runs "
        f"(CPU time median {statistics.median(training_cpu) * 1000:.0f} ms; files read once)"
    )

    examples = load_file(args.file).examples
    report = asyncio.run(evaluate(engine, examples))
    for language, (accuracy, count) in report.by_language.items():
        print(f"held-out accuracy {language}: {accuracy:.3f} ({count} examples)")
    print(f"held-out accuracy: {report.accuracy:.3f} ({report.examples} examples)")

    latencies = []
    cpu = []  # the thread's own CPU time: what the code costs, without other processes
    for _ in range(args.rounds):
        for example in examples:
            started, started_cpu = time.perf_counter(), time.thread_time()
            engine.understand(example.text)
            latencies.append(time.perf_counter() - started)
            cpu.append(time.thread_time() - started_cpu)
    for name, values in (("parse latency", latencies), ("parse CPU time", cpu)):
        values.sort()
        print(
            f"{name} over {len(values)} parses: "
            f"p50 {_percentile(values, 0.50) * 1000:.3f} ms, "
            f"p99 {_percentile(values, 0.99) * 1000:.3f} ms, "
            f"max {values[-1] * 1000:.3f} ms"
        )
    load = os.getloadavg()[0]
    print(f"load average {load:.2f} on {os.cpu_count()} CPUs while measuring")


if __name__ == "__main__":
    main()
