"""The NLU engine that asks a Rasa server (`POST /model/parse`), with a fall-back engine."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

import aiohttp
from prometheus_client import Counter
from pydantic import BaseModel, ValidationError

from crm.models import Language
from dialogue.ports import Entity, NluEngine, Understanding

log = logging.getLogger(__name__)

__all__ = ["FALLBACKS", "RasaEngine"]

FALLBACKS = Counter(
    "omnihub_nlu_fallbacks",
    "Messages the fall-back NLU engine understood because the Rasa server could not",
    ["reason"],  # unreachable, timeout, server_error, bad_response
)

# What Rasa's FallbackClassifier answers below its threshold (bots/config.yml).
RASA_FALLBACK_INTENT = "nlu_fallback"
OUT_OF_SCOPE = "out_of_scope"
DEFAULT_TIMEOUT = 1.5  # seconds for the whole request: a customer is waiting
DEFAULT_THRESHOLD = 0.3
_WARN_EVERY = 60.0  # seconds between warnings while Rasa stays unusable


class _Intent(BaseModel):
    name: str
    confidence: float


class _Entity(BaseModel):
    entity: str
    start: int
    end: int
    value: str | int | float


class _Parse(BaseModel):
    """The part of Rasa 3.6's /model/parse answer the hub reads."""

    intent: _Intent
    entities: list[_Entity] = []
    intent_ranking: list[_Intent] = []


class _Unusable(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


class RasaEngine:
    """Implements dialogue.ports.NluEngine through a Rasa server.

    Rasa tells intents and entities but not the language, so `detect_language` (the
    embedded engine's) says that. Rasa finds a product or store only as written in
    its lookup tables; `entities` (the embedded engine's typo-tolerant extractor) adds
    what Rasa missed ("zapatila brisa"), never overriding a span Rasa found. When Rasa
    is down, slow or failing, `fallback` answers instead: the customer gets an answer
    either way, and the fall-back is counted in `omnihub_nlu_fallbacks_total` and
    logged (at most once a minute). Close it with `aclose()` or use it as an async context manager.
    """

    def __init__(
        self,
        url: str,
        *,
        fallback: NluEngine,
        detect_language: Callable[[str], Language | None],
        entities: Callable[[str, Language | None], tuple[Entity, ...]] | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        timeout: float = DEFAULT_TIMEOUT,
    ):
        self._parse_url = f"{url.rstrip('/')}/model/parse"
        self._fallback = fallback
        self._detect_language = detect_language
        self._more_entities = entities
        self._threshold = threshold
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._warned_at: float | None = None
        self._unwarned = 0  # fall-backs since the last warning

    async def parse(self, text: str) -> Understanding:
        if not text.strip():
            # Nothing to understand; Rasa would answer it with an error (HTTP 500).
            return Understanding(intent=OUT_OF_SCOPE, confidence=0.0)
        try:
            parsed = await self._ask_rasa(text)
        except _Unusable as exc:
            self._fell_back(exc)
            return await self._fallback.parse(text)
        return self._understanding(text, parsed)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _ask_rasa(self, text: str) -> _Parse:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.post(self._parse_url, json={"text": text}) as response:
                if response.status >= 500:
                    raise _Unusable("server_error", f"HTTP {response.status}")
                if response.status != 200:
                    raise _Unusable("bad_response", f"HTTP {response.status}")
                body = await response.read()
        except TimeoutError as exc:  # before ClientError: aiohttp's timeouts are both
            raise _Unusable("timeout", f"no answer within {self._timeout.total} s") from exc
        except aiohttp.ClientError as exc:
            raise _Unusable("unreachable", f"{type(exc).__name__}: {exc}") from exc
        try:
            return _Parse.model_validate_json(body)
        except ValidationError as exc:
            raise _Unusable("bad_response", f"unexpected answer: {exc}") from exc

    def _understanding(self, text: str, parsed: _Parse) -> Understanding:
        intent, confidence = parsed.intent.name, parsed.intent.confidence
        if intent == RASA_FALLBACK_INTENT:
            # Rasa's confidence here is its threshold; the best real guess is more telling.
            ranked = [i for i in parsed.intent_ranking if i.name != RASA_FALLBACK_INTENT]
            intent, confidence = OUT_OF_SCOPE, ranked[0].confidence if ranked else confidence
        elif confidence < self._threshold:
            intent = OUT_OF_SCOPE
        entities: dict[tuple[str, int, int], Entity] = {}
        for e in parsed.entities:
            # Two extractors may find the same span; the customer said it once.
            entities.setdefault(
                (e.entity, e.start, e.end),
                Entity(e.entity, str(e.value), text[e.start : e.end], e.start, e.end),
            )
        language = self._detect_language(text)
        found = list(entities.values())
        if self._more_entities is not None:
            for extra in self._more_entities(text, language):
                if not any(
                    e.name == extra.name and e.start < extra.end and extra.start < e.end
                    for e in found
                ):
                    found.append(extra)
        return Understanding(
            intent=intent,
            confidence=confidence,
            entities=tuple(found),
            language=language,
        )

    def _fell_back(self, exc: _Unusable) -> None:
        FALLBACKS.labels(reason=exc.reason).inc()
        now = time.monotonic()
        if self._warned_at is not None and now - self._warned_at < _WARN_EVERY:
            self._unwarned += 1
            return
        log.warning(
            "Rasa at %s could not answer (%s: %s); the fall-back engine answers%s",
            self._parse_url,
            exc.reason,
            exc,
            f" ({self._unwarned} more since the last warning)" if self._unwarned else "",
        )
        self._warned_at, self._unwarned = now, 0
