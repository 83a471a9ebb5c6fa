"""The inbox's state-changing routes: each calls one action of the core (dialogue.inbox)
or one crm service, and answers with what changed; the core's errors become 4xx."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Self, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from adapters.hub import HUB
from adapters.web.api.translate import read_body
from adapters.web.errors import error_response
from adapters.web.inbox import gauges
from adapters.web.inbox.auth import Caller
from adapters.web.inbox.reads import conversation_id, me, read
from adapters.web.inbox.render import answer, to_json
from crm.errors import DomainError
from crm.errors import IllegalTransition as CrmIllegalTransition
from crm.errors import NotFound as CrmNotFound
from crm.models import Reservation, Return, ReturnMethod, ReturnReason
from crm.services.inbox_views import (
    ConversationSummary,
    conversation_summary,
    reservation_view,
    return_view,
)
from crm.services.reservations import cancel_reservation
from crm.services.returns import ReturnLine, start_return
from crm.values import Id, Positive
from dialogue.inbox import (
    AlreadyTaken,
    IllegalTransition,
    Inbox,
    NotFound,
    NotOwner,
    OutsideWindow,
)

MAX_TEXT = 4000
M = TypeVar("M", bound=BaseModel)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AssignBody(_Body):
    agent_id: Id


class TransferBody(_Body):
    agent_id: Id | None = None
    team: str | None = Field(None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if (self.agent_id is None) == (self.team is None):
            raise ValueError("give either agent_id or team")
        return self


class QueueBody(_Body):
    reason: str = Field("supervisor", min_length=1, max_length=64)


class MessageBody(_Body):
    """A reply ({text}), a private note ({text, private: true}) or a WhatsApp template."""

    text: str | None = Field(None, min_length=1, max_length=MAX_TEXT)
    private: StrictBool = False
    template: str | None = Field(None, min_length=1, max_length=100)
    params: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if (self.text is None) == (self.template is None):
            raise ValueError("give either text or template")
        if self.template is not None and self.private:
            raise ValueError("a template is sent to the customer; it cannot be private")
        if self.text is not None and not self.text.strip():
            raise ValueError("text is blank")
        return self


class AvailabilityBody(_Body):
    available: StrictBool


class ReturnLineBody(_Body):
    line_no: Positive
    quantity: Positive


class ReturnBody(_Body):
    customer_id: Id
    order_number: str = Field(min_length=1, max_length=32)
    lines: list[ReturnLineBody] = Field(min_length=1, max_length=100)
    reason: ReturnReason
    method: ReturnMethod
    store_code: str | None = Field(None, min_length=1, max_length=32)
    note: str | None = Field(None, max_length=1000)


Action = Callable[[Inbox], Awaitable[object]]


def _inbox(request: web.Request) -> Inbox:
    return request.app[HUB].inbox


async def _summary(request: web.Request, cid: int) -> ConversationSummary:
    return await read(request, lambda s: conversation_summary(s, cid))


async def _run(
    request: web.Request, cid: int, action: Action, *, status: int = 200
) -> web.StreamResponse:
    """Run one core action; answer with the conversation's new summary, or why not."""
    try:
        await action(_inbox(request))
    except NotFound as exc:
        return error_response(404, str(exc), code="not_found")
    except AlreadyTaken as exc:
        return error_response(
            409,
            str(exc),
            code="already_taken",
            by_agent_id=exc.by_agent_id,
            conversation=to_json(await _summary(request, cid)),
        )
    except NotOwner as exc:
        return error_response(403, str(exc), code="not_owner")
    except IllegalTransition as exc:
        return error_response(
            409,
            str(exc),
            code="illegal_transition",
            conversation=to_json(await _summary(request, cid)),
        )
    except OutsideWindow as exc:
        return error_response(409, str(exc), code="outside_window")
    except ValueError as exc:  # e.g. a template's values that do not match it
        return error_response(422, str(exc), code="invalid")
    return answer(await _summary(request, cid), status)


async def _optional_body(request: web.Request, model: type[M]) -> M:
    if not request.body_exists:
        return model()
    return await read_body(request, model)


async def claim(request: web.Request, caller: Caller) -> web.StreamResponse:
    cid = conversation_id(request)
    return await _run(request, cid, lambda inbox: inbox.claim(cid, caller.agent_id))


async def assign(request: web.Request, caller: Caller) -> web.StreamResponse:
    cid = conversation_id(request)
    body = await read_body(request, AssignBody)
    return await _run(
        request, cid, lambda inbox: inbox.assign(cid, body.agent_id, by=caller.agent_id)
    )


async def transfer(request: web.Request, caller: Caller) -> web.StreamResponse:
    cid = conversation_id(request)
    body = await read_body(request, TransferBody)
    return await _run(
        request,
        cid,
        lambda inbox: inbox.transfer(
            cid, by=caller.agent_id, to_agent=body.agent_id, to_team=body.team
        ),
    )


async def unassign(request: web.Request, caller: Caller) -> web.StreamResponse:
    cid = conversation_id(request)
    return await _run(request, cid, lambda inbox: inbox.unassign(cid, by=caller.agent_id))


async def resolve(request: web.Request, caller: Caller) -> web.StreamResponse:
    cid = conversation_id(request)
    response = await _run(request, cid, lambda inbox: inbox.resolve(cid, by=caller.agent_id))
    if response.status == 200:
        after = await _summary(request, cid)
        if after.resolved_at is not None:
            gauges.observe_resolution(after.created_at, after.resolved_at)
    return response


async def hand_back(request: web.Request, caller: Caller) -> web.StreamResponse:
    cid = conversation_id(request)
    return await _run(request, cid, lambda inbox: inbox.hand_back(cid, by=caller.agent_id))


async def queue(request: web.Request, caller: Caller) -> web.StreamResponse:
    cid = conversation_id(request)
    body = await _optional_body(request, QueueBody)
    return await _run(
        request, cid, lambda inbox: inbox.queue(cid, by=caller.agent_id, reason=body.reason)
    )


async def typing(request: web.Request, caller: Caller) -> web.StreamResponse:
    cid = conversation_id(request)
    return await _run(request, cid, lambda inbox: inbox.typing(cid, caller.agent_id))


async def message(request: web.Request, caller: Caller) -> web.StreamResponse:
    cid = conversation_id(request)
    body = await read_body(request, MessageBody)
    before = await _summary(request, cid)
    response = await _run(request, cid, _message_action(cid, caller, body), status=201)
    if response.status == 201 and before.first_response_at is None:
        after = await _summary(request, cid)
        if after.first_response_at is not None:
            gauges.observe_first_response(after.queued_at, after.first_response_at)
    return response


def _message_action(cid: int, caller: Caller, body: MessageBody) -> Action:
    if body.template is not None:
        template, params = body.template, body.params
        return lambda inbox: inbox.send_template(cid, caller.agent_id, template, params)
    text = body.text or ""
    if body.private:
        return lambda inbox: inbox.note(cid, caller.agent_id, text)
    return lambda inbox: inbox.reply(cid, caller.agent_id, text)


async def availability(request: web.Request, caller: Caller) -> web.StreamResponse:
    body = await read_body(request, AvailabilityBody)
    await _inbox(request).set_availability(caller.agent_id, body.available)
    return await me(request, replace(caller, available=body.available))


async def _crm(
    request: web.Request, service: Callable[[AsyncSession], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Run a crm service for the panel; its domain errors become 404, 409 or 422."""
    try:
        return await read(request, service)
    except CrmIllegalTransition as exc:
        return error_response(409, str(exc), code="illegal_transition")
    except DomainError as exc:
        return error_response(422, str(exc), code=type(exc).__name__)


async def cancel_reservation_route(request: web.Request, caller: Caller) -> web.StreamResponse:
    try:
        reservation_id = int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound(text="no such reservation") from None

    async def cancel(session: AsyncSession) -> web.StreamResponse:
        reservation = await session.get(Reservation, reservation_id)
        if reservation is None:
            raise CrmNotFound(f"no reservation {reservation_id}")
        # The same service the bot uses, as the reservation's own customer.
        cancelled = await cancel_reservation(
            session, reservation.customer_id, reservation.pickup_code
        )
        return answer(reservation_view(cancelled))

    return await _crm(request, cancel)


async def start_return_route(request: web.Request, caller: Caller) -> web.StreamResponse:
    body = await read_body(request, ReturnBody)

    async def start(session: AsyncSession) -> web.StreamResponse:
        started = await start_return(
            session,
            body.customer_id,
            body.order_number,
            [ReturnLine(line.line_no, line.quantity) for line in body.lines],
            body.reason,
            body.method,
            store_code=body.store_code,
            note=body.note,
        )
        loaded = await session.scalar(
            select(Return)
            .where(Return.id == started.id)
            .options(selectinload(Return.order), selectinload(Return.store))
        )
        assert loaded is not None
        return answer(return_view(loaded), 201)

    return await _crm(request, start)
