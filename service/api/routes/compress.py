"""Prompt compression and question answering: `POST /v1/compress` and `POST /v1/answer`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from indexers.compress.base import Compressor
from indexers.compress.crag import CragCompressor
from indexers.compress.lingua import load_lingua
from indexers.compress.prompt import prepare_answer
from service.api.deps import LLMDep, ServicesDep, TenantDep
from service.schemas.all import (
    ERRORS,
    AnswerRequest,
    AnswerResponse,
    CompressRequest,
    CompressResponse,
    ErrorPublic,
    SourcePublic,
)

LLM_ERRORS = {
    **ERRORS,
    502: {"model": ErrorPublic, "description": "the LLM answered unusably"},
    503: {"model": ErrorPublic, "description": "the LLM endpoint is unreachable or timed out"},
}

router = APIRouter(prefix="/v1", tags=["compress"], responses=LLM_ERRORS)


def compressor_for(method: Literal["none", "lingua", "crag"]) -> Compressor | None:
    """The packaged compressor for a method (loaded once per process), or None for no compression."""
    if method == "none":
        return None
    lingua = load_lingua()
    return lingua if method == "lingua" else CragCompressor(lingua)


@router.post("/compress")
def compress(body: CompressRequest) -> CompressResponse:
    """Compress one text (LLMLingua-2 style) or passages (also CRAG: cluster, then condense)."""
    compressor = compressor_for(body.method)
    assert compressor is not None
    result = compressor.compress(
        body.text if body.text is not None else body.passages or [],
        rate=body.rate,
        target_tokens=body.target_tokens,
        force_tokens=body.force_tokens,
        question=body.question,
    )
    return CompressResponse(
        text=result.text,
        rate=result.rate,
        tokens_before=result.tokens_before,
        tokens_after=result.tokens_after,
        words=result.words,
        kept=result.kept,
        seconds=result.seconds,
    )


@router.post(
    "/answer",
    response_model=AnswerResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "JSON, or events if stream"}},
)
def answer(body: AnswerRequest, tenant: TenantDep, services: ServicesDep, llm: LLMDep) -> object:
    """Retrieve from a collection, compress the passages, answer with the LLM (or stream the answer)."""
    spec = services.catalog.get(tenant, body.collection)
    plan = services.searcher.plan(
        spec,
        k=body.k,
        kind=body.kind,
        hybrid=body.hybrid,
        flt=body.filter,
        explain=False,
        with_text=True,
    )
    hits = services.searcher.search(spec, [body.query], plan)[0]
    sources = [SourcePublic(id=hit.id, score=hit.score, title=hit.title) for hit in hits]
    passages = [f"{hit.title}\n{hit.text}" if hit.title else hit.text or "" for hit in hits]
    prompt = prepare_answer(
        llm,
        body.query,
        passages,
        compressor_for(body.compression),
        rate=body.rate,
        target_tokens=body.target_tokens,
        force_tokens=body.force_tokens,
        question_aware=body.question_aware,
        max_tokens=body.max_tokens,
    )
    head = {
        "sources": [s.model_dump() for s in sources],
        "compression": body.compression,
        "context_tokens_before": prompt.context_tokens_before,
        "context_tokens_after": prompt.context_tokens_after,
        "compress_seconds": prompt.compress_seconds,
    }
    if body.stream:
        pieces = llm.stream(prompt.messages, max_tokens=body.max_tokens)
        first = next(pieces, None)  # fail here (a 503 response), not inside a started stream

        def events() -> Iterator[str]:
            yield f"event: sources\ndata: {json.dumps(head)}\n\n"
            if first is not None:
                yield f"data: {json.dumps({'delta': first})}\n\n"
            for piece in pieces:
                yield f"data: {json.dumps({'delta': piece})}\n\n"
            yield "event: done\ndata: {}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")
    started = time.perf_counter()
    reply = llm.chat(prompt.messages, max_tokens=body.max_tokens)
    return AnswerResponse(
        answer=reply.text,
        prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens,
        answer_seconds=time.perf_counter() - started,
        **head,
    )
