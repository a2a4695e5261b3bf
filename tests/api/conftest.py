"""API fixtures: an app on a temporary data folder whose jobs run inline through the real task
functions (send_task is replaced; results go to the real SQLite result backend)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from indexers.configs import EncoderConfig
from indexers.memory import MemoryConfig
from service.api.deps import get_llm
from service.settings import Settings, get_settings
from tests.api.support import DENSE, EXACT, KEYS, make_settings, open_client
from tests.scripted_llm import ScriptedLLM
from tests.unit.memory.test_memory import facts_reply


@pytest.fixture()
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Test settings; the environment points the worker code at the same data folder."""
    monkeypatch.setenv("TESSERA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TESSERA_MODE", "embedded")
    get_settings.cache_clear()
    yield make_settings(tmp_path)
    get_settings.cache_clear()


@pytest.fixture()
def client(settings: Settings) -> Iterator[TestClient]:
    for test_client, _ in open_client(settings):
        yield test_client


@pytest.fixture()
def tiny_records(tiny_docs: list[Any]) -> list[dict[str, Any]]:
    """The tiny corpus as API documents (metadata: topic, year)."""
    return [{"id": d.id, "title": d.title, "text": d.text, "metadata": d.metadata} for d in tiny_docs]


@pytest.fixture()
def loaded(client: TestClient, tiny_records: list[dict[str, Any]]) -> TestClient:
    """A client whose collection `docs` (kinds exact + dense, fake encoder) holds the tiny corpus."""
    created = client.post("/v1/collections", json={"name": "docs", "indexes": [EXACT, DENSE]})
    assert created.status_code == 201, created.text
    job = client.post("/v1/collections/docs/documents", json={"documents": tiny_records})
    assert job.status_code == 202 and job.json()["state"] == "succeeded", job.text
    return client


@pytest.fixture()
def memory_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """A client with API keys, inline jobs, the scripted LLM in the API and in the worker code."""
    llm = ScriptedLLM(facts_reply)
    config = MemoryConfig(
        encoder=EncoderConfig(model="fake:hash"), window=2, filter_threshold=0.0, consolidate_after=100
    )
    monkeypatch.setenv("TESSERA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TESSERA_MODE", "embedded")
    monkeypatch.setenv("TESSERA_MEMORY", config.model_dump_json())
    get_settings.cache_clear()  # before the worker code is imported: it reads the settings then
    monkeypatch.setattr("workers.tasks.load_llm", lambda _config: llm)
    settings: Settings = make_settings(tmp_path, api_keys=KEYS, memory=config)
    for client, _ in open_client(settings):
        client.app.dependency_overrides[get_llm] = lambda: llm  # type: ignore[attr-defined]
        yield client
    get_settings.cache_clear()
