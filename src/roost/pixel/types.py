from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

HitType = Literal["page_view", "conversion"]


@dataclass(frozen=True, slots=True)
class Hit:
    """What the pixel script reports: a page view or a conversion on a site of the workspace.

    `identifier` is the visitor identifier the script keeps from a tracked click (the `_bsc`
    cookie), `url` the page a conversion happened on, `event_id` the site's key for it (an order
    number) so that reporting it twice records it once.
    """

    workspace_id: uuid.UUID
    type: HitType
    identifier: str | None = None
    url: str | None = None
    value: Decimal = Decimal(0)
    currency: str = "USD"
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class PageViewDayCount:
    day: date
    page_views: int
    identified: int
