"""Web-chat credentials: the hub's signed session tokens and the shop's identity HMAC."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer

TOKEN_TTL = timedelta(days=30)
# A token longer than this was not made here; refused before any crypto.
MAX_TOKEN_LENGTH = 1024
# Keeps these tokens from verifying anywhere else the same secret might sign things.
_SALT = "omnihub.webchat.session"

Clock = Callable[[], float]


@dataclass(frozen=True)
class SessionClaims:
    """What a session token vouches for."""

    site_key: str
    visitor_id: str
    # The shop's id for a logged-in visitor, present only when the shop's backend
    # signed it (see identity_matches).
    shop_user_id: str | None = None
    # Holds only while it is the visitor's generation in the CRM: ending a visitor's
    # tokens (signing in, signing out) moves it on (crm.services.webchat).
    generation: int = 0


class InvalidToken(Exception):
    """Forged, expired, for another site, or not a token at all."""


def new_visitor_id() -> str:
    return "v_" + secrets.token_urlsafe(18)


class _ClockedSigner(TimestampSigner):
    # itsdangerous reads the time itself; tests need to move it.
    def __init__(self, *args: Any, clock: Clock = time.time, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = clock

    def get_timestamp(self) -> int:
        return int(self._clock())


def _serializer(token_secret: str, clock: Clock) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        token_secret, salt=_SALT, signer=_ClockedSigner, signer_kwargs={"clock": clock}
    )


def issue_token(token_secret: str, claims: SessionClaims, *, clock: Clock = time.time) -> str:
    payload = {
        "s": claims.site_key,
        "v": claims.visitor_id,
        "u": claims.shop_user_id,
        "g": claims.generation,
    }
    return _serializer(token_secret, clock).dumps(payload)


def read_token(
    token_secret: str, token: object, *, site_key: str, clock: Clock = time.time
) -> SessionClaims:
    """The claims of a token this site issued less than TOKEN_TTL ago; else InvalidToken."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("not a token")
    try:
        payload = _serializer(token_secret, clock).loads(
            token, max_age=int(TOKEN_TTL.total_seconds())
        )
    except (BadData, UnicodeError) as exc:  # UnicodeError: a lone surrogate is no token
        raise InvalidToken(str(exc)) from exc
    if not isinstance(payload, dict):
        raise InvalidToken("not a session token")
    site, visitor, user = payload.get("s"), payload.get("v"), payload.get("u")
    generation = payload.get("g", 0)  # tokens issued before generations are generation 0
    if site != site_key or not isinstance(visitor, str) or not visitor:
        raise InvalidToken("token of another site")
    if user is not None and not isinstance(user, str):
        raise InvalidToken("not a session token")
    if not isinstance(generation, int) or isinstance(generation, bool) or generation < 0:
        raise InvalidToken("not a session token")
    return SessionClaims(
        site_key=site, visitor_id=visitor, shop_user_id=user, generation=generation
    )


def identity_hash(identity_secret: str, user_id: str) -> str:
    """What the shop's backend computes for its logged-in user: hex HMAC-SHA256."""
    return hmac.new(identity_secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def identity_matches(identity_secret: str, user_id: str, user_hash: str) -> bool:
    expected = identity_hash(identity_secret, user_id)
    # Encoded first: compare_digest refuses non-ASCII str, and a hash may be anything.
    return hmac.compare_digest(expected.encode(), user_hash.strip().lower().encode())
