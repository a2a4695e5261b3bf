"""Bad input gets a 4xx with a clear message, never a 500, and nothing stored is lost."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from indexers.base import Doc
from service.settings import get_settings
from tests.api.support import EXACT, make_settings, open_client

DOCS = "/v1/collections/docs/documents"
SEARCH = "/v1/collections/docs/search"


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory, tiny_docs: list[Doc]) -> Iterator[TestClient]:
    """Limits small enough to hit: 4 KiB bodies, 5 documents and 2 queries per request, k <= 50."""
    data_dir = tmp_path_factory.mktemp("bad-input")
    limits = {"max_request_bytes": 4096, "max_batch_docs": 5, "max_batch_queries": 2, "max_k": 50}
    records = [{"id": d.id, "title": d.title, "text": d.text, "metadata": d.metadata} for d in tiny_docs]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TESSERA_DATA_DIR", str(data_dir))
        get_settings.cache_clear()
        for client, _ in open_client(make_settings(data_dir, **limits)):
            client.post("/v1/collections", json={"name": "docs", "indexes": [EXACT]})
            for start in range(0, 20, 5):
                assert client.post(DOCS, json={"documents": records[start : start + 5]}).status_code == 202
            yield client
    get_settings.cache_clear()


def assert_nothing_lost(client: TestClient) -> None:
    """The collection still holds and serves every document."""
    assert client.get("/v1/collections/docs").json()["documents"] == 20
    hits = client.post(SEARCH, json={"query": "insulin", "k": 20}).json()["hits"]
    assert len(hits) == 20 and client.get(f"{DOCS}/d01").json()["title"] == "Insulin and diabetes"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("POST", DOCS, b'{"documents": [', 422, "JSON"),
        ("POST", DOCS, {"documents": "not a list"}, 422, "documents"),
        ("POST", DOCS, {"documents": []}, 422, "documents"),
        ("POST", DOCS, {"documents": [{"id": "x"}]}, 422, "text"),
        ("POST", DOCS, {"documents": [{"id": " ", "text": "t"}]}, 422, "id"),
        ("POST", DOCS, {"documents": [{"id": "x", "text": 3}]}, 422, "text"),
        ("POST", DOCS, {"documents": [{"id": "x", "text": "t", "metadata": [1]}]}, 422, "metadata"),
        ("POST", DOCS, {"documents": [{"id": "x", "text": "  "}]}, 422, "text: String should match"),
        (
            "POST",
            DOCS,
            b'{"documents": [{"id": "x", "text": "t"}, {"id": "n", "text": "t", "metadata": {"s": NaN}}]}',
            422,
            "document 'n': metadata.s is not a finite number",
        ),
        (
            "POST",
            DOCS,
            b'{"documents": [{"id": "i", "text": "t", "metadata": {"a": {"b": [1, -Infinity]}}}]}',
            422,
            "document 'i': metadata.a.b.1 is not a finite number",
        ),
        ("POST", DOCS, {"documents": [{"id": "d01", "text": "a"}, {"id": "d01", "text": "b"}]}, 422, "twice"),
        ("POST", DOCS, {"documents": [{"id": f"n{i}", "text": "t"} for i in range(6)]}, 413, "limit is 5"),
        ("POST", DOCS, {"documents": [{"id": "big", "text": "x" * 5000}]}, 413, "exceeds the limit"),
        ("POST", DOCS, {"documents": [{"id": "d01", "text": "t"}], "mode": "add"}, 409, "already exist"),
        ("POST", DOCS, {"documents": [{"id": "x", "text": "t"}], "mode": "merge"}, 422, "mode"),
        ("POST", f"{DOCS}/delete", {}, 422, "exactly one"),
        (
            "POST",
            f"{DOCS}/delete",
            {"ids": ["d01"], "filter": {"must": [{"key": "a", "match": 1}]}},
            422,
            "exactly one",
        ),
        ("POST", f"{DOCS}/delete", {"ids": []}, 422, "ids"),
        ("POST", f"{DOCS}/delete", {"filter": {"must": []}}, 422, "at least one condition"),
        ("POST", SEARCH, {"query": ""}, 422, "query"),
        ("POST", SEARCH, {"query": "   "}, 422, "query"),
        ("POST", SEARCH, {"query": "x", "k": 0}, 422, "k"),
        ("POST", SEARCH, {"query": "x", "k": 51}, 422, "exceeds the limit of 50"),
        ("POST", SEARCH, {"query": "x", "k": "ten"}, 422, "k"),
        ("POST", SEARCH, {"query": "x", "kind": "bm25"}, 422, "no index of kind 'bm25'"),
        (
            "POST",
            SEARCH,
            {"query": "x", "hybrid": {"kinds": ["exact", "dense"]}},
            422,
            "no index of kind 'dense'",
        ),
        ("POST", SEARCH, {"query": "x", "kind": "exact", "hybrid": {}}, 422, "not both"),
        ("POST", SEARCH, {"query": "x", "filter": {"must": [{"key": "year"}]}}, 422, "exactly one of match"),
        ("POST", SEARCH, {"query": "x", "filter": {"must": [{"key": "a b", "match": 1}]}}, 422, "key"),
        (
            "POST",
            SEARCH,
            {"query": "x", "filter": {"must": [{"key": "y", "range": {}}]}},
            422,
            "at least one of gt",
        ),
        ("POST", SEARCH, {"query": "x", "filter": {"must": [{"key": "y", "any": ["a", 1]}]}}, 422, "any"),
        ("POST", SEARCH, {"query": "x", "filter": {"should": "year"}}, 422, "should"),
        ("POST", SEARCH, {"query": "x", "unknown": 1}, 422, "unknown"),
        ("POST", SEARCH, {"query": "x " * 300}, 422, "query"),
        ("POST", f"{SEARCH}/batch", {"queries": ["a", "b", "c"]}, 413, "limit is 2"),
        ("POST", f"{SEARCH}/batch", {"queries": ["a", ""]}, 422, "queries"),
        ("POST", "/v1/collections/no/search", {"query": "x"}, 404, "does not exist"),
        ("POST", "/v1/collections", {"name": "docs", "indexes": [EXACT]}, 409, "already exists"),
    ],
)
def test_bad_request(small: TestClient, method: str, path: str, body: Any, status: int, message: str) -> None:
    if isinstance(body, bytes):
        response = small.request(method, path, content=body, headers={"Content-Type": "application/json"})
    else:
        response = small.request(method, path, json=body)
    assert response.status_code == status, response.text
    assert message.lower() in response.json()["detail"].lower()
    assert response.json()["request_id"] == response.headers["x-request-id"]
    assert_nothing_lost(small)


def test_jsonl_metadata_with_nan_or_infinity_is_422(small: TestClient) -> None:
    lines = b'{"id": "ok", "text": "t"}\n{"id": "inf", "text": "t", "metadata": {"score": Infinity}}\n'
    headers = {"Content-Type": "application/x-ndjson"}
    response = small.post(f"{DOCS}/jsonl", content=lines, headers=headers)
    assert response.status_code == 422, response.text
    assert "document 'inf': metadata.score is not a finite number" in response.json()["detail"]
    assert small.get(f"{DOCS}/ok").status_code == 404
    assert_nothing_lost(small)


def test_chunked_body_over_the_limit_is_413(small: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"documents": [{"id": "a", "text": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}]}'

    response = small.post(DOCS, content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert_nothing_lost(small)


def test_unexpected_errors_are_500_with_a_request_id(
    small: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(small.app.state.services.searcher, "search", broken)  # type: ignore[attr-defined]
    response = small.post(SEARCH, json={"query": "x"}, headers={"X-Request-ID": "trace-123"})
    assert response.status_code == 500
    assert response.json()["request_id"] == "trace-123"
    assert "secret" not in response.text
    monkeypatch.undo()
    assert_nothing_lost(small)
