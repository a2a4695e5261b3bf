"""Real processes: a Celery worker against the local Redis (DB 15, a queue of its own per test),
and `tessera serve` in embedded mode."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from service.settings import Settings, get_settings

REDIS_URL = "redis://127.0.0.1:6379/15"
TERMINAL = {"succeeded", "failed", "cancelled"}


def redis_available() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture()
def redis_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Distributed-mode settings on Redis DB 15 with a unique queue, shared by the test and its workers."""
    if not redis_available():
        pytest.skip(f"no Redis at {REDIS_URL}")
    env = {
        "TESSERA_MODE": "distributed",
        "TESSERA_BROKER_URL": REDIS_URL,
        "TESSERA_DATA_DIR": str(tmp_path),
        "TESSERA_TASK_QUEUE": f"test-{uuid.uuid4().hex[:12]}",
        "TESSERA_HEARTBEAT_S": "0.5",
        "TESSERA_READY_MODELS": "[]",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture()
def start_worker(redis_settings: Settings) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Starts real `celery worker` processes (solo pool) and stops them after the test."""
    from service.cli import worker_command

    started: list[subprocess.Popen[bytes]] = []

    def start(**extra_env: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            worker_command(redis_settings),
            env={**os.environ, **extra_env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_job(client: Any, job_id: str, timeout: float = 60.0, states: set[str] = TERMINAL) -> dict[str, Any]:
    """Poll GET /v1/jobs/{id} until the job reaches one of `states`."""
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in states:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job['state']} after {timeout}s: {job}")
        time.sleep(0.2)


def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout}s")


PYTHON = sys.executable
