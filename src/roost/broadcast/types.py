from __future__ import annotations

from datetime import datetime
from typing import Literal, Protocol

ScheduleType = Literal["immediate", "scheduled", "draft"]


class ScheduleSpec(Protocol):
    """When to send, as a client asks for it (the API's wire model satisfies this).

    `type` immediate (now), scheduled (at `datetime`) or draft (not scheduled). A `datetime`
    without an offset is a wall-clock time in `timezone`, the account's when that is None.
    """

    @property
    def type(self) -> ScheduleType: ...
    @property
    def datetime(self) -> datetime | None: ...
    @property
    def timezone(self) -> str | None: ...
