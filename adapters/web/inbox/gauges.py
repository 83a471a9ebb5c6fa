"""The inbox on /metrics: histograms observed as agents act, gauges read from the database."""

from __future__ import annotations

import logging
from datetime import datetime

from aiohttp import web
from prometheus_client import Gauge, Histogram

from adapters.web.inbox.config import CONFIG
from adapters.web.keys import BEFORE_SCRAPE, DATABASE
from crm.models import ConversationStatus, utcnow
from crm.services.inbox_metrics import CSAT_SCORES, inbox_load, inbox_metrics

log = logging.getLogger(__name__)

_MINUTE, _HOUR, _DAY = 60.0, 3600.0, 86400.0

# Observed by the process whose agent acted, so Prometheus sums them across processes.
FIRST_RESPONSE = Histogram(
    "omnihub_inbox_first_response_seconds",
    "Time from a conversation's handoff to its first reply by an agent",
    buckets=(15, 30, _MINUTE, 2 * _MINUTE, 5 * _MINUTE, 10 * _MINUTE, 30 * _MINUTE, _HOUR,
             2 * _HOUR, 4 * _HOUR, 12 * _HOUR, _DAY),
)  # fmt: skip
RESOLUTION = Histogram(
    "omnihub_inbox_resolution_seconds",
    "Time from a conversation's first message to its resolution by an agent",
    buckets=(_MINUTE, 5 * _MINUTE, 15 * _MINUTE, 30 * _MINUTE, _HOUR, 2 * _HOUR, 4 * _HOUR,
             12 * _HOUR, _DAY, 2 * _DAY, 7 * _DAY),
)  # fmt: skip

# Read from the database by every process; the same value from each (use max()).
CONVERSATIONS = Gauge(
    "omnihub_inbox_conversations", "Conversations not resolved, by status", ["status"]
)
AGENTS_AVAILABLE = Gauge("omnihub_inbox_agents_available", "Agents available for conversations")
BOT_RESOLVED = Gauge(
    "omnihub_inbox_bot_resolved_ratio",
    "Share of the conversations resolved in the last period that the bot resolved alone",
)
SATISFACTION = Gauge(
    "omnihub_inbox_satisfaction_average",
    "Average 1-5 satisfaction score of the conversations resolved in the last period",
)
SATISFACTION_RESPONSES = Gauge(
    "omnihub_inbox_satisfaction_responses",
    "Satisfaction answers of the conversations resolved in the last period, by score",
    ["score"],
)


def observe_first_response(queued_at: datetime | None, first_response_at: datetime) -> None:
    if queued_at is not None:
        FIRST_RESPONSE.observe(max(0.0, (first_response_at - queued_at).total_seconds()))


def observe_resolution(created_at: datetime, resolved_at: datetime) -> None:
    RESOLUTION.observe(max(0.0, (resolved_at - created_at).total_seconds()))


async def refresh(app: web.Application) -> None:
    """Recompute the gauges from the database once."""
    config = app[CONFIG]
    now = utcnow()
    async with app[DATABASE].transaction() as session:
        load = await inbox_load(session)
        recent = await inbox_metrics(session, now - config.gauge_period, now)
    for status in ConversationStatus:
        if status is not ConversationStatus.RESOLVED:
            CONVERSATIONS.labels(status=status.value).set(load.open_by_status.get(status, 0))
    AGENTS_AVAILABLE.set(load.agents_available)
    BOT_RESOLVED.set(recent.bot_resolved_share or 0.0)
    SATISFACTION.set(recent.satisfaction.average or 0.0)
    for score in CSAT_SCORES:
        SATISFACTION_RESPONSES.labels(score=str(score)).set(
            recent.satisfaction.distribution.get(score, 0)
        )


def add_gauges(app: web.Application) -> None:
    """The gauges are read from the database when /metrics is scraped."""
    app.setdefault(BEFORE_SCRAPE, []).append(refresh)
