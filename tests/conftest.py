"""Shared fixtures: the tiny BEIR-layout corpus, fake-encoder configs, and per-kind configs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from indexers.base import Doc
from indexers.corpus import read_corpus

DATA = Path(__file__).parent / "data"
FAKE = {"model": "fake:hash", "batch_size": 8}


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The tiny BEIR-layout folder: corpus.jsonl, queries.jsonl, qrels/test.tsv."""
    return DATA


@pytest.fixture(scope="session")
def tiny_docs() -> list[Doc]:
    return list(read_corpus(DATA / "corpus.jsonl"))


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Run a module's model code on one torch thread (two threads thrash on a busy 2-core machine)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_causal_lm(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A randomly initialised 2-layer Llama with the packaged SmolLM2 tokenizer, saved as a model folder:
    the real generation code paths of the genre kind in seconds (it knows nothing, so it ranks at random)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from indexers.models.causal_lm import default_cache_dir, resolve_lm_folder

    tokenizer = AutoTokenizer.from_pretrained(resolve_lm_folder("smollm2-135m", default_cache_dir()))
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
    )
    folder = tmp_path_factory.mktemp("tiny-lm")
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)
