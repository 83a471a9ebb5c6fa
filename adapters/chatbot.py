"""Builds the product's chatbot: the NLU engine (embedded, or Rasa with the embedded one
as its fall-back) trained at start with the shop's own catalogue, and the flows."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from adapters.settings import Settings
from bots.flows.registry import all_flows
from bots.nlu.embedded import EmbeddedNlu
from bots.nlu.rasa import RasaEngine
from bots.responder import ChatbotResponder
from crm.db import Database
from crm.models import Product, ProductVariant, Store
from dialogue.ports import NluEngine

log = logging.getLogger(__name__)


async def catalogue_lookups(db: Database) -> dict[str, list[str]]:
    """The shop's product names (every language), stores, cities and sizes, for the NLU."""
    async with db.transaction() as session:
        names = (await session.scalars(select(Product.names).where(Product.active))).all()
        stores = (await session.execute(select(Store.name, Store.city).where(Store.active))).all()
        sizes = (
            await session.scalars(
                select(ProductVariant.size).where(ProductVariant.size.is_not(None)).distinct()
            )
        ).all()
    products = sorted({name for by_language in names for name in by_language.values()})
    places = sorted({value for row in stores for value in row})
    return {"product": products, "store": places, "size": sorted({s for s in sizes if s})}


async def _lookups_if_reachable(db: Database) -> dict[str, list[str]]:
    """The catalogue for the NLU; without it (the database is down or not migrated yet:
    /readyz says so) the bot still starts, and flows match names against the database."""
    try:
        return await catalogue_lookups(db)
    except (SQLAlchemyError, OSError) as exc:
        log.warning("the NLU starts without the shop's catalogue: %s", exc)
        return {}


@contextlib.asynccontextmanager
async def open_chatbot(settings: Settings, db: Database) -> AsyncIterator[ChatbotResponder]:
    embedded = EmbeddedNlu.from_files(extra_lookups=await _lookups_if_reachable(db))
    log.info(
        "embedded NLU trained on %d examples in %.2f s",
        embedded.report.examples,
        embedded.report.seconds,
    )
    nlu: NluEngine = embedded
    async with contextlib.AsyncExitStack() as stack:
        if settings.rasa_url is not None:
            nlu = await stack.enter_async_context(
                RasaEngine(
                    str(settings.rasa_url),
                    fallback=embedded,
                    detect_language=embedded.detect_language,
                    entities=embedded.entities,
                )
            )
        yield ChatbotResponder(nlu, all_flows(), support=settings.support_hours)
