"""The `roost` command line (typer)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from roost.config import get_settings
from roost.db import create_engine, create_sessionmaker
from roost.errors import DomainError, Invalid, NotFound

app = typer.Typer(help="Roost: self-hosted email marketing.", no_args_is_help=True, add_completion=False)
account_app = typer.Typer(help="Manage accounts.", no_args_is_help=True)
token_app = typer.Typer(help="Manage Personal Access Tokens.", no_args_is_help=True)
dkim_app = typer.Typer(help="Manage DKIM signing keys.", no_args_is_help=True)
app.add_typer(account_app, name="account")
app.add_typer(token_app, name="token")
app.add_typer(dkim_app, name="dkim")

err = Console(stderr=True)
T = TypeVar("T")
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


def _logging() -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")


def _in_transaction(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run one unit of work against the configured database and commit it."""

    async def main() -> T:
        engine = create_engine(get_settings().effective_database_url, pool_size=1)
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except Invalid as exc:
        for path, messages in exc.errors.items():
            err.print(f"[red]{path}[/red]: {' '.join(messages)}")
        raise typer.Exit(2) from None
    except NotFound:
        err.print("[red]not found[/red]")
        raise typer.Exit(2) from None
    except DomainError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def _emit(as_json: bool, document: dict[str, Any], human: str) -> None:
    if as_json:
        typer.echo(json.dumps(document, default=str))
    else:
        Console().print(human)


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    from roost.db.migrate import upgrade

    upgrade(get_settings().effective_database_url)
    err.print("[green]database is up to date[/green]")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Processes; each runs the API and the bounce listener, one of them the background worker.",
        ),
    ] = 1,
    migrate_first: Annotated[bool, typer.Option("--migrate/--no-migrate", help="Upgrade the schema first.")] = True,
) -> None:
    """Run everything one machine needs: the APIs, public pages, the background worker and the bounce listener."""
    import uvicorn

    if migrate_first:
        migrate()
    uvicorn.run(
        "roost.api.app:serving_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="info",
    )


@app.command()
def worker() -> None:
    """Run the background worker alone (jobs, delivery and rules, for scaled deployments)."""
    import uvloop

    from roost.background import Background
    from roost.db import WriteGate
    from roost.kit import heap

    _logging()

    async def main() -> None:
        import signal

        settings = get_settings()
        engine = create_engine(settings.effective_database_url)
        runner = Background(settings, create_sessionmaker(engine), WriteGate(engine))
        heap.settle()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, runner.stop)
        try:
            await runner.run()
        finally:
            await engine.dispose()

    uvloop.run(main())


@app.command("bounce-listener")
def listen_for_bounces() -> None:
    """Run the bounce and complaint SMTP listener alone (ROOST_BOUNCE_SMTP_HOST / _PORT)."""
    from roost.bounce.listener import bounce_listener
    from roost.db import WriteGate

    _logging()
    settings = get_settings()

    async def main() -> None:
        import signal

        engine = create_engine(settings.effective_database_url)
        listener = bounce_listener(settings, create_sessionmaker(engine), WriteGate(engine))
        if listener is None:
            err.print("[red]the bounce listener is off: ROOST_BOUNCE_SMTP_PORT is 0[/red]")
            raise typer.Exit(2)
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        try:
            await listener.start()
            await stopping.wait()
        finally:
            await listener.stop()
            await engine.dispose()

    asyncio.run(main())


@account_app.command("create")
def account_create(
    email: Annotated[str, typer.Option(help="The owner's login email.")],
    password: Annotated[str, typer.Option(help="At least 8 characters.")],
    first_name: Annotated[str, typer.Option("--first-name")] = "",
    last_name: Annotated[str, typer.Option("--last-name")] = "",
    timezone: Annotated[str, typer.Option(help="IANA zone, e.g. Europe/Paris.")] = "UTC",
    as_json: JsonFlag = False,
) -> None:
    """Create an account (a workspace) with its owner."""
    from roost.account import service as account_service

    async def work(session: AsyncSession) -> dict[str, Any]:
        account = await account_service.create(
            session, email=email, password=password, first_name=first_name, last_name=last_name, timezone=timezone
        )
        return {"account_id": account.id, "workspace_id": str(account.workspace_id)}

    created = _in_transaction(work)
    _emit(as_json, created, f"account [bold]{created['account_id']}[/bold] (workspace {created['workspace_id']})")


@token_app.command("create")
def token_create(
    account: Annotated[int, typer.Option("--account", help="Account id.")],
    scopes: Annotated[str, typer.Option(help="Comma-separated: read,write.")] = "read,write",
    name: Annotated[str, typer.Option(help="A label to recognise the token by.")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Create a Personal Access Token; it is shown once."""
    from roost.auth import service as auth_service

    async def work(session: AsyncSession) -> dict[str, Any]:
        parsed = auth_service.parse_scopes(scopes)
        token, plain = await auth_service.create_token(session, account_id=account, scopes=parsed, name=name)
        return {"token": plain, "token_id": token.id, "scopes": sorted(parsed)}

    created = _in_transaction(work)
    _emit(as_json, created, f"token {created['token_id']}: [bold]{created['token']}[/bold]\nIt is not shown again.")


@token_app.command("list")
def token_list(account: Annotated[int, typer.Option("--account")], as_json: JsonFlag = False) -> None:
    """List an account's tokens (never the secrets)."""
    from roost.auth import service as auth_service

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        tokens = await auth_service.list_tokens(session, account_id=account)
        return [
            {
                "token_id": t.id,
                "name": t.name,
                "scopes": t.scopes.split(","),
                "created_at": t.created_at.isoformat(),
                "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
            }
            for t in tokens
        ]

    rows = _in_transaction(work)
    if as_json:
        typer.echo(json.dumps({"tokens": rows}))
        return
    table = Table("id", "name", "scopes", "created", "revoked")
    for row in rows:
        table.add_row(
            str(row["token_id"]), row["name"], ",".join(row["scopes"]), row["created_at"], row["revoked_at"] or ""
        )
    Console().print(table)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(help="The token id (see `token list`).")],
    account: Annotated[int, typer.Option("--account")],
    as_json: JsonFlag = False,
) -> None:
    """Revoke a token at once."""
    from roost.auth import service as auth_service

    async def work(session: AsyncSession) -> dict[str, Any]:
        token = await auth_service.revoke_token(session, account_id=account, token_id=token_id)
        return {"token_id": token.id, "revoked": True}

    _emit(as_json, _in_transaction(work), f"token {token_id} revoked")


@dkim_app.command("generate")
def dkim_generate(
    domain: Annotated[str, typer.Argument(help="The sender domain whose mail gets signed (d=).")],
    selector: Annotated[str, typer.Option(help="The DNS selector (s=).")] = "roost",
    force: Annotated[bool, typer.Option("--force", help="Replace an existing key for the domain.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create an RSA-2048 key in <data_dir>/dkim and print the DNS TXT record to publish."""
    from roost.mail import dkim

    try:
        key = dkim.generate_key(domain, selector)
        path = dkim.write_key(dkim.key_directory(get_settings()), key, replace=force)
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    except FileExistsError as exc:
        err.print(f"[red]a key for {domain} already exists ({exc}); --force replaces it[/red]")
        raise typer.Exit(2) from None
    if as_json:
        document = {
            "domain": key.domain,
            "selector": key.selector,
            "key_path": str(path),
            "record_name": key.record_name,
            "record_type": "TXT",
            "record_value": key.record_value,
        }
        typer.echo(json.dumps(document))
        return
    err.print(f"key written to {path}; publish this TXT record:")
    # Plain echo: a console would wrap the long value, and it has to be copied exactly.
    typer.echo(f"{key.record_name} TXT")
    typer.echo(key.record_value)


def main() -> None:
    app()
