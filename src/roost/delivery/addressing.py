"""How a message is named outside the database: links, tracking URLs and VERP addresses.

Every outside reference carries the message id signed for one purpose (kit.signing), so a
forged or altered token is refused and one kind of token cannot be replayed as another.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from roost.config import Settings
from roost.kit.signing import Signer

BOUNCE_LOCAL_PREFIX = "bounces+"
UNSUBSCRIBE_LOCAL_PREFIX = "unsubscribe+"


@dataclass(frozen=True, slots=True)
class Addressing:
    base_url: str
    bounce_domain: str
    message: Signer
    click: Signer

    @classmethod
    def from_settings(cls, settings: Settings) -> Addressing:
        key = settings.effective_secret_key
        return cls(
            base_url=settings.base_url,
            bounce_domain=settings.effective_bounce_domain,
            message=Signer(key, "message"),
            click=Signer(key, "click"),
        )

    def token(self, message_id: int) -> str:
        """The signed token naming a message in its links and addresses."""
        return self.message.sign(str(message_id))

    def message_id(self, token: str) -> int | None:
        """The message a token names, or None when it is forged or malformed."""
        value = self.message.unsign(token)
        return int(value) if value is not None and value.isdigit() else None

    def return_path(self, message_id: int) -> str:
        """The VERP envelope sender: bounces come back to an address that names the message."""
        return f"{BOUNCE_LOCAL_PREFIX}{self.token(message_id)}@{self.bounce_domain}"

    def unsubscribe_url(self, message_id: int) -> str:
        return f"{self.base_url}/u/{self.token(message_id)}"

    def open_url(self, message_id: int) -> str:
        return f"{self.base_url}/t/o/{self.token(message_id)}"

    def click_url(self, message_id: int, url: str) -> str:
        """A tracked link that can only ever redirect to `url`: the pair is signed."""
        signature = self.click.signature(f"{message_id} {url}")
        return f"{self.base_url}/t/c/{self.token(message_id)}?{urlencode({'url': url, 'sig': signature})}"

    def click_target(self, message_id: int, url: str, signature: str) -> str | None:
        """`url` when the signature binds it to this message, else None."""
        return url if self.click.signature(f"{message_id} {url}") == signature.lower() else None
