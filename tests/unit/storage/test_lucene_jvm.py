"""First imports of pyserini and first model loads through transformers, made by several threads at
once, all succeed (they share `indexers.import_lock.IMPORT_LOCK`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

# What the Lucene kinds import, each from its own thread, all released at once in a fresh process.
FIRST_IMPORTS = """
import threading
from indexers.configs import EncoderConfig
from indexers.models.encoders import load_token_encoder, load_vocab_encoder
from indexers.storage.lucene_jvm import import_pyserini

NEEDS = [
    ("pyserini.search.lucene", "LuceneSearcher"),  # bm25 searcher
    ("pyserini.index.lucene", "LuceneIndexer"),  # bm25 and slim writers
    ("pyserini.pyclass", "autoclass"),  # slim searcher
    ("pyserini.pyclass", "JHashMap"),  # slim queries
    ("jnius", "JavaException"),  # bm25 errors
    ("pyserini.search.lucene", "LuceneSearcher"),
    ("encoder", "minilm"),  # a token encoder loading beside them (AutoModel)
    ("vocab", "splade-tiny"),  # an MLM encoder loading beside them (AutoModelForMaskedLM)
]
start = threading.Barrier(len(NEEDS))
failures = []


def first_import(module, name):
    start.wait()
    try:
        if module == "encoder":
            load_token_encoder(EncoderConfig(model=name))
        elif module == "vocab":
            load_vocab_encoder(EncoderConfig(model=name))
        else:
            getattr(import_pyserini(module), name)
    except BaseException as exc:
        failures.append(f"{module}.{name}: {exc!r}")


threads = [threading.Thread(target=first_import, args=need) for need in NEEDS]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print("\\n".join(failures) or "ok")
"""


@pytest.mark.slow
def test_concurrent_first_pyserini_imports_and_model_loads_all_succeed() -> None:
    """Three fresh processes at once (the race needs a first import, so each round is a new process)."""
    rounds = [
        subprocess.Popen(
            [sys.executable, "-c", FIRST_IMPORTS],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [process.communicate(timeout=600)[0].strip() for process in rounds]
    assert outputs == ["ok"] * 3
    assert all(process.returncode == 0 for process in rounds)
