"""The console's pages and fragments through TestClient (the browser tests drive the same routes
in chromium): rendering, plain-words errors, tenants, uploads, and the memory view over the memory API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from service.settings import Settings
from tests.api.support import ALPHA, BETA, EXACT, KEYS, open_client
from tests.api.test_memory import TURNS

CORPUS = Path(__file__).parents[1] / "data" / "corpus.jsonl"
REPO = Path(__file__).parents[2]


def test_pages_and_static_files(client: TestClient) -> None:
    assert client.get("/", follow_redirects=False).headers["location"] == "/console/search"
    for page in ("search", "collections", "memory", "reports"):
        html = client.get(f"/console/{page}").text
        assert "/console/static/htmx.min.js" in html and 'class="active"' in html
    missing = client.get("/console/elsewhere")
    assert missing.status_code == 404 and "no such console page" in missing.text
    assert client.get("/console/static/htmx.min.js").status_code == 200
    assert client.get("/console/static/htmx.LICENSE").status_code == 200


def test_search_fragment_runs_each_kind_and_hybrid(loaded: TestClient) -> None:
    form = {
        "collection": "docs",
        "query": "insulin glucose",
        "k": "3",
        "kinds": ["exact", "dense"],
        "hybrid": "true",
    }
    html = loaded.post("/console/fragments/search", data=form).text
    assert html.count('<section class="column"') == 3
    assert html.count('data-id="d01"') == 3
    assert "insulin → insulin" in html  # exact's token matches on the hit
    assert html.count('class="explain"') == 6  # exact and hybrid hits (exact explains), not dense


def test_search_fragment_errors_in_plain_words(loaded: TestClient) -> None:
    def search(**form: Any) -> str:
        return loaded.post("/console/fragments/search", data=form).text

    assert "Type a query first" in search(collection="docs", query="  ", kinds="exact")
    assert "Tick at least one index kind" in search(collection="docs", query="x")
    assert "not found" in search(collection="ghost", query="x", kinds="exact")
    assert "not found" in search(collection="../docs", query="x", kinds="exact")  # one path segment
    assert "has no index of kind" in search(collection="docs", query="x", kinds="bm25")
    fields = loaded.get("/console/fragments/search-fields", params={"collection": "ghost"}).text
    assert "&#39;ghost&#39; does not exist for this key. Pick one of: docs." in fields


def test_explain_fragment_renders_the_heat_map(loaded: TestClient) -> None:
    form = {"collection": "docs", "query": "insulin glucose", "id": "d01", "kind": ""}
    html = loaded.post("/console/fragments/explain", data=form).text
    assert 'id="heatmap"' in html and html.count('class="tok') == 14
    assert 'class="tok matched" data-q="insulin"' in html
    refused = loaded.post("/console/fragments/explain", data={**form, "kind": "dense"}).text
    assert "cannot explain scores token by token" in refused


def test_upload_fragment_starts_a_job_and_reports_its_end(client: TestClient) -> None:
    assert client.post("/v1/collections", json={"name": "docs", "indexes": [EXACT]}).status_code == 201
    files = {"file": ("corpus.jsonl", CORPUS.read_bytes(), "application/x-ndjson")}
    response = client.post(
        "/console/fragments/upload", data={"collection": "docs", "mode": "upsert"}, files=files
    )
    assert 'data-state="succeeded"' in response.text and "exact 20" in response.text
    assert response.headers["HX-Trigger"] == "job-finished"
    job_id = client.get("/v1/jobs").json()["data"][0]["id"]
    assert 'data-state="succeeded"' in client.get(f"/console/fragments/jobs/{job_id}").text
    bad = {"file": ("bad.jsonl", b"{oops\n", "application/x-ndjson")}
    refused = client.post("/console/fragments/upload", data={"collection": "docs"}, files=bad).text
    assert "rejected the input" in refused and "line 1" in refused
    empty = {"file": ("empty.jsonl", b"", "application/x-ndjson")}
    assert (
        "non-empty JSONL"
        in client.post("/console/fragments/upload", data={"collection": "docs"}, files=empty).text
    )


def test_create_collection_fragment(client: TestClient) -> None:
    form = {"name": "papers", "kinds": ["exact", "bm25"], "model": "fake:hash"}
    html = client.post("/console/fragments/collections", data=form).text
    assert 'data-collection="papers"' in html
    kinds = {k["kind"]: k["config"] for k in client.get("/v1/collections/papers").json()["kinds"]}
    assert kinds["exact"]["encoder"]["model"] == "fake:hash" and "encoder" not in kinds["bm25"]
    again = client.post("/console/fragments/collections", data=form).text
    assert "already exists" in again and 'data-collection="papers"' in again


def test_fragments_show_only_the_keys_tenant(settings: Settings) -> None:
    for client, _ in open_client(settings.model_copy(update={"api_keys": KEYS})):
        assert "needs a valid API key" in client.get("/console/fragments/collections").text
        form = {"name": "alpha-notes", "kinds": "exact", "model": "fake:hash"}
        assert "alpha-notes" in client.post("/console/fragments/collections", data=form, headers=ALPHA).text
        beta = client.get("/console/fragments/collections", headers=BETA).text
        assert "alpha-notes" not in beta and "No collections for this key yet" in beta
        search = {"collection": "alpha-notes", "query": "x", "kinds": "exact"}
        assert "not found" in client.post("/console/fragments/search", data=search, headers=BETA).text


def test_memory_view_renders_the_memory_api(memory_client: TestClient) -> None:
    def units() -> str:
        return memory_client.get(
            "/console/fragments/memory/units", params={"agent": "agent-1"}, headers=ALPHA
        ).text

    assert "this agent has no memory yet" in units()
    added = memory_client.post("/v1/memory/agent-1/turns", json={"turns": TURNS}, headers=ALPHA)
    assert added.status_code == 202 and added.json()["state"] == "succeeded"
    assert memory_client.post("/v1/memory/agent-1/consolidate", headers=ALPHA).status_code == 202
    html = units()
    assert "memory units of <strong>agent-1</strong>" in html and "turns D1:0" in html
    assert 'class="level-1"' in html and "units " in html  # an abstract unit and its sources
    context = memory_client.post(
        "/console/fragments/memory/query",
        data={"agent": "agent-1", "query": "Where did Ada go?", "token_budget": "64"},
        headers=ALPHA,
    ).text
    assert "tokens of a 64-token budget" in context and "Paris" in context
    assert (
        "Type an agent id" in memory_client.post("/console/fragments/memory/query", data={"query": "x"}).text
    )


def test_reports_fragment_renders_the_results_folder(settings: Settings, tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    for name in ("scifact-dev.json", "scifact-load.json"):
        (results / name).write_bytes((REPO / "docs" / "results" / name).read_bytes())
    for client, _ in open_client(settings.model_copy(update={"results_dir": results})):
        html = client.get("/console/fragments/reports").text
    assert 'data-report="scifact-dev.json"' in html and 'data-report="scifact-load.json"' in html
    assert html.count("<svg") == 2 and "ndcg_at_10 against latency" in html
