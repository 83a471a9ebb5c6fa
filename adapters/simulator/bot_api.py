"""The Telegram Bot API's wire format, as both the demo simulator and the test fakes speak it.

Requests arrive form-encoded, multipart or JSON; every form field except a few plain
strings is JSON text. Answers are {"ok": true, "result": ...} or an error object with
the HTTP status as its error_code.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web
from yarl import URL

JsonDict = dict[str, Any]
MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
STRING_PARAMS = frozenset(
    {"text", "caption", "callback_query_id", "url", "secret_token", "action", "parse_mode"}
)
WEBHOOK_PORTS = frozenset({443, 80, 88, 8443})
SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
TOKEN_SHAPE = re.compile(r"\d+:[A-Za-z0-9_-]+")
CHAT_FIELDS = frozenset({"id", "first_name", "last_name", "username"})


class BotApiError(Exception):
    """Ends a method with a Bot API error answer."""

    def __init__(self, status: int, description: str, *, retry_after: int | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after


def bad_request(description: str) -> BotApiError:
    return BotApiError(400, f"Bad Request: {description}")


async def read_params(request: web.Request) -> JsonDict:
    """Decode the parameters wherever the client put them, as the Bot API does."""
    raw: dict[str, Any] = dict(request.query)
    if request.can_read_body:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError as exc:
                raise bad_request("can't parse JSON object") from exc
            if not isinstance(body, dict):
                raise bad_request("can't parse JSON object")
            return {**raw, **body}
        if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            raw.update({k: v for k, v in form.items() if isinstance(v, str)})
    return {name: decode(name, value) for name, value in raw.items()}


def decode(name: str, value: str) -> Any:
    if name in STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def error_response(
    status: int, description: str, *, retry_after: int | None = None
) -> web.Response:
    body: JsonDict = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=status)


def inline_rows(markup: Any) -> list[list[JsonDict]] | None:
    """An inline keyboard's rows, refused as Telegram refuses a broken one.

    None when the markup is another kind of keyboard (a reply keyboard).
    """
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if rows is None:
        return None
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request("can't parse reply keyboard markup JSON object")
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not button.get("text"):
                raise bad_request("can't parse inline keyboard button: text is empty")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA:
                raise bad_request("BUTTON_DATA_INVALID")
    return rows


def webhook_params(params: JsonDict) -> tuple[str, str | None]:
    """setWebhook's URL and secret token, refused as Telegram refuses them."""
    url = params.get("url", "")
    if not isinstance(url, str):
        raise bad_request("bad webhook: Failed to resolve host")
    if url:
        parsed = URL(url)
        if parsed.scheme != "https":
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if parsed.port not in WEBHOOK_PORTS:
            raise bad_request(
                "bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"
            )
    secret = params.get("secret_token")
    if secret is not None and not SECRET_TOKEN.fullmatch(str(secret)):
        raise bad_request("secret token contains unallowed characters")
    return url, None if secret is None else str(secret)
