"""The console in headless chromium against a real server: search and explanations, upload and
job progress, failed jobs, tenant isolation, memory view, reports, and a server that goes down.

The last test stops the server: keep it last in this module.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import ALPHA, BETA, FAKE, Server, use_key

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CORPUS = Path(__file__).parents[1] / "data" / "corpus.jsonl"
MODEL = os.environ.get("CONSOLE_TEST_MODEL", "fake:hash")
Shot = Callable[[Any, str], None]


def wait_job(api: Any, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = api.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in {"succeeded", "failed", "cancelled"} or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


@pytest.fixture(scope="module")
def papers(server: Server) -> str:
    """Tenant alpha's collection `papers` holding the tiny corpus: exact MaxSim, pooled ColBERT and
    dense, on the fake encoder (fast), or on the model named by CONSOLE_TEST_MODEL (the docs'
    screenshots: `CONSOLE_TEST_MODEL=minilm CONSOLE_SCREENSHOTS=docs/screenshots`)."""
    encoder = {**FAKE, "model": MODEL}
    indexes = [
        {"kind": "exact", "encoder": encoder},
        {"kind": "colbert_pooled", "pool_factor": 2, "encoder": encoder},
        {"kind": "dense", "encoder": encoder},
    ]
    with server.api(ALPHA) as api:
        assert api.post("/v1/collections", json={"name": "papers", "indexes": indexes}).status_code == 201
        job = api.post(
            "/v1/collections/papers/documents/jsonl",
            content=CORPUS.read_bytes(),
            headers={"Content-Type": "application/x-ndjson"},
        ).json()
        assert wait_job(api, job["id"], timeout=300)["state"] == "succeeded"
        for kind in ("exact", "colbert_pooled", "dense"):  # load indexes and model before the page times them
            api.post("/v1/collections/papers/search", json={"query": "warm up", "kind": kind})
    return "papers"


def test_search_side_by_side_then_explain_a_hit(
    page: Any, server: Server, papers: str, screenshot: Shot
) -> None:
    use_key(page, server, ALPHA)
    page.goto(f"{server.url}/console/search")
    page.wait_for_selector("input[name=kinds][value=exact]")
    page.click("#search-button")
    page.wait_for_selector("#results:has-text('Type a query first')")

    page.fill("#query", "insulin lowers blood glucose")
    page.check("input[name=hybrid]")
    page.click("#search-button")
    page.wait_for_selector(".column[data-kind=hybrid] .hit", timeout=120_000)  # first use loads the model
    kinds = page.eval_on_selector_all(".column", "cols => cols.map(c => c.dataset.kind)")
    assert kinds == ["exact", "colbert_pooled", "dense", "hybrid"]
    assert page.inner_text(".column[data-kind=exact] .hit .doc-id >> nth=0") == "d01"
    assert "ms" in page.inner_text(".column[data-kind=dense] .latency")
    screenshot(page, "search")

    page.click(".column[data-kind=exact] .hit >> nth=0 >> button.explain")
    page.wait_for_selector("#heatmap .tok.matched", timeout=60_000)
    panel = page.inner_text("#explain-panel")
    assert "Why d01 matched" in panel and "insulin" in panel
    heats = page.eval_on_selector_all(
        "#heatmap .tok", "toks => toks.map(t => parseFloat(t.style.getPropertyValue('--heat')))"
    )
    assert max(heats) == 1.0 and min(heats) < 0.5
    screenshot(page, "explain")
    page.click("#explain-panel button.qtok >> nth=0")
    focused = page.eval_on_selector_all("#heatmap .tok.focus", "toks => toks.map(t => t.dataset.q)")
    assert focused and set(focused) == {page.inner_text("#explain-panel button.qtok >> nth=0")}

    page.click(".column[data-kind=dense] .hit >> nth=0 >> .doc-id")  # dense hits offer no Explain
    assert page.locator(".column[data-kind=dense] button.explain").count() == 0


def test_upload_jsonl_and_watch_the_job(page: Any, server: Server, tmp_path: Path, screenshot: Shot) -> None:
    use_key(page, server, ALPHA)
    page.goto(f"{server.url}/console/collections")
    page.wait_for_selector("#create-form")
    page.fill("#create-form input[name=name]", "uploads")
    page.check("#create-form input[name=kinds][value=exact]")
    page.fill("#create-form input[name=model]", "fake:hash")
    page.click("#create-form button[type=submit]")
    page.wait_for_selector("tr[data-collection=uploads]")

    upload = tmp_path / "five.jsonl"
    upload.write_bytes(b"".join(CORPUS.read_bytes().splitlines(keepends=True)[:5]))
    page.select_option("#upload-form select[name=collection]", "uploads")
    page.set_input_files("#upload-form input[type=file]", str(upload))
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector("#upload-job .job[data-state=succeeded]", timeout=60_000)
    assert "exact 5" in page.inner_text("#upload-job")
    page.wait_for_selector("#jobs-table tr[data-collection=uploads][data-state=succeeded]")
    page.wait_for_selector("tr[data-collection=uploads]:has-text('v000001')")  # the table refreshed
    screenshot(page, "collections")


def test_a_failed_job_is_shown_in_plain_words(page: Any, server: Server, tmp_path: Path) -> None:
    broken = [{"kind": "exact", "encoder": {"model": "fake:hash:1"}}]  # the worker cannot load it
    with server.api(ALPHA) as api:
        assert api.post("/v1/collections", json={"name": "broken", "indexes": broken}).status_code == 201
    use_key(page, server, ALPHA)
    page.goto(f"{server.url}/console/collections")
    upload = tmp_path / "one.jsonl"
    upload.write_text(json.dumps({"_id": "x1", "text": "a document the worker cannot encode"}) + "\n")
    page.select_option("#upload-form select[name=collection]", "broken")
    page.set_input_files("#upload-form input[type=file]", str(upload))
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector("#upload-job .job[data-state=failed]", timeout=60_000)
    message = page.inner_text("#upload-job")
    assert "The job failed" in message and "fake encoder dimension" in message
    assert "Traceback" not in page.content()

    page.set_input_files(
        "#upload-form input[type=file]",
        {"name": "bad.jsonl", "mimeType": "text/plain", "buffer": b"{not json\n"},
    )
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector("#upload-job:has-text('rejected the input')")


def test_each_key_sees_only_its_tenant(page: Any, server: Server, papers: str, screenshot: Shot) -> None:
    page.goto(f"{server.url}/console/collections")
    page.wait_for_selector("#collections .error")
    assert "needs a valid API key" in page.inner_text("#collections")

    use_key(page, server, ALPHA)
    page.wait_for_selector("tr[data-collection=papers]")

    use_key(page, server, BETA)
    page.wait_for_selector("#collections:has-text('No collections for this key yet')")
    assert page.locator("tr[data-collection=papers]").count() == 0
    page.goto(f"{server.url}/console/search?collection=papers")
    page.wait_for_selector("#search-fields .error")
    assert "No collections for this key yet" in page.inner_text("#search-fields")
    with server.api(BETA) as api:
        api.post("/v1/collections", json={"name": "notes", "indexes": [{"kind": "exact", "encoder": FAKE}]})
    page.goto(f"{server.url}/console/search?collection=papers")
    page.wait_for_selector("#search-fields .error")
    assert "'papers' does not exist for this key" in page.inner_text("#search-fields")
    screenshot(page, "tenant")


def test_memory_view_says_when_an_agent_has_no_memory(page: Any, server: Server, screenshot: Shot) -> None:
    use_key(page, server, ALPHA)
    page.goto(f"{server.url}/console/memory")
    page.click("#units-form button")
    page.wait_for_selector("#units:has-text('Type an agent id first')")
    page.fill("#agent", "agent-7")
    page.click("#units-form button")
    page.wait_for_selector("#units:has-text('this agent has no memory yet')")
    screenshot(page, "memory")


def test_reports_render_tables_and_plots(page: Any, server: Server, screenshot: Shot) -> None:
    use_key(page, server, ALPHA)
    page.goto(f"{server.url}/console/reports")
    page.wait_for_selector("section[data-report='scifact-dev.json'] table")
    report = page.locator("section[data-report='scifact-dev.json']")
    assert "ndcg_at_10" in report.inner_text() and "colbert_pooled" in report.inner_text()
    titles = report.locator("svg.plot").evaluate_all("svgs => svgs.map(s => s.getAttribute('aria-label'))")
    assert "ndcg_at_10 against latency" in " ".join(titles) and len(titles) == 2
    screenshot(page, "reports")


def test_a_server_that_went_down_is_reported(page: Any, server: Server, papers: str) -> None:
    use_key(page, server, ALPHA)
    page.goto(f"{server.url}/console/search")
    page.wait_for_selector("input[name=kinds][value=exact]")
    server.stop()
    page.fill("#query", "insulin")
    page.click("#search-button")
    page.wait_for_selector("#banner:not([hidden])")
    assert "The server does not answer" in page.inner_text("#banner")
