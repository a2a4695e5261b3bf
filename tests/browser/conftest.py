"""Browser fixtures: `tessera serve` (embedded mode: API, real Celery worker, SQLite broker, Qdrant
local) on a free port with two tenants' keys, and Debian's chromium driven by Playwright."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import PYTHON, wait_http
from tests.integration.test_end_to_end import _free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
KEYS = {"key-alpha-0001": "alpha", "key-beta-00002": "beta"}
ALPHA, BETA = list(KEYS)
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = os.environ.get("CONSOLE_SCREENSHOTS")
"""Folder for the screenshots (the docs' pictures: docs/screenshots); unset: pytest's temporary folder."""
FAKE = {"model": "fake:hash", "batch_size": 8}


@dataclass
class Server:
    """A running `tessera serve` and an API client per key."""

    url: str
    process: subprocess.Popen[bytes]

    def api(self, key: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("console-data")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env |= {
        "TESSERA_READY_MODELS": "[]",
        "TESSERA_API_KEYS": json.dumps(KEYS),
        "TESSERA_RESULTS_DIR": str(ROOT / "docs" / "results"),
        "TESSERA_HEARTBEAT_S": "0.5",
    }
    log = (data / "serve.log").open("wb")
    process = subprocess.Popen(
        [PYTHON, "-m", "service.cli", "serve", "--port", str(port), "--data-dir", str(data)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    running = Server(f"http://127.0.0.1:{port}", process)
    try:
        wait_http(f"{running.url}/v1/health")
        yield running
    finally:
        running.stop()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (make install installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def use_key(page: Any, server: Server, key: str) -> None:
    """Enter `key` in the page's key box, as a person would (it goes to sessionStorage)."""
    page.goto(f"{server.url}/console/collections")
    page.fill("#api-key", key)
    page.click("#key-form button[type=submit]")
    page.wait_for_selector("#key-state:has-text('key in use')")


@pytest.fixture()
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(20_000)
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture(scope="session")
def screenshot(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Any, str], None]:
    """`screenshot(page, name)` saves the page as `{name}.png` in the screenshots folder."""
    folder = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)

    def save(page: Any, name: str) -> None:
        page.screenshot(path=str(folder / f"{name}.png"))

    return save
