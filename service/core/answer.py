"""Prompt compression, and question answering over a collection: retrieve (one kind or hybrid),
compress the passages, build the prompt within the LLM's window, ask the LLM."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from indexers.compress.base import Compressor, Deadline, DeadlineExceeded
from indexers.compress.crag import CragCompressor
from indexers.compress.lingua import load_lingua
from indexers.compress.prompt import AnswerPrompt, prepare_answer
from indexers.errors import InvalidInput
from indexers.models.llm import LLM
from service.core.errors import PayloadTooLarge, ServiceUnavailable
from service.core.services import Services
from service.schemas.compress import (
    AnswerRequest,
    AnswerResponse,
    Compression,
    CompressRequest,
    CompressResponse,
    SourcePublic,
)
from service.settings import Settings

__all__ = ["PreparedAnswer", "answer", "compress", "compressor_for", "prepare"]


def compressor_for(method: Literal["lingua", "crag"]) -> Compressor:
    """The packaged compressor for a method (the LLMLingua-2 model loads once per process)."""
    lingua = load_lingua()
    return lingua if method == "lingua" else CragCompressor(lingua)


def _characters(passages: Sequence[str]) -> int:
    return sum(len(passage) for passage in passages)


@contextmanager
def _time_bound(deadline: Deadline) -> Iterator[Deadline]:
    """Run a compression under `deadline`; its passing becomes a 503 naming the limit."""
    try:
        yield deadline
    except DeadlineExceeded as exc:
        if deadline.cancelled:
            raise ServiceUnavailable("compression stopped: the client went away") from exc
        raise ServiceUnavailable(
            f"compression ran past compress_timeout_s ({deadline.seconds:g} s) and was "
            "stopped; send less text"
        ) from exc


def compress(
    request: CompressRequest, settings: Settings, deadline: Deadline | None = None
) -> CompressResponse:
    """Compress one text (LLMLingua-2 style) or passages (also CRAG: cluster, then condense), under
    `deadline` (default: `compress_timeout_s` from now; the caller may cancel it).

    Raises:
        PayloadTooLarge: the text is longer than `max_compress_chars`.
        ServiceUnavailable: the compression ran past `compress_timeout_s`.
        InvalidInput: a forced token does not occur in the text; see `Compressor.compress`.
    """
    passages = [request.text] if request.text is not None else request.passages or []
    size = _characters(passages)
    if size > settings.max_compress_chars:
        raise PayloadTooLarge(
            f"the text to compress holds {size} characters, over max_compress_chars "
            f"({settings.max_compress_chars})"
        )
    with _time_bound(deadline or Deadline(settings.compress_timeout_s)) as bound:
        result = compressor_for(request.method).compress(
            passages,
            rate=request.rate,
            target_tokens=request.target_tokens,
            force_tokens=request.force_tokens,
            question=request.question,
            deadline=bound,
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


@dataclass(frozen=True)
class PreparedAnswer:
    """Everything before the LLM call: the retrieved sources and the prompt built from them."""

    sources: list[SourcePublic]
    compression: Compression
    prompt: AnswerPrompt
    max_tokens: int

    def summary(self) -> dict[str, Any]:
        """The answer's fields known before the LLM replies, as JSON values."""
        return {
            "sources": [source.model_dump() for source in self.sources],
            "compression": self.compression,
            "context_tokens_before": self.prompt.context_tokens_before,
            "context_tokens_after": self.prompt.context_tokens_after,
            "compress_seconds": self.prompt.compress_seconds,
        }

    def stream(self, llm: LLM) -> Iterator[str]:
        """The LLM's answer as text pieces, as they are generated."""
        return llm.stream(self.prompt.messages, max_tokens=self.max_tokens)


def prepare(services: Services, tenant: str, request: AnswerRequest, llm: LLM) -> PreparedAnswer:
    """Retrieve the request's passages from its collection, compress them and build the prompt.

    Raises:
        IndexNotFound: no such collection.
        InvalidConfig: a kind is not one of the collection's.
        InvalidInput: nothing was retrieved to answer from, k is over the limit, or the passages
            to compress are longer than `max_compress_chars`.
        ServiceUnavailable: the compression ran past `compress_timeout_s`.
    """
    spec = services.catalog.get(tenant, request.collection)
    plan = services.searcher.plan(
        spec,
        k=request.k,
        kind=request.kind,
        hybrid=request.hybrid,
        flt=request.filter,
        explain=False,
        with_text=True,
    )
    hits = services.searcher.search(spec, [request.query], plan)[0]
    passages = [f"{hit.title}\n{hit.text}" if hit.title else hit.text or "" for hit in hits]
    limit, size = services.settings.max_compress_chars, _characters(passages)
    if request.compression != "none" and size > limit:
        raise InvalidInput(
            f"the {len(passages)} passages retrieved hold {size} characters, over "
            f"max_compress_chars ({limit}); ask for a smaller k or compression 'none'"
        )
    with _time_bound(Deadline(services.settings.compress_timeout_s)) as deadline:
        prompt = prepare_answer(
            llm,
            request.query,
            passages,
            None if request.compression == "none" else compressor_for(request.compression),
            rate=request.rate,
            target_tokens=request.target_tokens,
            force_tokens=request.force_tokens,
            question_aware=request.question_aware,
            max_tokens=request.max_tokens,
            deadline=deadline,
        )
    sources = [SourcePublic(id=hit.id, score=hit.score, title=hit.title) for hit in hits]
    return PreparedAnswer(sources, request.compression, prompt, request.max_tokens)


def answer(llm: LLM, prepared: PreparedAnswer) -> AnswerResponse:
    """Ask the LLM with the prepared prompt.

    Raises:
        LLMUnavailable: the LLM cannot be reached or timed out.
        LLMError: the LLM rejected the request.
    """
    started = time.perf_counter()
    reply = llm.chat(prepared.prompt.messages, max_tokens=prepared.max_tokens)
    return AnswerResponse(
        answer=reply.text,
        prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens,
        answer_seconds=time.perf_counter() - started,
        **prepared.summary(),
    )
