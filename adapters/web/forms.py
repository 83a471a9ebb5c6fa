"""Reading an urlencoded form strictly, so that a body the hub cannot decode is a 4xx."""

from __future__ import annotations

from urllib.parse import parse_qsl

from aiohttp import web
from multidict import MultiDict

from crm.text import storable


class UnreadableForm(Exception):
    """A form body the hub cannot read, with the status and reason to answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


async def read_form(request: web.Request) -> MultiDict[str]:
    """The urlencoded body, decoded in its charset (UTF-8 unless it says otherwise).

    Instead of aiohttp's `request.post()`, which raises on an unknown charset or on
    bytes not in it (a 500), and turns undecodable percent-escapes into U+FFFD: a
    signature covers the values as sent, and the database takes no NUL or lone
    surrogate (which some codecs, unicode_escape or utf-7, decode to).
    """
    charset = request.charset or "utf-8"
    raw = await request.read()  # past client_max_size aiohttp raises 413 here
    try:
        text = raw.rstrip().decode(charset)
        pairs = parse_qsl(text, keep_blank_values=True, encoding=charset, errors="strict")
    except LookupError:  # no such codec, or one that is not a text encoding (base64)
        raise UnreadableForm(415, f"unknown charset {charset!r}") from None
    except UnicodeDecodeError:
        raise UnreadableForm(400, f"the form is not {charset} text") from None
    if not all(storable(part) for pair in pairs for part in pair):
        raise UnreadableForm(400, "the form holds a NUL or a lone surrogate")
    return MultiDict(pairs)
