"""Web-chat sites (where the widget may run, with their secrets), a visitor's history, and
which of a visitor's session tokens still hold."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import DomainError, NotFound
from crm.models import Channel, Message, WebchatSite, WebchatTokenGeneration, utcnow
from crm.text import storable

SITE_KEY_PREFIX = "wcs_"  # marks a site key when it turns up in a page or a log


class UnknownSite(NotFound):
    """No active web-chat site has this key."""

    def __init__(self, site_key: str):
        super().__init__(f"no active web-chat site {site_key!r}")
        self.site_key = site_key


class InvalidSite(DomainError):
    """A site definition that could never work (no name, an origin that is no origin)."""


def normalise_origin(origin: str) -> str:
    """An origin as browsers send it in `Origin`: scheme://host[:port], lower case.

    Raises InvalidSite for anything with a path, a query, credentials or another scheme.
    """
    text = origin.strip().rstrip("/")
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError on a malformed port
    except ValueError as exc:
        raise InvalidSite(f"not an origin: {origin!r}") from exc
    if (
        parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or parts.path
        or parts.query
        or parts.fragment
        or parts.username is not None
    ):
        raise InvalidSite(f"not an origin (scheme://host[:port]): {origin!r}")
    default = {"http": 80, "https": 443}[parts.scheme.lower()]
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal keeps its brackets
    suffix = f":{port}" if port is not None and port != default else ""
    return f"{parts.scheme.lower()}://{host}{suffix}"


async def create_webchat_site(
    session: AsyncSession, name: str, allowed_origins: Iterable[str]
) -> WebchatSite:
    """A new active site with a fresh public key and fresh random secrets."""
    name = name.strip()
    if not name:
        raise InvalidSite("a web-chat site needs a name")
    origins = list(dict.fromkeys(normalise_origin(o) for o in allowed_origins))
    if not origins:
        raise InvalidSite("a web-chat site needs at least one allowed origin")
    site = WebchatSite(
        site_key=SITE_KEY_PREFIX + secrets.token_urlsafe(16),
        name=name,
        allowed_origins=origins,
        identity_secret=secrets.token_urlsafe(32),
        token_secret=secrets.token_urlsafe(32),
        active=True,
    )
    session.add(site)
    await session.flush()
    return site


async def get_active_site(session: AsyncSession, site_key: str) -> WebchatSite:
    """The active site with this key; raises UnknownSite otherwise."""
    if not storable(site_key):  # no key holds NUL; PostgreSQL would refuse the query
        raise UnknownSite(site_key)
    site = await session.scalar(
        select(WebchatSite).where(WebchatSite.site_key == site_key, WebchatSite.active.is_(True))
    )
    if site is None:
        raise UnknownSite(site_key)
    return site


def site_allows_origin(site: WebchatSite, origin: str | None) -> bool:
    if not origin:
        return False
    try:
        return normalise_origin(origin) in site.allowed_origins
    except InvalidSite:
        return False


async def any_site_allows_origin(session: AsyncSession, origin: str | None) -> bool:
    """Whether some active site embeds the widget at this origin.

    A CORS preflight carries no body, so it cannot name its site: it may go ahead for
    any origin that some site allows, and the request itself is checked per site.
    """
    if not origin:
        return False
    sites = await session.scalars(select(WebchatSite).where(WebchatSite.active.is_(True)))
    return any(site_allows_origin(site, origin) for site in sites)


async def visitor_messages(
    session: AsyncSession, visitor_id: str, *, after_id: int, limit: int
) -> Sequence[Message]:
    """A web-chat visitor's messages with id > after_id, oldest first, agents' notes left out."""
    rows = await session.scalars(
        select(Message)
        .where(
            Message.channel == Channel.WEBCHAT,
            Message.address == visitor_id,
            Message.private.is_(False),
            Message.id > after_id,
        )
        .order_by(Message.id)
        .limit(limit)
    )
    return rows.all()


async def token_generation(session: AsyncSession, visitor_id: str) -> int:
    """The generation a token of this visitor must carry to hold (0 until one was ended)."""
    generation = await session.scalar(
        select(WebchatTokenGeneration.generation).where(
            WebchatTokenGeneration.visitor_id == visitor_id
        )
    )
    return generation or 0


async def end_visitor_tokens(session: AsyncSession, visitor_id: str, generation: int) -> int | None:
    """Ends the visitor's tokens of `generation`; the generation that holds from now on.

    None when `generation` was no longer the visitor's (another request ended those
    tokens first): exactly one of two requests ending the same tokens wins, so one
    anonymous token cannot be turned into two signed ones. The UPDATE's condition is
    the guarantee; the first end inserts the row, in a savepoint, so that a concurrent
    first end fails only that insert.
    """
    ended = await session.execute(
        update(WebchatTokenGeneration)
        .where(
            WebchatTokenGeneration.visitor_id == visitor_id,
            WebchatTokenGeneration.generation == generation,
        )
        .values(generation=generation + 1, changed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if getattr(ended, "rowcount", 0) == 1:
        return generation + 1
    if generation != 0:
        return None
    try:
        async with session.begin_nested():
            session.add(WebchatTokenGeneration(visitor_id=visitor_id, generation=1))
    except IntegrityError:
        return None  # a row exists: generation 0 was ended already
    return 1


async def end_all_visitor_tokens(session: AsyncSession, visitor_id: str) -> int:
    """Ends every token of the visitor, whatever their generation; the one that holds now.

    For when the visitor proved who they are by a one-time code: no token issued
    before may go on, not even one a concurrent sign-in has just issued (it was made
    for the unproved visitor too). Tried again after a concurrent end, which moved it
    on and committed (read again, it is seen); a few lost races fail the transaction.
    """
    for _ in range(_END_ALL_TRIES):
        current = await token_generation(session, visitor_id)
        ended = await end_visitor_tokens(session, visitor_id, current)
        if ended is not None:
            return ended
    raise TokensBusy(f"the tokens of {visitor_id} kept changing while being ended")


_END_ALL_TRIES = 5


class TokensBusy(DomainError):
    """A visitor's tokens kept being ended by others while this transaction tried."""
