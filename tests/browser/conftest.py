"""Pages for the web chat's browser tests (Chromium itself comes from tests/chromium.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Error, Page


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the pages' behaviour does not depend on the database


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A fresh profile's page; an uncaught script error on it fails the test."""
    context: BrowserContext = await browser.new_context(
        locale="en-GB", viewport={"width": 1100, "height": 720}
    )
    page = await context.new_page()
    errors: list[Error] = []
    page.on("pageerror", lambda error: errors.append(error))
    yield page
    await context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"


@pytest.fixture
def artefacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go (a temporary directory; its path is printed on failure)."""
    return tmp_path_factory.mktemp("browser-artefacts")
