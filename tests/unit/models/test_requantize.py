"""Re-quantising by the `iq4_nl` recipe: the IQ4_NL byte layout; on the packaged SmolLM2-135M, which
tensors change, that the new weights stay close to the old ones, that the file is written once and loads
in llama.cpp; a file with nothing to rewrite is used as it is; a broken source is a clear error that
leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gguf import GGMLQuantizationType as Q
from gguf import GGUFReader, GGUFWriter
from gguf.quants import dequantize, quantize

from indexers.errors import InvalidConfig
from indexers.models.causal_lm import resolve_gguf_file
from indexers.models.llm import LLMConfig, load_llm
from indexers.models.requantize import IQ4_NL_GRID, quantize_iq4_nl, requantized_gguf


def test_iq4_nl_bytes_decode_as_gguf_reads_them() -> None:
    rng = np.random.default_rng(0)
    scales = rng.uniform(0.001, 0.1, size=(6, 1, 1)).astype(np.float16).astype(np.float32)
    index = rng.integers(0, 16, size=(6, 2, 32))
    index[:, :, 5] = 0  # the grid's largest magnitude (-127) in every block: its scale is found exactly
    exact = (scales * IQ4_NL_GRID[index]).reshape(6, 64)
    exact[0, :32] = 0.0  # an all-zero block
    packed = quantize_iq4_nl(exact)
    assert packed.shape == (6, 2 * 18) and packed.dtype == np.uint8
    assert np.allclose(dequantize(packed, Q.IQ4_NL).reshape(6, 64), exact, rtol=1e-3, atol=1e-6)
    noisy = rng.normal(size=(64, 256)).astype(np.float32)
    back = dequantize(quantize_iq4_nl(noisy), Q.IQ4_NL).reshape(noisy.shape)
    assert np.linalg.norm(back - noisy) < 0.12 * np.linalg.norm(noisy)  # a 4-bit code's error


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return resolve_gguf_file("smollm2-135m", tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def requantized(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return requantized_gguf(source, tmp_path_factory.mktemp("requantized"), "smollm2-135m")


def test_slow_block_matrices_become_iq4_nl_and_the_rest_is_copied(source: Path, requantized: Path) -> None:
    old = {t.name: t for t in GGUFReader(source).tensors}
    new = {t.name: t for t in GGUFReader(requantized).tensors}
    assert old.keys() == new.keys() and requantized.name == "smollm2-135m.iq4_nl.gguf"
    changed = 0
    for name, tensor in new.items():
        before = old[name]
        assert list(tensor.shape) == list(before.shape)
        if name.startswith("blk.") and before.tensor_type in {Q.Q4_1, Q.Q5_0, Q.Q5_1}:
            assert tensor.tensor_type == Q.IQ4_NL, name
            shape = [int(n) for n in reversed(before.shape)]
            was = dequantize(np.asarray(before.data), before.tensor_type).reshape(shape)
            now = dequantize(np.asarray(tensor.data), tensor.tensor_type).reshape(shape)
            assert np.linalg.norm(now - was) < 0.15 * np.linalg.norm(was), name  # close, not scrambled
            changed += 1
        else:
            assert tensor.tensor_type == before.tensor_type
            assert np.array_equal(np.asarray(tensor.data), np.asarray(before.data)), name
    assert changed == 7 * 30  # SmolLM2's seven Q4_1 matrices in each of its 30 blocks
    fields = GGUFReader(requantized).fields
    assert fields["general.file_type"].contents() == 25  # MOSTLY_IQ4_NL
    assert (
        fields["tokenizer.chat_template"].contents()
        == GGUFReader(source).fields["tokenizer.chat_template"].contents()
    )


def test_the_file_is_written_once(source: Path, requantized: Path) -> None:
    written = requantized.stat().st_mtime_ns
    assert requantized_gguf(source, requantized.parent, "smollm2-135m") == requantized
    assert requantized.stat().st_mtime_ns == written


def _tiny_gguf(path: Path, kind: Q) -> Path:
    """A GGUF file holding one block matrix of `kind` (F32 or Q5_0)."""
    values = np.random.default_rng(0).normal(size=(4, 64)).astype(np.float32)
    writer = GGUFWriter(path, "llama")
    if kind == Q.F32:
        writer.add_tensor("blk.0.ffn_up.weight", values)
    else:
        data = quantize(values, kind)
        writer.add_tensor("blk.0.ffn_up.weight", data, raw_shape=data.shape, raw_dtype=kind)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_a_gguf_path_gets_a_name_of_its_own(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    sources = [_tiny_gguf(tmp_path / folder / "model.gguf", Q.Q5_0) for folder in "ab"]
    names = {requantized_gguf(source, tmp_path / "cache").name for source in sources}
    assert len(names) == 2 and all(n.startswith("model-") and n.endswith(".iq4_nl.gguf") for n in names)
    (tensor,) = GGUFReader(tmp_path / "cache" / sorted(names)[0]).tensors
    assert tensor.tensor_type == Q.IQ4_NL


def test_the_llamacpp_backend_loads_the_requantized_model(requantized: Path) -> None:
    written = requantized.stat().st_mtime_ns
    config = LLMConfig(model="smollm2-135m", context_window=512, threads=1, cache_dir=requantized.parent)
    assert config.requantize == "iq4_nl"
    reply = load_llm(config).chat([{"role": "user", "content": "Name a colour."}], max_tokens=8)
    assert reply.text and reply.completion_tokens > 0
    assert requantized.stat().st_mtime_ns == written  # the cached file, not a new one


def test_a_file_with_nothing_to_rewrite_is_used_as_it_is(tmp_path: Path) -> None:
    plain = _tiny_gguf(tmp_path / "plain.gguf", Q.F32)
    assert requantized_gguf(plain, tmp_path / "cache") == plain
    (marker,) = (tmp_path / "cache").iterdir()
    assert marker.suffix == ".unchanged"  # the next load skips reading the file again
    assert requantized_gguf(plain, tmp_path / "cache") == plain


def test_a_broken_source_is_a_clear_error_and_leaves_nothing(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(InvalidConfig, match="requantize off"):
        requantized_gguf(broken, tmp_path / "cache")
    assert not any((tmp_path / "cache").iterdir())
