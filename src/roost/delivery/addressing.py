"""How a message is named outside the database: links, tracking URLs and VERP addresses.

Every outside reference carries the message id signed for one purpose (kit.signing), so a
forged or altered token is refused and one kind of token cannot be replayed as another.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from roost.config import Settings
from roost.kit.signing import Signer
from roost.mail.compose import BOUNCE_LOCAL_PREFIX, UNSUBSCRIBE_LOCAL_PREFIX

__all__ = ["BOUNCE_LOCAL_PREFIX", "UNSUBSCRIBE_LOCAL_PREFIX", "VISITOR_PARAM", "Addressing", "MessageLinks"]

# The query parameter a tracked click adds to its link, read by the pixel script on the landing page.
VISITOR_PARAM = "_bsc"

# What a query value must not hold as is: the separators of form decoding (& + #), the escape
# (%), and anything outside printable ASCII. Runs are percent-encoded as UTF-8; the rest of a
# URL is left alone, which costs a third of quoting it character by character.
_QUERY_UNSAFE = re.compile(r"[^A-Za-z0-9_.~!$'()*,;:@/?=-]+")


def _query_value(value: str) -> str:
    return _QUERY_UNSAFE.sub(lambda run: quote(run.group(), safe=""), value)


@dataclass(frozen=True, slots=True)
class MessageLinks:
    """Everything a rendered message names itself by, signed once."""

    token: str
    unsubscribe_url: str
    open_url: str
    click_url: Callable[[str], str]


@dataclass(frozen=True, slots=True)
class Addressing:
    base_url: str
    bounce_domain: str
    message: Signer
    click: Signer
    confirm: Signer
    visitor: Signer
    identify_visitors: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> Addressing:
        key = settings.effective_secret_key
        return cls(
            base_url=settings.base_url,
            bounce_domain=settings.effective_bounce_domain,
            message=Signer(key, "message"),
            click=Signer(key, "click"),
            confirm=Signer(key, "confirm"),
            visitor=Signer(key, "visitor"),
            identify_visitors=settings.pixel_identifier,
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

    def links(self, message_id: int) -> MessageLinks:
        """The token and every URL of one message, the token signed once (the sender's hot path)."""
        token = self.token(message_id)
        click_prefix = f"{self.base_url}/t/c/{token}?url="
        signed_prefix = f"{message_id} "

        def click_url(url: str) -> str:
            """A tracked link that can only ever redirect to `url`: the pair is signed."""
            return f"{click_prefix}{_query_value(url)}&sig={self.click.signature(signed_prefix + url)}"

        return MessageLinks(
            token=token,
            unsubscribe_url=f"{self.base_url}/u/{token}",
            open_url=f"{self.base_url}/t/o/{token}",
            click_url=click_url,
        )

    def unsubscribe_url(self, message_id: int) -> str:
        return self.links(message_id).unsubscribe_url

    def open_url(self, message_id: int) -> str:
        return self.links(message_id).open_url

    def click_url(self, message_id: int, url: str) -> str:
        return self.links(message_id).click_url(url)

    def confirm_url(self, message_id: int) -> str:
        """The link of a confirmation email: it confirms the subscription that message asks about."""
        return f"{self.base_url}/confirm/{self.confirm.sign(str(message_id))}"

    def confirmed_message_id(self, token: str) -> int | None:
        """The confirmation message a confirm link names, or None when it is forged or malformed.

        Its own signing key: a message's other tokens (links, VERP address) never confirm anything.
        """
        value = self.confirm.unsign(token)
        return int(value) if value is not None and value.isdigit() else None

    def visitor_id(self, message_id: int) -> str:
        """The identifier a tracked click hands the landing page: the message it came from, signed.

        Its own signing key: the identifier reaches the linked site, and it must not work as the
        message's other tokens do (the unsubscribe link, the open pixel).
        """
        return self.visitor.sign(str(message_id))

    def visitor_message_id(self, identifier: str) -> int | None:
        """The message a visitor identifier names, or None when it is forged or malformed."""
        value = self.visitor.unsign(identifier)
        return int(value) if value is not None and value.isdigit() else None

    def click_target(self, message_id: int, url: str, signature: str) -> str | None:
        """`url` when the signature binds it to this message, else None."""
        return url if self.click.verify(f"{message_id} {url}", signature) else None
