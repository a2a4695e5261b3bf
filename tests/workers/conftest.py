"""Worker fixtures: a data folder holding one collection `t/c` of the given kinds, with settings from env."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from indexers.configs import parse_config
from indexers.storage.versions import atomic_write
from service.jobs import CollectionSpec, Layout
from service.settings import get_settings


@pytest.fixture()
def make_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Layout]]:
    """`make_layout(configs, **env)`: embedded mode on `tmp_path`, each `TESSERA_<NAME>` of `env` set,
    and the spec of collection `t/c` with `configs` (raw config dicts) written; settings are reread."""

    def make(configs: list[dict[str, Any]], **env: str) -> Layout:
        monkeypatch.setenv("TESSERA_DATA_DIR", str(tmp_path))
        monkeypatch.setenv("TESSERA_MODE", "embedded")
        for name, value in env.items():
            monkeypatch.setenv(f"TESSERA_{name.upper()}", value)
        get_settings.cache_clear()
        layout = Layout(tmp_path)
        spec = CollectionSpec(name="c", tenant="t", configs=[parse_config(config) for config in configs])
        atomic_write(layout.spec_file("t", "c"), spec.model_dump_json())
        return layout

    yield make
    get_settings.cache_clear()
