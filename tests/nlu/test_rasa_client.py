"""The Rasa engine against a fake Rasa 3.6 server: what it understands, and when it falls back."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY

from bots.nlu.embedded import EmbeddedNlu
from bots.nlu.rasa import RasaEngine
from crm.models import Language
from dialogue.ports import Entity, Understanding
from tests.fakes.rasa_api import FakeRasa, RasaEntity


def detect_language(text: str) -> Language | None:
    words = set(text.lower().split())
    if words & {"donde", "tienen", "mi"}:
        return Language.ES
    if words & {"cadê", "meu", "tem"}:
        return Language.PT
    return None


def fallbacks(reason: str) -> float:
    return REGISTRY.get_sample_value("omnihub_nlu_fallbacks_total", {"reason": reason}) or 0.0


@pytest.fixture(scope="module")
def embedded() -> EmbeddedNlu:
    """The engine that answers while Rasa cannot, as the hub wires it."""
    return EmbeddedNlu.from_files()


@pytest.fixture
async def rasa() -> AsyncIterator[FakeRasa]:
    async with FakeRasa() as server:
        yield server


@pytest.fixture
async def engine(rasa: FakeRasa, embedded: EmbeddedNlu) -> AsyncIterator[RasaEngine]:
    async with RasaEngine(
        rasa.base_url, fallback=embedded, detect_language=detect_language
    ) as engine:
        yield engine


async def test_intent_entities_and_language_come_through(
    rasa: FakeRasa, engine: RasaEngine
) -> None:
    text = "tienen zapatillas negras en la 42? pedido ES-100234"
    rasa.teach(
        text,
        "check_stock",
        0.91,
        entities=[
            RasaEntity("product", "zapatillas", value="sneakers"),
            RasaEntity("color", "negras", value="black", extractor="CRFEntityExtractor"),
            RasaEntity("size", "42"),
            RasaEntity("order_number", "ES-100234"),
        ],
    )

    understood = await engine.parse(text)

    assert understood == Understanding(
        intent="check_stock",
        confidence=0.91,
        entities=(
            Entity("product", "sneakers", "zapatillas", 7, 17),
            Entity("color", "black", "negras", 18, 24),
            Entity("size", "42", "42", 31, 33),
            Entity("order_number", "ES-100234", "ES-100234", 42, 51),
        ),
        language=Language.ES,
    )
    assert rasa.parsed == [text]


async def test_an_entity_two_extractors_found_is_named_once(
    rasa: FakeRasa, engine: RasaEngine
) -> None:
    rasa.teach(
        "tem tenis 40",
        "check_stock",
        0.8,
        entities=[
            RasaEntity("product", "tenis", value="sneakers"),
            RasaEntity("product", "tenis", value="sneakers", extractor="CRFEntityExtractor"),
        ],
    )

    understood = await engine.parse("tem tenis 40")

    assert understood.entities == (Entity("product", "sneakers", "tenis", 4, 9),)
    assert understood.language is Language.PT


async def test_rasas_nlu_fallback_is_out_of_scope(rasa: FakeRasa, engine: RasaEngine) -> None:
    rasa.teach("xyzzy plugh", "goodbye", 0.27)

    understood = await engine.parse("xyzzy plugh")

    # The confidence is Rasa's best real guess, not the fallback threshold it reports.
    assert (understood.intent, understood.confidence) == ("out_of_scope", 0.27)


async def test_a_guess_below_the_threshold_is_out_of_scope(
    rasa: FakeRasa, embedded: EmbeddedNlu
) -> None:
    rasa.teach("meu pedido", "order_status", 0.55)
    async with RasaEngine(
        rasa.base_url, fallback=embedded, detect_language=detect_language, threshold=0.6
    ) as engine:
        understood = await engine.parse("meu pedido")

    assert (understood.intent, understood.confidence) == ("out_of_scope", 0.55)


async def test_a_blank_message_is_not_sent_to_rasa(rasa: FakeRasa, engine: RasaEngine) -> None:
    before = fallbacks("server_error")

    assert await engine.parse("  ") == Understanding(intent="out_of_scope", confidence=0.0)
    assert rasa.parsed == []  # Rasa 3.6 answers an empty text with HTTP 500
    assert fallbacks("server_error") == before


async def test_when_rasa_is_down_the_embedded_engine_answers_and_it_is_counted(
    unused_tcp_port: int, embedded: EmbeddedNlu, caplog: pytest.LogCaptureFixture
) -> None:
    before = fallbacks("unreachable")
    async with RasaEngine(
        f"http://127.0.0.1:{unused_tcp_port}", fallback=embedded, detect_language=detect_language
    ) as engine:
        with caplog.at_level(logging.WARNING, logger="bots.nlu.rasa"):
            first = await engine.parse("hola, buenas tardes")
            second = await engine.parse("cadê meu pedido?")

    assert first == embedded.understand("hola, buenas tardes")
    assert (first.intent, first.language) == ("greet", Language.ES)
    assert second == embedded.understand("cadê meu pedido?")
    assert (second.intent, second.language) == ("order_status", Language.PT)
    assert fallbacks("unreachable") == before + 2
    # Warned once, not once per message: a down Rasa must not flood the log.
    [warning] = caplog.records
    assert "unreachable" in warning.getMessage()
    assert f"127.0.0.1:{unused_tcp_port}" in warning.getMessage()


async def test_a_slow_rasa_times_out_and_the_embedded_engine_answers(
    rasa: FakeRasa, embedded: EmbeddedNlu
) -> None:
    rasa.stall()
    before = fallbacks("timeout")
    async with RasaEngine(
        rasa.base_url, fallback=embedded, detect_language=detect_language, timeout=0.2
    ) as engine:
        started = time.monotonic()
        understood = await engine.parse("donde esta mi pedido")
        waited = time.monotonic() - started

    assert understood == embedded.understand("donde esta mi pedido")
    assert 0.2 <= waited < 1.0
    assert fallbacks("timeout") == before + 1


@pytest.mark.parametrize("status", [500, 503])
async def test_a_rasa_error_falls_back_and_the_next_message_goes_to_rasa_again(
    rasa: FakeRasa, engine: RasaEngine, embedded: EmbeddedNlu, status: int
) -> None:
    rasa.teach("cadê meu pedido", "order_status", 0.88)
    rasa.fail_next(status)
    before = fallbacks("server_error")

    during = await engine.parse("cadê meu pedido")
    after = await engine.parse("cadê meu pedido")

    assert during == embedded.understand("cadê meu pedido")
    assert after == Understanding("order_status", 0.88, language=Language.PT)
    assert fallbacks("server_error") == before + 1
    assert rasa.parsed == ["cadê meu pedido", "cadê meu pedido"]


async def test_an_answer_that_is_not_rasas_falls_back(
    rasa: FakeRasa, engine: RasaEngine, embedded: EmbeddedNlu
) -> None:
    rasa.fail_next(409)  # what Rasa answers while no model is loaded
    before = fallbacks("bad_response")

    understood = await engine.parse("donde esta mi pedido")

    assert understood == embedded.understand("donde esta mi pedido")
    assert fallbacks("bad_response") == before + 1
