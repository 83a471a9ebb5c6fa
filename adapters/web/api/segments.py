"""The segments endpoints of /api/v1: count a rule as it is written, and keep named ones."""

from __future__ import annotations

from aiohttp import web

from adapters.web.api.endpoints import PREFIX, Endpoint
from adapters.web.api.translate import answer, read_body, run
from crm.segments.records import (
    Preview,
    RuleBody,
    SegmentChange,
    SegmentCreated,
    SegmentDraft,
    SegmentList,
    SegmentView,
)
from crm.segments.rules import location
from crm.services import segments
from crm.services.segments import UnknownSegment

_TAG = "segments"
_ONE = PREFIX + "/segments/{segment_id}"
_WRITE_ERRORS = (400, 401, 413, 415, 422)


def _segment_id(request: web.Request) -> int:
    text = request.match_info["segment_id"]
    if not text.isdigit() or len(text) > 18:
        raise UnknownSegment(f"no segment {text}")
    return int(text)


async def _count(request: web.Request) -> web.StreamResponse:
    body = await read_body(request, RuleBody, location)
    return answer(await run(request, lambda s: segments.preview_rule(s, body.rule)))


async def _create(request: web.Request) -> web.StreamResponse:
    draft = await read_body(request, SegmentDraft, location)
    return answer(await run(request, lambda s: segments.create_segment(s, draft)), status=201)


async def _list(request: web.Request) -> web.StreamResponse:
    return answer(await run(request, segments.list_segments))


async def _get(request: web.Request) -> web.StreamResponse:
    return answer(await run(request, lambda s: segments.get_segment(s, _segment_id(request))))


async def _change(request: web.Request) -> web.StreamResponse:
    change = await read_body(request, SegmentChange, location)
    return answer(
        await run(request, lambda s: segments.change_segment(s, _segment_id(request), change))
    )


async def _archive(request: web.Request) -> web.StreamResponse:
    await run(request, lambda s: segments.archive_segment(s, _segment_id(request)))
    return web.Response(status=204)


SEGMENT_ENDPOINTS = (
    Endpoint(
        "POST",
        PREFIX + "/segments/count",
        "countSegment",
        "How many customers a rule matches now, and ten of them (nothing is saved)",
        _TAG,
        _count,
        RuleBody,
        Preview,
        _WRITE_ERRORS,
    ),
    Endpoint(
        "POST",
        PREFIX + "/segments",
        "createSegment",
        "Save a named segment; answers its id and current count",
        _TAG,
        _create,
        SegmentDraft,
        SegmentCreated,
        _WRITE_ERRORS,
        status=201,
    ),
    Endpoint(
        "GET",
        PREFIX + "/segments",
        "listSegments",
        "The segments not archived, the newest first",
        _TAG,
        _list,
        None,
        SegmentList,
        (401,),
    ),
    Endpoint(
        "GET",
        _ONE,
        "getSegment",
        "A segment with its rule, current count and sample",
        _TAG,
        _get,
        None,
        SegmentView,
        (401, 404),
    ),
    Endpoint(
        "PATCH",
        _ONE,
        "changeSegment",
        "Rename a segment or change its rule",
        _TAG,
        _change,
        SegmentChange,
        SegmentView,
        (*_WRITE_ERRORS, 404),
    ),
    Endpoint(
        "DELETE",
        _ONE,
        "archiveSegment",
        "Archive a segment: gone from lists and reads, kept for the campaigns that used it",
        _TAG,
        _archive,
        None,
        None,
        (401, 404),
        status=204,
    ),
)
