"""GET /v1/reports: the result files of the configured results folder."""

from __future__ import annotations

import json
from pathlib import Path

from service.settings import Settings
from tests.api.support import KEYS, open_client


def test_reports_list_and_read(settings: Settings, tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    (results / "b.json").write_text(json.dumps({"rows": [{"label": "x", "ndcg_at_10": 0.5}]}))
    (results / "a.json").write_text("[]")
    (results / "broken.json").write_text("{")
    (results / "notes.md").write_text("not a report")
    for client, _ in open_client(settings.model_copy(update={"results_dir": results})):
        listing = client.get("/v1/reports").json()
        assert [r["name"] for r in listing["data"]] == ["a.json", "b.json", "broken.json"]
        assert client.get("/v1/reports/b.json").json()["rows"][0]["ndcg_at_10"] == 0.5
        assert client.get("/v1/reports/missing.json").status_code == 404
        assert "not valid JSON" in client.get("/v1/reports/broken.json").json()["detail"]
        assert client.get("/v1/reports/notes.md").status_code == 422
        assert client.get("/v1/reports/..%2Fsecrets.json").status_code in (404, 422)


def test_reports_need_a_key_when_keys_are_set(settings: Settings, tmp_path: Path) -> None:
    for client, _ in open_client(settings.model_copy(update={"api_keys": KEYS, "results_dir": tmp_path})):
        assert client.get("/v1/reports").status_code == 401
        assert (
            client.get("/v1/reports", headers={"Authorization": "Bearer key-beta-00002"}).json()["count"] == 0
        )
