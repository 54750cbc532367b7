from __future__ import annotations

from roost.account import service as account_service
from roost.api.deps import SessionDep
from roost.api.v1.auth import PrincipalDep
from roost.api.v1.routing import v1_router
from roost.api.v1.schemas import AccountOut

router = v1_router("account")


@router.get("/account", response_model=AccountOut, summary="The token's account")
async def get_account(session: SessionDep, principal: PrincipalDep) -> AccountOut:
    return AccountOut.of(await account_service.get(session, account_id=principal.account_id))
