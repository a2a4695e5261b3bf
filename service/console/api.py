"""The console's client of the `/v1` API: requests go through the same app in process (ASGI), with
the browser's API key, so the console sees exactly what the key's tenant may see."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import Request

__all__ = ["ApiClient", "ApiReply", "plain_words"]


@dataclass(frozen=True)
class ApiReply:
    """One API answer: status, JSON body (None if not JSON) and the time it took in milliseconds."""

    status: int
    body: Any
    ms: float

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def detail(self) -> str:
        """The API's error message (every error body carries `detail`)."""
        if isinstance(self.body, dict) and isinstance(self.body.get("detail"), str):
            return str(self.body["detail"])
        return f"HTTP {self.status}"


def plain_words(reply: ApiReply, what: str) -> str:
    """A sentence for an error reply that says what happened and what to do."""
    detail = reply.detail
    if reply.status == 401:
        return f"{what}: the server needs a valid API key ({detail}). Enter your key at the top of the page."
    if reply.status == 404:
        return f"{what}: not found ({detail}). Check the name, or pick one from the list."
    if reply.status == 409:
        return f"{what}: {detail}. Wait for the running job to finish, then try again."
    if reply.status in (413, 422, 400):
        return f"{what}: the server rejected the input ({detail}). Correct it and try again."
    if reply.status == 501:
        return f"{what}: {detail}."
    if reply.status == 503:
        return f"{what}: the job queue is unreachable ({detail}). Check that the worker and broker run."
    request_id = reply.body.get("request_id", "-") if isinstance(reply.body, dict) else "-"
    return (
        f"{what}: the server failed (HTTP {reply.status}, request id {request_id}). "
        "Quote the id when reporting it."
    )


class ApiClient:
    """Calls the app's own `/v1` routes for one console request, forwarding its Authorization."""

    def __init__(self, request: Request) -> None:
        self._headers = {}
        auth = request.headers.get("authorization")
        if auth:
            self._headers["authorization"] = auth
        self._transport = httpx.ASGITransport(app=request.app)

    async def call(self, method: str, path: str, **kwargs: Any) -> ApiReply:
        """Send one request to `path` (e.g. `/v1/collections`); kwargs go to httpx (json, content, params)."""
        headers = {**self._headers, **kwargs.pop("headers", {})}
        async with httpx.AsyncClient(transport=self._transport, base_url="http://console") as client:
            start = time.perf_counter()
            response = await client.request(method, path, headers=headers, **kwargs)
            ms = (time.perf_counter() - start) * 1000
        try:
            body = response.json()
        except ValueError:
            body = None
        return ApiReply(response.status_code, body, ms)
