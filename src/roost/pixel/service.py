"""The tracking pixel (seed 001: Pixels; CONVENTIONS §7): the embed code, the script it loads, and what
the script reports.

The snippet keeps the seed's `_bsq` command queue, so site code that already pushes `track`
commands onto it keeps working, and loads the pixel script from this server
(`static/pixel.js`, served at SCRIPT_PATH). The account is named by its workspace UUID: the
snippet is public, the integer id is not.

The script reports to COLLECT_PATH (`collect`):
- page views: counted per account and UTC day, and how many of them came from a browser tied
  to a contact. A counter, not a row per view: the table grows with days, never with traffic,
  and keeps nothing about who saw which page.
- conversions: recorded for the contact the browser is tied to (its visitor identifier, kept
  from a tracked click) through the conversion service, so they are attributed to the email
  the contact last clicked and set off `has_conversion*` rules like any other. A conversion
  from a browser tied to no contact is dropped: a conversion belongs to a contact. With an
  `event_id` a conversion reported twice is recorded once.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from importlib import resources
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from roost.account import service as account_service
from roost.conversion import service as conversion_service
from roost.delivery.addressing import Addressing
from roost.kit.clock import utcnow
from roost.pixel.repository import PageViewRepository
from roost.pixel.types import Hit, PageViewDayCount
from roost.tracking import service as tracking_service

SCRIPT_PATH = "/pixel/script"
COLLECT_PATH = "/pixel/collect"
# The script's placeholder for the collect URL, a JavaScript string literal filled in when it is served.
_COLLECT_URL_PLACEHOLDER = '"__ROOST_COLLECT_URL__"'
SOURCE_LENGTH = 255  # Conversion.source

_SNIPPET = """<script>
  var _bsq = _bsq || [];
  _bsq.push(["init", {account}]);
  _bsq.push(["track", "PageView"]);

  (function(w, d, s, id){{
    var js, fjs = d.getElementsByTagName(s)[0];
    if (d.getElementById(id)) {{ return; }}
    js = d.createElement(s); js.id = id;
    js.src = {script_url};
    fjs.parentNode.insertBefore(js, fjs);
  }}(window, document, "script", "roost-pixel-js"));
</script>"""


def _js_string(value: str) -> str:
    # A JSON string is a JavaScript string; "</" is escaped so that no value can end the <script> early.
    return json.dumps(value).replace("</", "<\\/")


def code(*, workspace_id: uuid.UUID, base_url: str) -> str:
    """The <script> a site embeds on every page to record page views for this account."""
    return _SNIPPET.format(account=_js_string(str(workspace_id)), script_url=_js_string(f"{base_url}{SCRIPT_PATH}"))


@dataclass(frozen=True, slots=True)
class Script:
    """The pixel script as served: its text, and a strong ETag of it."""

    body: bytes
    etag: str


@lru_cache(maxsize=4)
def script(*, base_url: str) -> Script:
    """The pixel script, reporting to this server's collect URL (read and filled in once per base URL)."""
    template = resources.files("roost").joinpath("static", "pixel.js").read_text(encoding="utf-8")
    if _COLLECT_URL_PLACEHOLDER not in template:
        raise RuntimeError("static/pixel.js lost its collect URL placeholder")
    body = template.replace(_COLLECT_URL_PLACEHOLDER, _js_string(f"{base_url}{COLLECT_PATH}")).encode()
    return Script(body=body, etag=f'"{hashlib.sha256(body).hexdigest()[:32]}"')


def _source(url: str | None) -> str:
    """A pixel conversion's `source`: the page it happened on, without query or fragment (they may hold
    personal data, an order token), within the column's length."""
    if not url:
        return "pixel"
    try:
        parts = urlsplit(url)
    except ValueError:  # a malformed IPv6 host, say: the page is unknown, the conversion still counts
        return "pixel"
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "pixel"
    return f"pixel: {parts.scheme}://{parts.netloc}{parts.path}"[:SOURCE_LENGTH]


async def collect(session: AsyncSession, *, addressing: Addressing, hit: Hit) -> None:
    """Record what the pixel script reports: NotFound for an unknown workspace, Invalid for a forged identifier."""
    account = await account_service.get_by_workspace(session, workspace_id=hit.workspace_id)
    contact_id = None
    if hit.identifier is not None:
        contact_id = await tracking_service.visitor_contact(
            session, addressing=addressing, account_id=account.id, identifier=hit.identifier
        )
    if hit.type == "page_view":
        await PageViewRepository(session, account.id).count(utcnow().date(), identified=contact_id is not None)
    elif contact_id is not None:
        await conversion_service.create(
            session,
            account_id=account.id,
            contact_id=contact_id,
            value=hit.value,
            currency=hit.currency,
            source=_source(hit.url),
            event_id=hit.event_id,
        )


async def page_views(session: AsyncSession, *, account_id: int, days: int) -> list[PageViewDayCount]:
    """The account's page views of the last `days` UTC days (today included) that had any, newest first."""
    today = utcnow().date()
    first: date = today - timedelta(days=days - 1)
    return await PageViewRepository(session, account_id).days(first, today)
