"""The pixel's embed code (seed 001: Pixels; CONVENTIONS §7)."""

from __future__ import annotations

import json
import re

import httpx

from tests.conftest import MakeAccount
from tests.helpers import Api, Tenant

# The arguments of each `_bsq.push([...])` command and the script the snippet loads, as JavaScript literals.
COMMAND = re.compile(r"_bsq\.push\((\[[^\]]*\])\)")
SCRIPT_SOURCE = re.compile(r"\.src = (\"[^\"]*\")")


def _commands(code: str) -> list[list[str]]:
    return [json.loads(arguments) for arguments in COMMAND.findall(code)]


async def test_pixel_code_is_a_script_that_names_this_workspace_and_loads_our_pixel(api: Api, account: Tenant) -> None:
    response = await api.get("/pixels/code")
    assert response.status_code == 200
    assert list(response.json()) == ["code"]
    code = response.json()["code"]
    assert code.startswith("<script>")
    assert code.endswith("</script>")
    assert code.count("</script>") == 1
    assert _commands(code) == [["init", str(account.workspace_id)], ["track", "PageView"]]
    assert [json.loads(source) for source in SCRIPT_SOURCE.findall(code)] == ["http://roost.test/pixel/script"]


async def test_each_account_gets_its_own_code_with_a_read_token(
    client: httpx.AsyncClient, account: Tenant, make_account: MakeAccount
) -> None:
    reader = await make_account(scopes="read")
    response = await client.get("/v1/pixels/code", headers=reader.headers)
    assert response.status_code == 200
    assert _commands(response.json()["code"])[0] == ["init", str(reader.workspace_id)]
    assert str(account.workspace_id) not in response.json()["code"]
