"""Opens, clicks, unsubscribes and confirmations coming back from sent mail (CONVENTIONS §7, §8).

Every entry point takes the token of a link or pixel (roost.delivery.addressing); a forged
token, or one naming a message that no longer exists, is NotFound.

What is kept:
- open: the first open of a message sets `opened_at`, adds one `open` interaction, counts one
  `opens` and records `email.opened`. Later opens add nothing: image proxies and mail clients
  reload pixels at will, so only the first one means something.
- click: every click adds a `click` interaction with its URL (the latest click is what a
  conversion is attributed to); the first click of a message sets `clicked_at` and counts one
  `clicks`; the first click of each URL records `email.clicked`, so that a rule on one link
  fires once however often it is followed. A click is also an open when none was recorded
  (images blocked). The redirect of a click in marketing mail to a contact adds the visitor
  identifier (`_bsc`, see `landing_url`) to the link, for the pixel on the site it leads to.
- unsubscribe: see `unsubscribe`.
- confirmation: see `confirm_subscription`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from roost import events
from roost.account import service as account_service
from roost.contact import service as contact_service
from roost.delivery import stats
from roost.delivery.addressing import VISITOR_PARAM, Addressing
from roost.errors import Invalid, NotFound
from roost.form import service as form_service
from roost.kit.clock import utcnow_seconds
from roost.kit.urls import with_query_param
from roost.models import MARKETING_KINDS, Message
from roost.tracking.repository import MessageRepository, message_named
from roost.tracking.types import ConfirmationView, UnsubscribeView

_HTTP = re.compile(r"https?://", re.IGNORECASE)


async def _message(
    session: AsyncSession, message_id: int | None, *, lock: bool = False
) -> tuple[MessageRepository, Message]:
    """The message a token named (`Addressing.message_id`), or NotFound."""
    message = None if message_id is None else await message_named(session, message_id, lock=lock)
    if message is None:
        raise NotFound()
    return MessageRepository(session, message.account_id), message


def _email_data(message: Message, **extra: Any) -> dict[str, Any]:
    return {
        "message_id": message.id,
        "broadcast_id": message.broadcast_id,
        "sequence_email_id": message.sequence_email_id,
        **extra,
    }


async def _opened(session: AsyncSession, repo: MessageRepository, message: Message, at: datetime) -> None:
    if not await repo.stamp_first(message.id, "opened_at", at):
        return
    repo.add_interaction(message, "open", at)
    await stats.count(session, message, "opens")
    events.record(
        session,
        account_id=message.account_id,
        type="email.opened",
        contact_id=message.contact_id,
        data=_email_data(message),
    )


async def record_open(session: AsyncSession, *, addressing: Addressing, token: str) -> None:
    """The open pixel was loaded: the first time, the message counts as opened."""
    repo, message = await _message(session, addressing.message_id(token))
    await _opened(session, repo, message, utcnow_seconds())


def landing_url(addressing: Addressing, message: Message, url: str) -> str:
    """Where a click on `url` in the message lands: the link itself, with the visitor identifier when it is
    marketing mail to a contact.

    The identifier (the message, signed for this one use) lets the pixel on the linked site tie the
    browser to the contact without naming the contact; it is worthless as any other token. Test
    sends and transactional mail have no contact whose conversions would count, so their links land
    as written; so does every link when the setting `pixel_identifier` is off.
    """
    if not addressing.identify_visitors or message.kind not in MARKETING_KINDS or message.contact_id is None:
        return url
    return with_query_param(url, VISITOR_PARAM, addressing.visitor_id(message.id))


async def follow_click(session: AsyncSession, *, addressing: Addressing, token: str, url: str, signature: str) -> str:
    """Record a click and give the URL to redirect to: only the one the signature binds to the message
    (with the visitor identifier, see `landing_url`)."""
    message_id = addressing.message_id(token)
    # Only http(s) links are ever tracked; the scheme check keeps a redirect from being anything else.
    if message_id is None or not _HTTP.match(url) or addressing.click_target(message_id, url, signature) is None:
        raise NotFound()
    repo, message = await _message(session, message_id)
    now = utcnow_seconds()
    await _opened(session, repo, message, now)
    first_of_url = not await repo.has_interaction(message.id, "click", url)
    repo.add_interaction(message, "click", now, url)
    if await repo.stamp_first(message.id, "clicked_at", now):
        await stats.count(session, message, "clicks")
    if first_of_url:
        events.record(
            session,
            account_id=message.account_id,
            type="email.clicked",
            contact_id=message.contact_id,
            data=_email_data(message, url=url),
        )
    return landing_url(addressing, message, url)


async def visitor_contact(
    session: AsyncSession, *, addressing: Addressing, account_id: int, identifier: str
) -> int | None:
    """The contact a visitor identifier (`landing_url`) ties a browser to, in this account; None when its
    message or contact is gone, or it names another account's mail. Invalid when it is forged."""
    message_id = addressing.visitor_message_id(identifier)
    if message_id is None:
        raise Invalid.field("identifier", "The identifier is invalid.")
    message = await message_named(session, message_id)
    if message is None or message.account_id != account_id:
        return None
    return message.contact_id


async def _sender_name(session: AsyncSession, repo: MessageRepository, message: Message) -> str:
    """Whose mail the message is: its sender's name, or the account owner's for mail sent as the account."""
    sender_name = await repo.sender_name(message)
    if sender_name is None:
        account = await account_service.get(session, account_id=message.account_id)
        sender_name = account_service.display_name(account)
    return sender_name


async def _view(session: AsyncSession, repo: MessageRepository, message: Message) -> UnsubscribeView:
    sender_name = await _sender_name(session, repo, message)
    unsubscribed = False
    if message.contact_id is not None:
        await session.flush()  # the status as the database has it, with this unit of work's unsubscribe
        summaries = await contact_service.summaries(
            session, account_id=message.account_id, contact_ids=[message.contact_id]
        )
        unsubscribed = summaries[message.contact_id]["status"] == "unsubscribed"
    return UnsubscribeView(
        sender_name=sender_name,
        email=message.to_address,
        unsubscribed=unsubscribed,
        has_contact=message.contact_id is not None,
    )


async def unsubscribe_page(session: AsyncSession, *, addressing: Addressing, token: str) -> UnsubscribeView:
    """What the unsubscribe link shows; it changes nothing, since link scanners follow links (CONVENTIONS §8)."""
    repo, message = await _message(session, addressing.message_id(token))
    return await _view(session, repo, message)


async def unsubscribe(session: AsyncSession, *, addressing: Addressing, token: str) -> UnsubscribeView:
    """Unsubscribe the contact of the message a link names (the page's button, RFC 8058 one-click)."""
    repo, message = await _message(session, addressing.message_id(token), lock=True)
    await unsubscribe_contact_of(session, message=message, via="link")
    return await _view(session, repo, message)


async def unsubscribe_contact_of(session: AsyncSession, *, message: Message, via: str) -> bool:
    """Unsubscribe a message's contact because of that message (CONVENTIONS §7: DELETE /unsubscribe).

    When that changes the contact's status: an `unsubscribe` interaction, one `unsubscribes`
    for the email (the first time for this message), and the contact's queued messages are
    cancelled. Asking again changes nothing (idempotent); so does a message to no contact.
    The caller holds the message row locked, so a double submit counts once. True when the
    contact's status changed. `via` says how (link, mailto) in the interaction.
    """
    if message.contact_id is None or not await contact_service.unsubscribe(
        session, account_id=message.account_id, contact_id=message.contact_id
    ):
        return False
    repo = MessageRepository(session, message.account_id)
    if not await repo.has_interaction(message.id, "unsubscribe"):
        await stats.count(session, message, "unsubscribes")
    repo.add_interaction(message, "unsubscribe", utcnow_seconds(), detail=via)
    await repo.cancel_queued(message.contact_id)
    return True


async def confirm_subscription(session: AsyncSession, *, addressing: Addressing, token: str) -> ConfirmationView:
    """Confirm the double opt-in a confirmation email's link names (CONVENTIONS §7: forms).

    The contact becomes active and confirmed and the form's tags and sequence apply
    (`contact_service.confirm`); following the link again changes nothing. A forged token, or one
    whose message, contact or form is gone, is NotFound, and so is a contact that unsubscribed,
    bounced or complained since. The message row stays locked until the transaction ends, so two
    clicks at once take turns.
    """
    repo, message = await _message(session, addressing.confirmed_message_id(token), lock=True)
    if message.kind != "confirmation" or message.contact_id is None or message.form_id is None:
        raise NotFound()
    view = await contact_service.confirm(
        session, account_id=message.account_id, contact_id=message.contact_id, form_id=message.form_id
    )
    form = await form_service.get(session, account_id=message.account_id, form_id=message.form_id)
    return ConfirmationView(
        sender_name=await _sender_name(session, repo, message),
        email=view.contact.email,
        redirect_url=form.form.redirect_url,
    )
