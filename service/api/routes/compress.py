"""Prompt compression and question answering: `POST /v1/compress` and `POST /v1/answer`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from indexers.compress.base import Deadline
from service.api.deps import LLMDep, ServicesDep, TenantDep
from service.core import answer as answering
from service.schemas.common import ERRORS, ErrorPublic
from service.schemas.compress import AnswerRequest, AnswerResponse, CompressRequest, CompressResponse

__all__ = ["answer", "compress", "router"]

LLM_ERRORS = {
    **ERRORS,
    502: {"model": ErrorPublic, "description": "the LLM answered unusably"},
    503: {
        "model": ErrorPublic,
        "description": "the LLM endpoint is unreachable or timed out, or compression ran past its time bound",
    },
}

DISCONNECT_POLL_S = 0.1

router = APIRouter(prefix="/v1", tags=["compress"], responses=LLM_ERRORS)


async def _cancel_on_disconnect(request: Request, deadline: Deadline) -> None:
    """Cancel `deadline` as soon as the client goes away."""
    while not await request.is_disconnected():
        await asyncio.sleep(DISCONNECT_POLL_S)
    deadline.cancel()


@router.post("/compress")
async def compress(
    body: CompressRequest, request: Request, _tenant: TenantDep, services: ServicesDep
) -> CompressResponse:
    """Compress one text (LLMLingua-2 style) or passages (also CRAG: cluster, then condense).

    Holds no tenant data, but costs model time, so it answers only to a valid key when keys are set.
    The text is bounded by TESSERA_MAX_COMPRESS_CHARS (413 above) and the work by
    TESSERA_COMPRESS_TIMEOUT_S (503 once it passes); the work also stops when the client goes away."""
    deadline = Deadline(services.settings.compress_timeout_s)
    watcher = asyncio.ensure_future(_cancel_on_disconnect(request, deadline))
    try:
        return await run_in_threadpool(answering.compress, body, services.settings, deadline)
    finally:
        watcher.cancel()


@router.post(
    "/answer",
    response_model=AnswerResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "JSON, or events if stream"}},
)
def answer(body: AnswerRequest, tenant: TenantDep, services: ServicesDep, llm: LLMDep) -> object:
    """Retrieve from a collection, compress the passages, answer with the LLM (or stream the answer)."""
    prepared = answering.prepare(services, tenant, body, llm)
    if not body.stream:
        return answering.answer(llm, prepared)
    pieces = prepared.stream(llm)
    first = next(pieces, None)  # fail here (a 503 response), not inside a started stream

    def events() -> Iterator[str]:
        yield f"event: sources\ndata: {json.dumps(prepared.summary())}\n\n"
        if first is not None:
            yield f"data: {json.dumps({'delta': first})}\n\n"
        for piece in pieces:
            yield f"data: {json.dumps({'delta': piece})}\n\n"
        yield "event: done\ndata: {}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")
