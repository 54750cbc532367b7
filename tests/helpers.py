"""Small helpers for talking to the API in tests."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from roost.background import Loop


@dataclass(frozen=True)
class Tenant:
    """An account made for one test, with a token for it."""

    id: int
    workspace_id: uuid.UUID
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Api:
    """An account's view of /v1: each call asserts nothing, tests assert on the response."""

    def __init__(self, client: httpx.AsyncClient, account: Tenant) -> None:
        self.client = client
        self.account = account

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(f"/v1{path}", params=params, headers=self.account.headers)

    async def post(self, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        return await self.client.post(f"/v1{path}", json=body, headers=self.account.headers, **kwargs)

    async def patch(self, path: str, body: Any) -> httpx.Response:
        return await self.client.patch(f"/v1{path}", json=body, headers=self.account.headers)

    async def put(self, path: str, body: Any) -> httpx.Response:
        return await self.client.put(f"/v1{path}", json=body, headers=self.account.headers)

    async def delete(self, path: str) -> httpx.Response:
        return await self.client.delete(f"/v1{path}", headers=self.account.headers)

    async def created(self, path: str, body: Any) -> dict[str, Any]:
        """POST that must succeed with 201; the resource."""
        response = await self.post(path, body)
        assert response.status_code == 201, response.text
        data: dict[str, Any] = response.json()
        return data


class Bird:
    """An account's view of the Bird face (`/workspaces/{its workspace}`), with an AccessKey header."""

    def __init__(self, client: httpx.AsyncClient, account: Tenant, *, workspace_id: uuid.UUID | None = None) -> None:
        self.client = client
        self.account = account
        self.base = f"/workspaces/{workspace_id or account.workspace_id}"
        self.headers = {"Authorization": f"AccessKey {account.token}"}

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(self.base + path, params=params, headers=self.headers)

    async def post(self, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return await self.client.post(self.base + path, json=body, headers=headers, **kwargs)

    async def patch(self, path: str, body: Any) -> httpx.Response:
        return await self.client.patch(self.base + path, json=body, headers=self.headers)

    async def delete(self, path: str) -> httpx.Response:
        return await self.client.delete(self.base + path, headers=self.headers)

    async def ok(self, method: str, path: str, body: Any = None, status: int = 200) -> dict[str, Any]:
        """A call that must answer `status`; its JSON."""
        response = await self.client.request(method, self.base + path, json=body, headers=self.headers)
        assert response.status_code == status, response.text
        data: dict[str, Any] = response.json()
        return data


async def eventually(check: Callable[[], Awaitable[bool] | bool], *, within: float = 30.0) -> None:
    """Wait until `check()` holds, polling; fail after `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        assert loop.time() < deadline, "the condition did not hold in time"
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running(*loops: Loop) -> AsyncIterator[None]:
    """Run background loops (a dispatcher, a sender, delivery runners) for the duration of the block;
    when it ends they stop, finishing what they hold."""
    tasks = [asyncio.create_task(loop.run()) for loop in loops]
    try:
        yield
    finally:
        for loop in loops:
            loop.stop()
        await asyncio.gather(*tasks)
