"""Real processes: the CLI against the database, `roost serve` over real HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.config import Settings
from roost.delivery.addressing import Addressing
from roost.kit.process_lock import ProcessLock
from tests.bounce.fixtures import Mailing, send
from tests.helpers import Api

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def env(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return {
        **os.environ,
        "ROOST_DATABASE_URL": database_url,
        "ROOST_DATA_DIR": str(tmp_path_factory.mktemp("e2e")),
        "ROOST_RATE_LIMIT": "5/second",
        "ROOST_SECRET_KEY": "e2e-secret-key",
        "ROOST_BOUNCE_DOMAIN": "bounce.e2e.test",
        "ROOST_BOUNCE_SMTP_PORT": str(_free_port()),
    }


def roost(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "roost", *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _json(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert result.returncode == 0, result.stderr
    document: dict[str, object] = json.loads(result.stdout)  # one JSON document, logs on stderr
    return document


@pytest.fixture(scope="module")
def server(env: dict[str, str]) -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "roost", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            process.kill()
            pytest.fail(f"roost serve did not come up: {process.communicate()[1].decode()[-2000:]}")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_migrate_is_idempotent(env: dict[str, str]) -> None:
    for _ in range(2):
        result = roost(env, "migrate")
        assert result.returncode == 0, result.stderr


def test_cli_account_and_token_lifecycle_against_a_served_api(env: dict[str, str], server: str) -> None:
    created = _json(
        roost(
            env,
            "account",
            "create",
            "--email",
            f"cli-{time.time_ns()}@example.com",
            "--password",
            "long enough",
            "--first-name",
            "Cli",
            "--timezone",
            "Europe/Paris",
            "--json",
        )
    )
    assert set(created) == {"account_id", "workspace_id"}
    account_id = str(created["account_id"])

    token = _json(
        roost(env, "token", "create", "--account", account_id, "--scopes", "read,write", "--name", "ci", "--json")
    )["token"]
    assert isinstance(token, str)
    assert len(token) >= 43
    headers = {"Authorization": f"Bearer {token}"}

    with httpx.Client(base_url=server, headers=headers, timeout=10) as http:
        me = http.get("/v1/account")
        assert me.status_code == 200
        assert me.json()["account_id"] == int(account_id)
        assert me.json()["timezone"] == "Europe/Paris"
        assert me.headers["x-ratelimit-limit"] == "5"
        tag = http.post("/v1/tags", json={"name": "over the wire"})
        assert tag.status_code == 201
        assert http.get("/readyz").status_code == 200

    listing = _json(roost(env, "token", "list", "--account", account_id, "--json"))
    tokens = listing["tokens"]
    assert isinstance(tokens, list)
    assert len(tokens) == 1
    assert token not in json.dumps(listing)
    token_id = str(tokens[0]["token_id"])
    assert roost(env, "token", "revoke", token_id, "--account", account_id).returncode == 0
    revoked = httpx.get(f"{server}/v1/account", headers=headers, timeout=10)
    assert revoked.status_code == 401


def test_cli_rejects_bad_input_with_a_clear_message(env: dict[str, str]) -> None:
    bad_zone = roost(
        env,
        "account",
        "create",
        "--email",
        "z@example.com",
        "--password",
        "long enough",
        "--timezone",
        "Mars/Olympus",
        "--json",
    )
    assert bad_zone.returncode == 2
    assert "timezone" in bad_zone.stderr
    bad_scope = roost(env, "token", "create", "--account", "1", "--scopes", "admin")
    assert bad_scope.returncode == 2
    assert "scopes" in bad_scope.stderr
    unknown = roost(env, "token", "create", "--account", "999999999")
    assert unknown.returncode == 2


def _addressing(env: dict[str, str]) -> Addressing:
    """How the served processes name messages: same secret key, same bounce domain."""
    return Addressing.from_settings(
        Settings(secret_key=env["ROOST_SECRET_KEY"], bounce_domain=env["ROOST_BOUNCE_DOMAIN"])
    )


async def test_every_served_process_listens_for_bounces(
    env: dict[str, str], server: str, api: Api, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # Two worker processes bind the one bounce port; every connection gets a working listener.
    mailings = [
        await Mailing.start(api, sessionmaker, _addressing(env), int(env["ROOST_BOUNCE_SMTP_PORT"])) for _ in range(4)
    ]
    for mailing in mailings:
        _, message_id = await mailing.sent()
        await mailing.deliver("postfix_user_unknown", message_id)
    assert [await mailing.status() for mailing in mailings] == ["bounced"] * 4


async def test_the_bounce_listener_runs_alone(
    env: dict[str, str], api: Api, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "roost",
        "bounce-listener",
        env={**env, "ROOST_BOUNCE_SMTP_PORT": str(port)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await _wait_for_port(port)
        mailing = await Mailing.start(api, sessionmaker, _addressing(env), port)
        _, message_id = await mailing.sent()
        await send(port, mailing.unsubscribe_address(message_id), b"Subject: unsubscribe\r\n\r\n")
        assert await mailing.status() == "unsubscribed"
    finally:
        process.terminate()
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=15)
    assert process.returncode == 0, stderr.decode()[-2000:]


async def test_the_served_processes_run_rules_within_seconds_once_per_event(server: str, api: Api) -> None:
    await _rule_runs_once_for_each_contact_tagged(server, api, "Served")


async def test_one_served_process_runs_the_background_and_another_takes_over_when_it_dies(
    env: dict[str, str], server: str, api: Api
) -> None:
    lock = Path(env["ROOST_DATA_DIR"]) / ".roost-background.lock"
    holder = await asyncio.to_thread(_background_holder, lock)
    os.kill(holder, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while (successor := await asyncio.to_thread(_background_holder, lock)) == holder:
        assert time.monotonic() < deadline, "no served process took the background over"
        await asyncio.sleep(0.2)
    assert successor != os.getpid()
    await _rule_runs_once_for_each_contact_tagged(server, api, "Taken over")


def _background_holder(lock: Path) -> int:
    """The live served process that holds the background's lock (waiting for one to hold it)."""
    deadline = time.monotonic() + 20
    while True:
        probe = ProcessLock(lock)
        if probe.try_acquire():  # nobody holds it now: let go at once, the served processes need it
            probe.release()
        elif (pid := int(lock.read_text() or 0)) and _alive(pid):
            return pid
        assert time.monotonic() < deadline, "no served process holds the background's lock"
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def _rule_runs_once_for_each_contact_tagged(server: str, api: Api, tag: str) -> None:
    """Set up in-process (the served API is rate limited), change over the wire, let `roost serve` run the rule."""
    rule = await api.created(
        "/rules",
        {
            "name": tag,
            "active": True,
            "triggers": [{"trigger": "tag_applied", "params": {"tag": tag}}],
            "actions": [{"action": "add_conversion"}, {"action": "apply_tag", "params": {"tag": f"{tag} handled"}}],
        },
    )
    conversions = (await api.get("/conversions")).json()["meta"]["total"]
    slug = tag.lower().replace(" ", "-")
    contacts = [(await api.created("/contacts", {"email": f"{slug}{n}@example.com"}))["contact_id"] for n in range(3)]
    async with httpx.AsyncClient(base_url=server, headers=api.account.headers, timeout=10) as http:
        for contact in contacts:
            assert (await http.post(f"/v1/contacts/{contact}/tags", json={"tags": [tag]})).status_code == 201
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        runs = (await api.get(f"/rules/{rule['rule_id']}/runs")).json()["meta"]["total"]
        if runs == len(contacts):
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)  # give a second handling, were there one, the time to show
    for contact in contacts:
        tags = {tag["name"] for tag in (await api.get(f"/contacts/{contact}")).json()["tags"]}
        assert tags == {tag, f"{tag} handled"}
    assert (await api.get(f"/rules/{rule['rule_id']}/runs")).json()["meta"]["total"] == len(contacts)
    assert (await api.get("/conversions")).json()["meta"]["total"] == conversions + len(contacts)


async def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"nothing listens on port {port}")
            await asyncio.sleep(0.1)
            continue
        writer.close()
        await writer.wait_closed()
        return
