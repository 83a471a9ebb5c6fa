"""The agents' shared inbox on the web: sign-in, the page, its JSON API and live socket.

`add_routes(app)` mounts it (after the hub's cleanup_ctx, whose bus it follows); the
routes and what they answer are in docs/inbox.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from adapters.web.inbox import actions, gauges, live, login, page, reads
from adapters.web.inbox.auth import EVERYONE, READERS, SUPERVISORS, guard
from adapters.web.inbox.config import CONFIG, InboxConfig
from adapters.web.keys import REDIS
from crm.services.passwords import PasswordChecks

API = "/inbox/api"
# Ids up to 18 digits: larger ones are no row of ours, and no 64-bit integer either.
ID = "{id:\\d{1,18}}"
CONVERSATION = API + "/conversations/" + ID

__all__ = ["CONFIG", "InboxConfig", "add_routes"]


async def _sign_in_ctx(app: web.Application) -> AsyncIterator[None]:
    app[login.THROTTLE] = login.make_throttle(app[CONFIG], app.get(REDIS))
    app[login.ACCOUNT_THROTTLE] = login.make_throttle(
        app[CONFIG], app.get(REDIS), failures=app[CONFIG].account_failures
    )
    app[login.ADDRESS_THROTTLE] = login.make_throttle(
        app[CONFIG], app.get(REDIS), failures=app[CONFIG].address_failures, scope="address:"
    )
    app[login.PASSWORDS] = checks = PasswordChecks()
    yield
    checks.close()


async def _close_sockets(app: web.Application) -> None:
    # Without this, shutdown waits for each idle agent's socket to time out.
    await app[live.SOCKETS].close_all()


def add_routes(app: web.Application, config: InboxConfig | None = None) -> None:
    app[CONFIG] = config or InboxConfig()
    app[live.SOCKETS] = live.Sockets()
    app.cleanup_ctx.extend([_sign_in_ctx, live.feed_ctx])
    gauges.add_gauges(app)
    app.on_shutdown.append(_close_sockets)
    login.add_routes(app)
    page.add_routes(app)
    router = app.router
    router.add_get(live.PATH, live.connect, name="inboxSocket", allow_head=False)
    router.add_get(API + "/me", guard(EVERYONE, reads.me))
    router.add_put(API + "/me/availability", guard(READERS, actions.availability))
    router.add_get(API + "/conversations", guard(READERS, reads.conversations))
    router.add_get(CONVERSATION, guard(READERS, reads.conversation))
    actions_by_role = {
        "claim": (READERS, actions.claim),
        "assign": (SUPERVISORS, actions.assign),
        "transfer": (READERS, actions.transfer),
        "unassign": (READERS, actions.unassign),
        "resolve": (READERS, actions.resolve),
        "handback": (READERS, actions.hand_back),
        "queue": (SUPERVISORS, actions.queue),
        "typing": (READERS, actions.typing),
    }
    for name, (roles, handler) in actions_by_role.items():
        router.add_post(f"{CONVERSATION}/{name}", guard(roles, handler))
    router.add_post(CONVERSATION + "/messages", guard(READERS, actions.message))
    router.add_get(API + "/customers/" + ID, guard(READERS, reads.customer))
    router.add_get(API + "/canned", guard(READERS, reads.canned))
    router.add_get(API + "/agents", guard(READERS, reads.agents))
    router.add_post(
        API + "/reservations/" + ID + "/cancel", guard(READERS, actions.cancel_reservation_route)
    )
    router.add_post(API + "/returns", guard(READERS, actions.start_return_route))
    router.add_get(API + "/metrics", guard(SUPERVISORS, reads.metrics))
