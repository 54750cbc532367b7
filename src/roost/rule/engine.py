"""The rules engine: runs the rules each event triggers (CONVENTIONS §7), as a handler of the event dispatcher.

For an event about a contact, the account's active rules are matched first (`matching`), all
against the state the event is handled in, then each matching rule runs, in id order:

- once per (rule, contact, origin): the event that started a chain is its origin, and every
  event an action records carries that origin and a depth one deeper (`events.caused_by`). A
  rule that already ran for the contact in that chain is passed over, so cycles end. The run
  log's unique constraint holds this across workers: the run's row is written in the savepoint
  of its actions, so of two runs of one chain at once, the second fails on the constraint, its
  actions are undone with it, and it is passed over too;
- at depth 10 or more, a rule that matches does not act: its run is logged as `stopped`;
- the actions run in order through the services of their domains, which record their own
  events, so rules chain. `delete` removes the contact and ends the run. The actions of a run
  are all or nothing (a SAVEPOINT): when one fails because the world changed (the contact or a
  sequence was deleted meanwhile), whatever the run did is undone and the run is logged as
  `failed` with that error. The other rules and the event's dispatch go on. Any other error
  (the database) undoes the event's whole handling, which the dispatcher retries later;
- every run is a row of the rule's run log, and a rule that ran (done or failed) gets
  `last_run_at`.

All of it happens in the dispatcher's transaction, with the mark that the event was handled:
a crash undoes the actions together with the mark, and the event is handled again, once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from roost import events
from roost.contact import service as contact_service
from roost.conversion import service as conversion_service
from roost.crm import service as crm_service
from roost.errors import DomainError, Invalid, NotFound
from roost.events.dispatcher import PendingEvent
from roost.kit.clock import utcnow_seconds
from roost.models import RuleRun
from roost.rule import matching, repository
from roost.rule.repository import RuleRepository, RunRepository
from roost.rule.steps import Step
from roost.rule.types import ActiveRule

log = logging.getLogger("roost.rules")

MAX_DEPTH = 10  # a chain stops here (CONVENTIONS §7)
CONVERSION_CURRENCY = "USD"  # what add_conversion records, as a conversion made through the API defaults to
_SEQUENCE_ACTIONS = frozenset({"subscribe", "unsubscribe", "move_sequence"})


class ActionFailed(DomainError):
    """An action cannot be done as the world now is: the run is undone and logged with `message`."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RuleEngine:
    """Runs rules on events: an `EventHandler` for `roost.events.dispatcher.Dispatcher`."""

    def __init__(self) -> None:
        self._rules: dict[int, list[ActiveRule]] = {}

    async def prepare(self, session: AsyncSession, batch: Sequence[PendingEvent]) -> None:
        """Load the active rules of the accounts whose events may start one (once per batch, so never stale)."""
        accounts = {event.account_id for event in batch if _may_trigger(event)}
        self._rules = await repository.active_rules(session, accounts)

    def wants(self, event: PendingEvent) -> bool:
        """Whether the event may set off one of its account's active rules."""
        return _may_trigger(event) and bool(self._rules.get(event.account_id))

    async def handle(self, session: AsyncSession, event: PendingEvent) -> None:
        if not _may_trigger(event):
            return
        candidates = [
            rule
            for rule in self._rules.get(event.account_id, ())
            if any(matching.listens(trigger, event.type) for trigger in rule.triggers)
        ]
        if not candidates:
            return
        facts = await _facts(session, event, candidates)
        # Every rule is matched against the state the event found, before any of them acts.
        matched = [(rule, matching.first_match(rule.triggers, event.type, event.data, facts)) for rule in candidates]
        for rule, trigger in matched:
            if trigger is not None:
                await _run(session, rule, trigger, event)


def _may_trigger(event: PendingEvent) -> bool:
    return event.contact_id is not None and event.type in matching.EVENT_TYPES


async def _facts(session: AsyncSession, event: PendingEvent, rules: Sequence[ActiveRule]) -> matching.Facts:
    """Read only what the candidate rules' triggers need."""
    triggers = [trigger for rule in rules for trigger in rule.triggers]
    assert event.contact_id is not None
    email_sequence_id = None
    email_id = event.data.get("sequence_email_id")
    if isinstance(email_id, int) and matching.needs_email_sequence(triggers, event.type):
        sequences = await RuleRepository(session, event.account_id).email_sequences([email_id])
        email_sequence_id = sequences.get(email_id)
    count, value = 0, Decimal(0)
    if matching.needs_conversions(triggers, event.type):
        count, value = await conversion_service.totals(
            session, account_id=event.account_id, contact_id=event.contact_id
        )
    return matching.Facts(email_sequence_id=email_sequence_id, conversions=count, conversion_value=value)


class _AlreadyRan(Exception):
    """The run log already has this (rule, contact, origin): another worker ran the rule for this chain."""


async def _run(session: AsyncSession, rule: ActiveRule, trigger: Step, event: PendingEvent) -> None:
    """Run one rule for the event's contact, at most once per chain, and log the run."""
    assert event.contact_id is not None
    runs = RunRepository(session, event.account_id)
    if await runs.has_run(rule.id, event.contact_id, event.origin):
        return
    now = utcnow_seconds()
    run = RuleRun(
        account_id=event.account_id,
        rule_id=rule.id,
        contact_id=event.contact_id,
        event_id=event.id,
        event_type=event.type,
        origin_id=event.origin,
        depth=event.depth,
        trigger_step=trigger,
        status="done",
        created_at=now,
    )
    statuses = ["not_run"] * len(rule.actions)
    try:
        if event.depth >= MAX_DEPTH:
            run.status = "stopped"
            run.error = f"The chain of rules reached depth {MAX_DEPTH}: the actions did not run."
            async with session.begin_nested():
                await _log(session, runs, run, rule, statuses)
            return
        try:
            # The actions and the run's row, together: a run that another worker logged for this chain
            # meanwhile fails on the constraint, which undoes this run's actions too.
            async with session.begin_nested():
                await _act(session, rule, event, statuses)
                await _log(session, runs, run, rule, statuses)
                await RuleRepository(session, event.account_id).touch(rule.id, now)
        except DomainError as failure:  # the savepoint is rolled back: whatever the run did is undone
            failed = statuses.index("failed") if "failed" in statuses else None
            run.status = "failed"
            run.error = _describe(failure, None if failed is None else rule.actions[failed]["action"])
            statuses = ["undone" if status == "done" else status for status in statuses]
            async with session.begin_nested():
                await _log(session, runs, run, rule, statuses)
                await RuleRepository(session, event.account_id).touch(rule.id, now)
    except _AlreadyRan:
        log.debug("rule %s already ran for contact %s in chain %s", rule.id, event.contact_id, event.origin)


async def _log(session: AsyncSession, runs: RunRepository, run: RuleRun, rule: ActiveRule, statuses: list[str]) -> None:
    """Write the run's row; the changes made so far are flushed first, so that their errors stay theirs."""
    await session.flush()
    run.actions = [{**action, "status": status} for action, status in zip(rule.actions, statuses, strict=True)]
    runs.add(run)
    try:
        await session.flush()
    except IntegrityError:
        raise _AlreadyRan() from None


async def _act(session: AsyncSession, rule: ActiveRule, event: PendingEvent, statuses: list[str]) -> None:
    """The rule's actions, in order, noting each one's status; a DomainError when one cannot be done."""
    assert event.contact_id is not None
    with events.caused_by(session, origin_id=event.origin, depth=event.depth + 1):
        if not await _contact_exists(session, event):
            raise ActionFailed("The contact no longer exists.")
        for index, action in enumerate(rule.actions):
            statuses[index] = "failed"  # until it is done
            stop = await _perform(session, rule, action, event)
            statuses[index] = "done"
            if stop:  # the contact is gone: the actions after `delete` have no one to act on
                statuses[index + 1 :] = ["skipped"] * (len(rule.actions) - index - 1)
                return


async def _contact_exists(session: AsyncSession, event: PendingEvent) -> bool:
    assert event.contact_id is not None
    try:
        await contact_service.check_exists(session, account_id=event.account_id, contact_id=event.contact_id)
    except NotFound:
        return False
    return True


def _describe(failure: DomainError, action: str | None) -> str:
    """A domain error raised by an action, as the run log says it."""
    if isinstance(failure, ActionFailed):
        return failure.message
    if action in _SEQUENCE_ACTIONS and isinstance(failure, Invalid | NotFound):
        return "The sequence no longer exists."  # a reference the rule keeps, deleted since
    if isinstance(failure, NotFound):
        return "The contact no longer exists."
    if isinstance(failure, Invalid):
        return " ".join(message for messages in failure.errors.values() for message in messages)
    return str(failure) or type(failure).__name__


async def _perform(session: AsyncSession, rule: ActiveRule, action: Step, event: PendingEvent) -> bool:
    """Do one action through its domain's service; True when the run must stop after it (`delete`)."""
    assert event.contact_id is not None
    name, params = action["action"], action["params"]
    who: dict[str, Any] = {"account_id": event.account_id, "contact_id": event.contact_id}
    # A tag deleted since the rule was saved is no longer part of the rule (it no longer shows in it).
    if name == "apply_tag":
        await contact_service.apply_tag_ids(session, **who, tag_ids=params["tag_ids"])
    elif name == "remove_tag":
        present = await RuleRepository(session, event.account_id).tag_names(params["tag_ids"])
        for tag_id in params["tag_ids"]:
            if tag_id in present:
                await contact_service.remove_tag(session, **who, tag_id=tag_id)
    elif name == "subscribe":
        await contact_service.join_sequence(session, **who, sequence_id=params["sequence_id"])
    elif name == "unsubscribe":
        await contact_service.leave_sequence(session, **who, sequence_id=params["sequence_id"])
    elif name == "move_sequence":
        await contact_service.move_sequence(
            session, **who, from_sequence_id=params["from_sequence_id"], to_sequence_id=params["to_sequence_id"]
        )
    elif name == "add_conversion":
        await conversion_service.create(
            session, **who, value=Decimal(0), currency=CONVERSION_CURRENCY, source=f"rule: {rule.name}"[:255]
        )
    elif name == "create_task":
        due_in_days = params.get("due_in_days")
        due_at = None if due_in_days is None else utcnow_seconds() + timedelta(days=due_in_days)
        await crm_service.create(
            session, kind=crm_service.TASK, **who, values={"title": params["title"], "due_at": due_at}
        )
    elif name == "delete":
        await contact_service.delete(session, **who)
        return True
    else:
        raise ActionFailed(f"Unknown action {name!r}.")
    return False
