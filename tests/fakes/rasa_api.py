"""A fake Rasa 3.6 server on 127.0.0.1 that answers `POST /model/parse` as Rasa does.

Rasa's answers were recorded from a real `rasa run --enable-api` (3.6.21): the intent
and its confidence, entities with `start`/`end` in characters, the extractor and the
processors that changed the value (a synonym), the tokens, and a ranking of up to ten
intents. Below the FallbackClassifier's threshold the intent is `nlu_fallback` with the
threshold as confidence, and the real guesses follow in the ranking. Failures look like
Rasa's too (a JSON error body with HTTP 500, as an empty text gets). `GET /status` names
the loaded model.

    async with FakeRasa() as rasa:
        rasa.teach("donde esta ES-100234", "order_status", 0.93,
                   entities=[RasaEntity("order_number", "ES-100234")])
        engine = RasaEngine(rasa.base_url, ...)
        rasa.fail_next(503)     # the next request gets Rasa's error body with 503
        rasa.stall()            # requests hang until the server closes
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from aiohttp import web

FALLBACK_THRESHOLD = 0.3  # bots/config.yml's FallbackClassifier


@dataclass(frozen=True)
class RasaEntity:
    """An entity Rasa should find: `said` is how the text spells it."""

    entity: str
    said: str
    value: str | None = None  # a synonym's canonical value; None: as said
    extractor: str = "RegexEntityExtractor"


@dataclass(frozen=True)
class _Lesson:
    intent: str
    confidence: float
    entities: tuple[RasaEntity, ...]
    runner_up: str


class FakeRasa:
    def __init__(self) -> None:
        self.parsed: list[str] = []  # every text asked, in order
        self._lessons: dict[str, _Lesson] = {}
        self._failures: list[int] = []
        self._stalled = False
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def teach(
        self,
        text: str,
        intent: str,
        confidence: float,
        *,
        entities: list[RasaEntity] | None = None,
        runner_up: str = "greet",
    ) -> None:
        """Answer `text` with this intent; under the threshold, as `nlu_fallback`."""
        self._lessons[text] = _Lesson(intent, confidence, tuple(entities or ()), runner_up)

    def fail_next(self, status: int = 500) -> None:
        self._failures.append(status)

    def stall(self) -> None:
        self._stalled = True

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/model/parse", self._parse)
        app.router.add_get("/status", self._status)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing.set()
        assert self._runner is not None
        await self._runner.cleanup()

    async def _status(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "model_file": "bots-0123456789abcdef.tar.gz",
                "model_id": "ef7971ba1d1a46f39d3cebf88fc7ade7",
                "num_active_training_jobs": 0,
            }
        )

    async def _parse(self, request: web.Request) -> web.Response:
        body = await request.json()
        text = body.get("text", "")
        self.parsed.append(text)
        if self._stalled:
            await self._closing.wait()
        if self._failures:
            return _error(self._failures.pop(0), "ParsingError", "Error: ")
        if not text.strip():
            return _error(500, "ParsingError", "Error: ")  # what Rasa 3.6 answers
        lesson = self._lessons.get(text, _Lesson("goodbye", 0.27, (), "greet"))
        return web.json_response(_answer(text, lesson))


def _answer(text: str, lesson: _Lesson) -> dict[str, Any]:
    ranking = [
        {"name": lesson.intent, "confidence": lesson.confidence},
        {"name": lesson.runner_up, "confidence": (1 - lesson.confidence) * 0.8},
    ]
    if lesson.confidence < FALLBACK_THRESHOLD:
        ranking.insert(0, {"name": "nlu_fallback", "confidence": FALLBACK_THRESHOLD})
    entities = []
    for e in lesson.entities:
        start = text.index(e.said)
        found: dict[str, Any] = {"entity": e.entity, "start": start, "end": start + len(e.said)}
        if e.extractor != "RegexEntityExtractor":
            found["confidence_entity"] = 0.98
        found["value"] = e.value or e.said
        found["extractor"] = e.extractor
        if e.value is not None:
            found["processors"] = ["EntitySynonymMapper"]
        entities.append(found)
    return {
        "text": text,
        "intent": ranking[0],
        "entities": entities,
        "text_tokens": [[m.start(), m.end()] for m in re.finditer(r"\S+", text)],
        "intent_ranking": ranking,
    }


def _error(status: int, reason: str, message: str) -> web.Response:
    return web.json_response(
        {
            "version": "3.6.21",
            "status": "failure",
            "message": f"An unexpected error occurred. {message}",
            "reason": reason,
            "details": {},
            "help": None,
            "code": status,
        },
        status=status,
    )
