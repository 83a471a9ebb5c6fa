"""A real Rasa server for the whole session, trained on bots/ (tests marked `rasa`).

Any test in tests/rasa takes `rasa_server` and gets one `rasa run --enable-api` serving
bots/'s model on 127.0.0.1, started once per session (training is cached by
scripts/rasa.sh); point the hub at it with `Settings(OMNIHUB_RASA_URL=rasa_server.url)`
or `RasaEngine(rasa_server.url, ...)`. Such tests are marked `rasa` automatically and
skip unless OMNIHUB_TEST_RASA is set, because they need Rasa's own environment
(`bash scripts/rasa.sh env`, minutes and 2.7 GB the first time). CI sets it:

    bash scripts/rasa.sh env && OMNIHUB_TEST_RASA=1 make test PYTEST_ARGS="-m rasa"
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from tests.rasa.server import RasaServer, start

REPORT = pytest.StashKey[list[str]]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "rasa_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.rasa)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    lines = config.stash.get(REPORT, [])
    if lines:
        terminalreporter.section("Rasa")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def rasa_server(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[RasaServer]:
    if not os.environ.get("OMNIHUB_TEST_RASA"):
        pytest.skip(
            "real-Rasa tests need OMNIHUB_TEST_RASA=1 and Rasa's environment "
            "(bash scripts/rasa.sh env); CI sets both"
        )
    server = start(tmp_path_factory.mktemp("rasa") / "rasa.log")
    pytestconfig.stash.setdefault(REPORT, []).append(
        f"server started in {server.started_in:.1f} s ({server.model.name})"
    )
    yield server
    server.stop()


@pytest.fixture
def rasa_report(pytestconfig: pytest.Config) -> Callable[[str], None]:
    """Adds a line to the "Rasa" section printed at the end of the run."""
    return pytestconfig.stash.setdefault(REPORT, []).append
