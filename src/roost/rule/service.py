"""Automation rules: triggers and actions (seed 001: Rules; CONVENTIONS §7).

This is the rules' definition and their run log; running them on events is the job of
`roost.rule.engine`, which keeps `last_run_at` and writes the log. A rule names tags by
name: a tag that does not exist yet is created, as POST /contacts/{id}/tags does, and the
rule keeps the tag itself, so renaming the tag carries into the rule. Sequences, sequence
emails and broadcasts must exist in the account (422 naming the step's path otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from roost.errors import Invalid, NotFound
from roost.kit.clock import utcnow_seconds
from roost.kit.paging import ListParams, Page
from roost.models import Rule
from roost.rule import steps
from roost.rule.repository import RuleRepository, RunRepository
from roost.rule.steps import ActionSpec, TriggerSpec
from roost.rule.types import RuleView, RunView
from roost.tag import service as tag_service

SEARCH_BY = ("name",)
ORDER_BY = ("name", "created_at")
RUN_SEARCH_BY = ("event", "status", "error")
RUN_ORDER_BY = ("created_at", "contact_id")


async def _views(repo: RuleRepository, rules: Sequence[Rule]) -> list[RuleView]:
    """Rules in wire form, with one query for the names of every tag they refer to."""
    tag_ids: set[int] = set()
    for rule in rules:
        tag_ids |= steps.tag_ids_in([*rule.triggers, *rule.actions])
    names = await repo.tag_names(tag_ids)
    return [
        RuleView(rule=rule, triggers=steps.present(rule.triggers, names), actions=steps.present(rule.actions, names))
        for rule in rules
    ]


async def _get_row(repo: RuleRepository, rule_id: int) -> Rule:
    rule = await repo.get(rule_id)
    if rule is None:
        raise NotFound()
    return rule


async def _find_references(repo: RuleRepository, found: steps.Checked) -> None:
    """Note, on `found`, each referenced sequence, email or broadcast the account does not have."""
    sequences = await repo.sequence_ids({ref.id for ref in found.sequences})
    broadcasts = await repo.broadcast_ids({ref.id for ref in found.broadcasts})
    emails = await repo.email_sequences({ref.id for ref in found.emails})
    for ref in found.sequences:
        if ref.id not in sequences:
            found.fail(ref.path, f"The selected {ref.path} is invalid.")
    for ref in found.broadcasts:
        if ref.id not in broadcasts:
            found.fail(ref.path, f"The selected {ref.path} is invalid.")
    for email in found.emails:
        # An unknown sequence is already reported; its emails would only repeat it.
        if email.sequence_id in sequences and emails.get(email.id) != email.sequence_id:
            found.fail(email.path, f"The selected {email.path} is not an email of the selected sequence.")


async def _checked(
    session: AsyncSession,
    repo: RuleRepository,
    *,
    triggers: Sequence[TriggerSpec] | None,
    actions: Sequence[ActionSpec] | None,
) -> tuple[list[steps.Step] | None, list[steps.Step] | None]:
    """The given step lists in stored form, or Invalid with every problem at once.

    Missing tags are created only once everything else is valid, so a refused rule changes nothing.
    """
    found = steps.check(triggers=triggers, actions=actions)
    await _find_references(repo, found)
    if found.errors:
        raise Invalid(found.errors)
    tags = await tag_service.get_or_create(session, account_id=repo.account_id, names=found.tag_names)
    tag_ids = {tag.name.lower(): tag.id for tag in tags}
    return (
        None if found.triggers is None else steps.store_tags(found.triggers, tag_ids),
        None if found.actions is None else steps.store_tags(found.actions, tag_ids),
    )


async def list_page(session: AsyncSession, *, account_id: int, params: ListParams) -> Page[RuleView]:
    """A page of the account's rules."""
    repo = RuleRepository(session, account_id)
    page = await repo.page(params)
    return Page(items=await _views(repo, page.items), total=page.total, page=page.page, per_page=page.per_page)


async def get(session: AsyncSession, *, account_id: int, rule_id: int) -> RuleView:
    """One rule, or NotFound."""
    repo = RuleRepository(session, account_id)
    [view] = await _views(repo, [await _get_row(repo, rule_id)])
    return view


async def create(
    session: AsyncSession,
    *,
    account_id: int,
    name: str,
    active: bool,
    triggers: Sequence[TriggerSpec],
    actions: Sequence[ActionSpec],
) -> RuleView:
    """Create a rule; its steps are checked against the seed's table and the account's rows."""
    repo = RuleRepository(session, account_id)
    stored_triggers, stored_actions = await _checked(session, repo, triggers=triggers, actions=actions)
    now = utcnow_seconds()
    rule = repo.add(
        Rule(
            account_id=account_id,
            name=name,
            active=active,
            triggers=stored_triggers,
            actions=stored_actions,
            created_at=now,
            updated_at=now,
        )
    )
    await session.flush()
    [view] = await _views(repo, [rule])
    return view


async def update(
    session: AsyncSession,
    *,
    account_id: int,
    rule_id: int,
    name: str | None = None,
    active: bool | None = None,
    triggers: Sequence[TriggerSpec] | None = None,
    actions: Sequence[ActionSpec] | None = None,
) -> RuleView:
    """Change what is given; a step list given replaces the stored one whole."""
    repo = RuleRepository(session, account_id)
    rule = await _get_row(repo, rule_id)
    stored_triggers, stored_actions = await _checked(session, repo, triggers=triggers, actions=actions)
    changes: dict[str, Any] = {
        "name": name,
        "active": active,
        "triggers": stored_triggers,
        "actions": stored_actions,
    }
    changed = False
    for key, value in changes.items():
        if value is not None and getattr(rule, key) != value:
            setattr(rule, key, value)
            changed = True
    if changed:
        rule.updated_at = utcnow_seconds()
    await session.flush()
    [view] = await _views(repo, [rule])
    return view


async def delete(session: AsyncSession, *, account_id: int, rule_id: int) -> None:
    """Delete a rule; it stops reacting to events at once."""
    repo = RuleRepository(session, account_id)
    await repo.delete(await _get_row(repo, rule_id))


async def list_runs(session: AsyncSession, *, account_id: int, rule_id: int, params: ListParams) -> Page[RunView]:
    """A page of a rule's run log, newest first; an unknown rule is NotFound."""
    repo = RuleRepository(session, account_id)
    await _get_row(repo, rule_id)
    runs = RunRepository(session, account_id)
    page = await runs.page(params, base=runs.of_rule(rule_id))
    tag_ids: set[int] = set()
    for run in page.items:
        tag_ids |= steps.tag_ids_in([run.trigger_step, *run.actions])
    names = await repo.tag_names(tag_ids)
    views = [
        RunView(
            run=run,
            trigger=steps.present([run.trigger_step], names)[0],
            actions=steps.present(run.actions, names),
        )
        for run in page.items
    ]
    return Page(items=views, total=page.total, page=page.page, per_page=page.per_page)
