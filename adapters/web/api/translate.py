"""Between HTTP and the sync services: read a body, run a service, answer or fail in JSON."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.web.api.schemas import ErrorBody, ErrorDetail, InvalidInput
from adapters.web.keys import DATABASE
from crm.errors import DomainError, NotFound
from crm.services.sync import RecordsRejected

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")

JSON = "application/json"


def answer(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(text=model.model_dump_json(), status=status, content_type=JSON)


def _fail(error: type[web.HTTPException], body: BaseModel) -> web.HTTPException:
    # A JSON body, so the json_errors middleware passes it through untouched.
    return error(text=body.model_dump_json(), content_type=JSON)


def _invalid(details: list[ErrorDetail]) -> web.HTTPException:
    return _fail(web.HTTPUnprocessableEntity, InvalidInput(errors=details))


Locate = Callable[[tuple[str | int, ...]], Sequence[str | int]]


async def read_body(request: web.Request, model: type[M], locate: Locate = tuple) -> M:
    """The request's JSON body as `model`, or the 4xx that says why not.

    `locate` rewrites pydantic's error locations (segment rules drop their union tags).
    """
    if request.content_type != JSON:
        raise _fail(
            web.HTTPUnsupportedMediaType,
            ErrorBody(error=f"expected a {JSON} body, got {request.content_type!r}"),
        )
    body = await request.read()  # past client_max_size aiohttp raises 413 here
    try:
        # The JSON parser refuses bodies that are not UTF-8, lone surrogates ("\ud800")
        # and nesting deeper than 200 levels as malformed: never a RecursionError.
        record = model.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        if any(e["type"] == "json_invalid" for e in errors):
            raise _fail(
                web.HTTPBadRequest, ErrorBody(error=f"malformed JSON: {errors[0]['msg']}")
            ) from None
        raise _invalid(
            [
                ErrorDetail(loc=["body", *locate(e["loc"])], msg=e["msg"], type=e["type"])
                for e in errors
            ]
        ) from None
    unstorable = [
        ErrorDetail(loc=["body", *loc], msg=msg, type=kind)
        for loc, msg, kind in _unstorable(record.model_dump(), [])
    ]
    if unstorable:
        raise _invalid(unstorable)
    return record


Loc = list[str | int]


def _unstorable(value: object, loc: Loc) -> Iterator[tuple[Loc, str, str]]:
    """Where `value` holds what PostgreSQL refuses: NUL in text (and JSONB), and NaN or
    infinities in JSONB (free-form fields such as attributes; bounded numbers are
    refused by their bounds). The parser takes both, and SQLite kept NaN as null."""
    if isinstance(value, str):
        if "\x00" in value:
            yield loc, "text may not contain NUL (\\u0000)", "string_nul"
    elif isinstance(value, float):
        if not math.isfinite(value):
            yield loc, "Input should be a finite number", "finite_number"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _unstorable(key, loc)
            yield from _unstorable(item, [*loc, key if isinstance(key, int) else str(key)])
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _unstorable(item, [*loc, index])


async def run(request: web.Request, service: Callable[[AsyncSession], Awaitable[R]]) -> R:
    """Run a service in one transaction; its domain errors become 4xx responses."""
    try:
        async with request.app[DATABASE].transaction() as session:
            return await service(session)
    except RecordsRejected as exc:
        raise _invalid(
            [ErrorDetail(loc=["body", *p.loc], msg=p.msg, type=p.type) for p in exc.problems]
        ) from None
    except NotFound as exc:
        raise _fail(web.HTTPNotFound, ErrorBody(error=str(exc))) from None
    except DomainError as exc:
        raise _fail(web.HTTPUnprocessableEntity, ErrorBody(error=str(exc))) from None
    except IntegrityError:
        # Checks ran before writing, so only a concurrent writer of the same rows gets here.
        raise _fail(
            web.HTTPConflict, ErrorBody(error="a concurrent change to the same records; retry")
        ) from None
