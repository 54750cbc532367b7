from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Request, Response

from roost.api.deps import SessionDep
from roost.api.v1.auth import PrincipalDep
from roost.api.v1.lists import PageOut, envelope, list_params
from roost.api.v1.routing import BAD_BODY, NOT_FOUND, v1_router
from roost.api.v1.rule_schemas import RuleIn, RuleOut, RulePatch, RuleRunOut
from roost.kit.ids import MAX_ID
from roost.kit.paging import ListParams
from roost.rule import service as rule_service

router = v1_router("rules")

CREATE = """Triggers are OR-ed; when one matches, the actions run in order for that contact.

Tags are named in `params.tag` (a name or a list; always answered as a list). A tag that does
not exist yet is created; the rule then keeps the tag itself, so renaming the tag shows in the
rule and deleting it drops it from the rule. Sequences, sequence emails and broadcasts must
exist in the account: an unknown id answers 422 naming its path (`triggers.0.params.email_id`).
`last_run_at` stays null until the rule first runs."""
RuleId = Annotated[int, Path(ge=1, le=MAX_ID)]
RuleList = Annotated[ListParams, Depends(list_params(rule_service.SEARCH_BY, rule_service.ORDER_BY))]
RunList = Annotated[ListParams, Depends(list_params(rule_service.RUN_SEARCH_BY, rule_service.RUN_ORDER_BY))]
RUNS = """The rule's run log, newest first: one run per contact and originating event.

A rule runs when one of its triggers matches an event about a contact, within seconds of the
change. Every event is handled exactly once, even across crashes. Actions record events in turn,
so rules chain: `event.origin_id` is the event that started the chain, `event.depth` how many
actions led from it. A rule runs at most once per contact per origin, so cycles end; at depth 10
a matching rule does not act (`stopped`). A run's actions are all or nothing: when one fails
(the contact or a sequence was deleted meanwhile), the run is `failed` with `error`, and what it
had done is undone. `search_by` `event` (event type), `status` or `error`."""


@router.get("/rules", response_model=PageOut[RuleOut], summary="List rules")
async def list_rules(request: Request, session: SessionDep, principal: PrincipalDep, params: RuleList) -> Any:
    page = await rule_service.list_page(session, account_id=principal.account_id, params=params)
    return envelope(request, page, RuleOut.of)


@router.get("/rules/{rule_id}", response_model=RuleOut, responses=NOT_FOUND, summary="Get a rule")
async def get_rule(rule_id: RuleId, session: SessionDep, principal: PrincipalDep) -> RuleOut:
    return RuleOut.of(await rule_service.get(session, account_id=principal.account_id, rule_id=rule_id))


@router.post(
    "/rules", status_code=201, response_model=RuleOut, responses=BAD_BODY, summary="Create a rule", description=CREATE
)
async def create_rule(body: RuleIn, session: SessionDep, principal: PrincipalDep) -> RuleOut:
    rule = await rule_service.create(
        session,
        account_id=principal.account_id,
        name=body.name,
        active=body.active,
        triggers=body.triggers,
        actions=body.actions,
    )
    return RuleOut.of(rule)


@router.patch(
    "/rules/{rule_id}",
    response_model=RuleOut,
    responses={**NOT_FOUND, **BAD_BODY},
    summary="Update a rule: only the given properties change",
)
async def update_rule(rule_id: RuleId, body: RulePatch, session: SessionDep, principal: PrincipalDep) -> RuleOut:
    rule = await rule_service.update(
        session,
        account_id=principal.account_id,
        rule_id=rule_id,
        name=body.name,
        active=body.active,
        triggers=body.triggers,
        actions=body.actions,
    )
    return RuleOut.of(rule)


@router.delete("/rules/{rule_id}", status_code=204, responses=NOT_FOUND, summary="Delete a rule")
async def delete_rule(rule_id: RuleId, session: SessionDep, principal: PrincipalDep) -> Response:
    await rule_service.delete(session, account_id=principal.account_id, rule_id=rule_id)
    return Response(status_code=204)


@router.get(
    "/rules/{rule_id}/runs",
    response_model=PageOut[RuleRunOut],
    responses=NOT_FOUND,
    summary="List a rule's runs",
    description=RUNS,
)
async def list_rule_runs(
    rule_id: RuleId, request: Request, session: SessionDep, principal: PrincipalDep, params: RunList
) -> Any:
    page = await rule_service.list_runs(session, account_id=principal.account_id, rule_id=rule_id, params=params)
    return envelope(request, page, RuleRunOut.of)
