"""One embedded NLU engine, trained once per test session from bots/data."""

from __future__ import annotations

import pytest

from bots.nlu.embedded import EmbeddedNlu


@pytest.fixture(scope="session")
def nlu() -> EmbeddedNlu:
    return EmbeddedNlu.from_files()
