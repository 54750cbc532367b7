"""The pixel's embed code (seed 001: Pixels; CONVENTIONS §7)."""

from __future__ import annotations

import httpx

from tests.conftest import MakeAccount
from tests.helpers import Api, Tenant


async def test_pixel_code_is_the_seeds_snippet_for_this_workspace(api: Api, account: Tenant) -> None:
    response = await api.get("/pixels/code")
    assert response.status_code == 200
    assert response.json() == {
        "code": f"""<script>
  var _bsq = _bsq || [];
  _bsq.push(["init", "{account.workspace_id}"]);
  _bsq.push(["track", "PageView"]);

  (function(w, d, s, id){{
    var js, fjs = d.getElementsByTagName(s)[0];
    if (d.getElementById(id)) {{ return; }}
    js = d.createElement(s); js.id = id;
    js.src = "http://roost.test/pixel/script";
    fjs.parentNode.insertBefore(js, fjs);
  }}(window, document, "script", "roost-pixel-js"));
</script>"""
    }


async def test_each_account_gets_its_own_code_with_a_read_token(
    client: httpx.AsyncClient, account: Tenant, make_account: MakeAccount
) -> None:
    reader = await make_account(scopes="read")
    response = await client.get("/v1/pixels/code", headers=reader.headers)
    assert response.status_code == 200
    assert str(reader.workspace_id) in response.json()["code"]
    assert str(account.workspace_id) not in response.json()["code"]
