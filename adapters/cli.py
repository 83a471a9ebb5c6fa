"""The `omnihub` command line: serve, migrate, seed, and manage agents and tokens."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click
from aiohttp import web
from sqlalchemy import select
from tqdm import tqdm

from adapters import heap
from adapters.channels import telegram, webchat
from adapters.settings import Settings
from adapters.simulator import PAGE_PATH as SIMULATOR_PAGE
from adapters.simulator import add_simulator_routes, start_simulated_providers
from adapters.web.app import create_app
from adapters.workers import run_worker, workers_ctx
from bots.nlu.embedded import EmbeddedNlu
from bots.nlu.evaluation import evaluate
from bots.nlu.rasa import RasaEngine
from bots.nlu.training import TrainingDataError, load_file
from crm import migrate
from crm.db import Database
from crm.models import AgentRole, WebchatSite
from crm.seed import seed_bulk, seed_demo
from crm.services import staff
from crm.services.webchat import InvalidSite, create_webchat_site
from dialogue.ports import NluEngine

T = TypeVar("T")
log = logging.getLogger("omnihub")


def _run(factory: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await factory()

    return asyncio.run(main())


def _settings() -> Settings:
    try:
        return Settings()
    except ValueError as exc:  # pydantic's ValidationError names the bad variable
        raise click.ClickException(f"invalid settings:\n{exc}") from exc


async def _with_db(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    db = Database(settings.database_url)
    try:
        return await work(db)
    finally:
        await db.dispose()


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def cli(verbose: bool) -> None:
    """omnihub: the omnichannel customer-service hub."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx (under python-telegram-bot) logs each request URL at INFO, and Telegram's
    # URLs carry the bot token: keep secrets out of the logs.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _announce(settings: Settings) -> None:
    for channel, on in settings.channel_status().items():
        state = "on" if on else "off (credentials not set)"
        click.echo(f"  channel {channel}: {state}")
    click.echo(f"  database: {settings.database_url.split('://')[0]}")
    click.echo(f"  bus, locks, rate limits: {'Redis' if settings.redis_url else 'in-process'}")
    click.echo(f"  NLU: {'Rasa at ' + str(settings.rasa_url) if settings.rasa_url else 'embedded'}")
    answering = "`omnihub worker` processes" if settings.answering == "worker" else "`serve`"
    click.echo(f"  answering: {answering}")
    metrics = "needs its bearer token" if settings.metrics_token else "public"
    click.echo(f"  /metrics: {metrics} (OMNIHUB_METRICS_TOKEN)")


async def _check_schema(settings: Settings) -> None:
    async def check(db: Database) -> bool:
        return await migrate.is_up_to_date(db)

    if not await _with_db(settings, check):
        raise click.ClickException(
            "the database schema is not up to date: run `omnihub db upgrade` first"
        )


def _serve(settings: Settings) -> None:
    _run(lambda: _check_schema(settings))
    app = create_app(settings)
    app.cleanup_ctx.append(workers_ctx)
    app.on_startup.append(heap.settle_on_startup)
    click.echo(f"omnihub listening on http://{settings.host}:{settings.port}")
    _announce(settings)
    web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None)


@cli.command()
def serve() -> None:
    """Serve the web app and run the workers in one process."""
    _serve(_settings())


@cli.command()
def worker() -> None:
    """Run the background workers only (scale-out beside `serve`)."""
    settings = _settings()
    _run(lambda: _check_schema(settings))

    def started() -> None:
        heap.settle()
        _announce(settings)

    async def main(db: Database) -> None:
        await run_worker(settings, db, on_start=started)

    _run(lambda: _with_db(settings, main))


@cli.command()
def demo() -> None:
    """Migrate, seed the demo chain if the database is empty, and serve."""
    settings = _settings()

    async def prepare(db: Database) -> str:
        await migrate.upgrade(db)
        summary = await seed_demo(db)
        if summary.created:
            click.echo(f"seeded the demo chain: {summary.describe()}")
        else:
            click.echo("the database already has data; demo seeding skipped")
        click.echo("demo logins (email / password / role):")
        for login in summary.agents:
            click.echo(f"  {login.email} / {login.password} / {login.role}")
        return await _demo_site(db, settings)

    site_key = _run(lambda: _with_db(settings, prepare))
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host  # noqa: S104
    hub_base = f"http://{host}:{settings.port}"

    async def demo_app() -> web.Application:
        # Started in run_app's loop and before the app: the Telegram bot calls getMe
        # (on the simulated Bot API) while the app starts.
        providers = await start_simulated_providers(settings.public_base, hub_base)
        demo_settings, simulated = providers.fill_in(settings)  # never replaces real ones
        app = create_app(demo_settings)
        app.cleanup_ctx.append(workers_ctx)
        app.on_startup.append(heap.settle_on_startup)
        webchat.add_demo_routes(app, site_key)
        add_simulator_routes(app, providers)

        async def close_providers(_: web.Application) -> None:
            await providers.close()  # after the hub has stopped sending

        app.on_cleanup.append(close_providers)
        base = settings.public_base
        click.echo(f"omnihub demo listening on {hub_base}")
        click.echo(f"  demo shop with the web chat: {base}/demo/shop?lang=es  (pt, en)")
        click.echo(
            f"  channel simulator: {base}{SIMULATOR_PAGE}  (simulated: "
            f"{', '.join(sorted(c.value for c in simulated)) or 'none'})"
        )
        click.echo(f"  agents' inbox: {base}/inbox  (sign in with a demo login above)")
        click.echo(f"  health: {base}/healthz  API: {base}/api/v1/openapi.json")
        _announce(demo_settings)
        return app

    web.run_app(demo_app(), host=settings.host, port=settings.port, print=None, access_log=None)


DEMO_SITE = "omnihub demo shop"


async def _demo_site(db: Database, settings: Settings) -> str:
    """The demo shop's web-chat site (made once), allowed where the demo is served."""
    origins = {
        settings.public_base,
        f"http://127.0.0.1:{settings.port}",
        f"http://localhost:{settings.port}",
    }
    async with db.transaction() as session:
        site = await session.scalar(select(WebchatSite).where(WebchatSite.name == DEMO_SITE))
        if site is None:
            site = await create_webchat_site(session, DEMO_SITE, sorted(origins))
        elif not origins <= set(site.allowed_origins):
            site.allowed_origins = sorted(origins | set(site.allowed_origins))
        return site.site_key


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database to the newest schema."""
    settings = _settings()
    _run(lambda: _with_db(settings, migrate.upgrade))
    click.echo("database is up to date")


@cli.command()
@click.option("--demo", "with_demo", is_flag=True, help="Seed the demo chain if empty.")
@click.option("--customers", type=click.IntRange(min=1), help="Add N bulk customers (benchmarks).")
def seed(with_demo: bool, customers: int | None) -> None:
    """Seed demo data, and bulk customers with ~3 orders each for benchmarks."""
    if not with_demo and customers is None:
        raise click.UsageError("say what to seed: --demo and/or --customers N")
    settings = _settings()

    async def work(db: Database) -> None:
        await migrate.upgrade(db)
        if with_demo:
            summary = await seed_demo(db)
            click.echo(
                f"demo: {summary.describe()}" if summary.created else "demo: data exists, skipped"
            )
        if customers is not None:
            with tqdm(total=customers, unit="customers", file=sys.stderr) as bar:

                def progress(done: int) -> None:
                    bar.update(done - bar.n)

                result = await seed_bulk(db, customers, progress=progress)
            click.echo(f"bulk: {result.describe()}")

    _run(lambda: _with_db(settings, work))


@cli.group()
def agents() -> None:
    """Agent accounts."""


@agents.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice([r.value for r in AgentRole]), required=True)
@click.option("--name", help="Display name (default: the part of EMAIL before @).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def agents_create(email: str, role: str, name: str | None, password_stdin: bool) -> None:
    """Create an agent account; the password is asked for (or read from stdin)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        raise click.ClickException("the password must have at least 8 characters")
    settings = _settings()

    async def work(db: Database) -> int:
        async with db.transaction() as session:
            agent = await staff.create_agent(
                session, email, name or email.split("@")[0], AgentRole(role), password
            )
            return agent.id

    try:
        agent_id = _run(lambda: _with_db(settings, work))
    except staff.AgentExists as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"created {role} {email} (id {agent_id})")


@cli.group()
def tokens() -> None:
    """API tokens for the shop's systems."""


@tokens.command("create")
@click.argument("name")
def tokens_create(name: str) -> None:
    """Print a new API token (shown once; only its hash is stored)."""
    settings = _settings()

    async def work(db: Database) -> str:
        async with db.transaction() as session:
            return (await staff.create_api_token(session, name)).token

    click.echo(_run(lambda: _with_db(settings, work)))


@cli.group("webchat")
def webchat_group() -> None:
    """The web-chat widget."""


@webchat_group.command("add-site")
@click.argument("name")
@click.option(
    "--origin",
    "origins",
    multiple=True,
    required=True,
    help="An origin allowed to embed the chat, e.g. https://shop.example (repeatable).",
)
def webchat_add_site(name: str, origins: tuple[str, ...]) -> None:
    """Register a website that embeds the chat; prints its key, secret and embed line."""
    settings = _settings()

    async def work(db: Database) -> WebchatSite:
        async with db.transaction() as session:
            return await create_webchat_site(session, name, origins)

    try:
        site = _run(lambda: _with_db(settings, work))
    except InvalidSite as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"site key:        {site.site_key}")
    click.echo(f"identity secret: {site.identity_secret}  (for the shop's backend only)")
    click.echo("embed:")
    click.echo(
        f'  <script async src="{settings.public_base}/webchat/widget.js" '
        f'data-site-key="{site.site_key}"></script>'
    )


@cli.group("telegram")
def telegram_group() -> None:
    """The Telegram channel."""


@telegram_group.command("set-webhook")
def telegram_set_webhook() -> None:
    """Register OMNIHUB_PUBLIC_URL/webhooks/telegram with Telegram, with the secret."""
    settings = _settings()
    try:
        url = _run(lambda: telegram.set_webhook(settings))
    except telegram.SetWebhookError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Telegram will call {url}")


@cli.group("nlu")
def nlu_group() -> None:
    """The chatbot's language understanding (embedded, or Rasa with OMNIHUB_RASA_URL)."""


async def _with_nlu(settings: Settings, work: Callable[[NluEngine], Awaitable[T]]) -> T:
    embedded = EmbeddedNlu.from_files()
    if settings.rasa_url is None:
        return await work(embedded)
    async with RasaEngine(
        str(settings.rasa_url),
        fallback=embedded,
        detect_language=embedded.detect_language,
        entities=embedded.entities,
    ) as rasa:
        return await work(rasa)


@nlu_group.command("parse")
@click.argument("text")
def nlu_parse(text: str) -> None:
    """Print what the chatbot understands of TEXT, as JSON."""
    settings = _settings()
    understood = _run(lambda: _with_nlu(settings, lambda engine: engine.parse(text)))
    entities = [
        {"entity": e.name, "value": e.value, "start": e.start, "end": e.end, "text": e.text}
        for e in understood.entities
    ]
    language = understood.language.value if understood.language is not None else None
    click.echo(
        json.dumps(
            {
                "intent": understood.intent,
                "confidence": round(understood.confidence, 4),
                "entities": entities,
                "language": language,
            },
            ensure_ascii=False,
        )
    )


@nlu_group.command("evaluate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def nlu_evaluate(file: Path) -> None:
    """Per-intent precision/recall on a Rasa NLU YAML FILE; the accuracy line comes last."""
    settings = _settings()
    try:
        examples = load_file(file).examples
    except TrainingDataError as exc:
        raise click.ClickException(str(exc)) from exc
    if not examples:
        raise click.ClickException(f"{file} holds no intent examples")
    report = _run(lambda: _with_nlu(settings, lambda engine: evaluate(engine, examples)))
    for line in report.lines():
        click.echo(line)


def main() -> None:
    cli(prog_name="omnihub")
