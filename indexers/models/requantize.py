"""Re-quantising a GGUF model once for llama.cpp's fastest CPU kernels (`iq4_nl`).

llama.cpp repacks IQ4_NL, Q4_0 and Q4_K matrices into interleaved blocks for its fastest matrix-multiply
kernels on x86 CPUs; Q4_1, Q5_0 and Q5_1 have no such kernels. Packaged "Q4_K_M" files store the
matrices whose rows do not split into 256-value K-quant blocks in Q5_0 instead (most of Qwen2.5-0.5B's,
whose width is 896), so they run on the slow path. The `iq4_nl` recipe rewrites only the transformer
blocks' weight matrices stored in those three types, to IQ4_NL: 32 values per block as a scale and
4-bit indices into a fixed non-uniform grid, closer to the source than Q4_0 at the same size and
speed. Everything else is copied as it is; a file with nothing to rewrite (Qwen2.5-1.5B's Q4_K and
Q6_K) is used as it is. The file (or a marker saying there is nothing to rewrite) is written once per
source under `cache_dir` (atomically) and reused.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter, ReaderTensor
from gguf.quants import dequantize

from indexers.errors import InvalidConfig

__all__ = ["IQ4_NL_GRID", "quantize_iq4_nl", "requantized_gguf"]

logger = logging.getLogger(__name__)

IQ4_NL_GRID = np.array([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113], np.float32)
_MIDPOINTS = (IQ4_NL_GRID[1:] + IQ4_NL_GRID[:-1]) / 2
_BLOCK = 32
_SCALE_TRIES = np.linspace(0.9, 1.1, 5, dtype=np.float32)  # starting scales around amax / -127
_CHUNK_BLOCKS = 65536  # blocks quantised at once (bounds the temporary arrays)
_MOSTLY_IQ4_NL = 25  # llama.cpp's file type for IQ4_NL files (general.file_type)


def _iq4_nl_blocks(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per block of 32 values: the scale and the grid indices with the least squared error, over a few
    starting scales, each index set refitted by least squares."""
    rows = np.arange(len(blocks))
    largest = blocks[rows, np.abs(blocks).argmax(axis=1)]
    best_error = np.full(len(blocks), np.inf, np.float32)
    best_scale = np.zeros(len(blocks), np.float32)
    best_index = np.zeros(blocks.shape, np.uint8)
    for factor in _SCALE_TRIES:
        start = largest / IQ4_NL_GRID[0] * factor
        start[start == 0] = 1.0  # an all-zero block: any index set gives scale 0 below
        index = np.searchsorted(_MIDPOINTS, blocks / start[:, None])  # the nearest grid value
        levels = IQ4_NL_GRID[index]
        scale = (levels * blocks).sum(axis=1) / (levels * levels).sum(axis=1)
        error = ((blocks - scale[:, None] * levels) ** 2).sum(axis=1)
        better = error < best_error
        best_error[better] = error[better]
        best_scale[better] = scale[better]
        best_index[better] = index[better]
    return best_scale, best_index


def quantize_iq4_nl(values: np.ndarray) -> np.ndarray:
    """`values` (rows of a multiple of 32) as IQ4_NL bytes, GGUF's layout: per block a float16 scale,
    then 16 bytes holding the first 16 indices in the low and the last 16 in the high nibbles."""
    blocks = values.astype(np.float32).reshape(-1, _BLOCK)
    out = np.empty((len(blocks), 2 + _BLOCK // 2), np.uint8)
    for first in range(0, len(blocks), _CHUNK_BLOCKS):
        part = slice(first, first + _CHUNK_BLOCKS)
        scale, index = _iq4_nl_blocks(blocks[part])
        out[part, :2] = scale.astype(np.float16).view(np.uint8).reshape(-1, 2)
        out[part, 2:] = index[:, : _BLOCK // 2] | (index[:, _BLOCK // 2 :] << 4)
    return out.reshape(*values.shape[:-1], values.shape[-1] // _BLOCK * (2 + _BLOCK // 2))


def _cached_name(source: Path, stem: str | None) -> str:
    """The cache file's name: the packaged alias, or the file's stem plus a digest of its path, size
    and modification time (another file of the same name gets its own copy)."""
    if stem is None:
        stat = source.stat()
        key = f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()
        stem = f"{source.stem}-{hashlib.sha256(key).hexdigest()[:12]}"
    return f"{stem}.iq4_nl.gguf"


def _rewritten(tensor: ReaderTensor) -> bool:
    """Whether the recipe rewrites this tensor: a block's weight matrix in a type without fast kernels."""
    slow = {GGMLQuantizationType.Q4_1, GGMLQuantizationType.Q5_0, GGMLQuantizationType.Q5_1}
    return tensor.name.startswith("blk.") and len(tensor.shape) == 2 and tensor.tensor_type in slow


def _write_iq4_nl(reader: GGUFReader, target: Path) -> None:
    writer = GGUFWriter(target, reader.fields["general.architecture"].contents())
    writer.data_alignment = reader.alignment
    for name, field in reader.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        if name == "general.file_type":
            writer.add_file_type(_MOSTLY_IQ4_NL)
            continue
        value_type = field.types[0]
        sub_type = field.types[-1] if value_type == GGUFValueType.ARRAY else None
        writer.add_key_value(name, field.contents(), value_type, sub_type=sub_type)
    for tensor in reader.tensors:
        data = np.asarray(tensor.data)
        shape = [int(n) for n in reversed(tensor.shape)]  # numpy order: rows last
        kind = tensor.tensor_type
        if _rewritten(tensor):
            data, kind = quantize_iq4_nl(dequantize(data, kind).reshape(shape)), GGMLQuantizationType.IQ4_NL
        writer.add_tensor(tensor.name, data, raw_shape=data.shape, raw_dtype=kind)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def requantized_gguf(source: Path, cache_dir: Path, stem: str | None = None) -> Path:
    """`source` re-quantised by the `iq4_nl` recipe, written under `cache_dir` on first use (atomically:
    concurrent first users each write their own copy and one wins), or `source` itself when the recipe
    changes nothing in it. `stem` names the cached file (a packaged model's alias); by default it is
    derived from the source file.

    Raises:
        InvalidConfig: the source is not a readable GGUF file.
    """
    target = cache_dir / _cached_name(source, stem)
    unchanged = target.with_suffix(".unchanged")  # remembers a source with nothing to rewrite
    if target.is_file():
        return target
    if unchanged.is_file():
        return source
    cache_dir.mkdir(parents=True, exist_ok=True)
    try:
        reader = GGUFReader(source)  # reading a GGUF header takes seconds: done once per source
        if not any(_rewritten(tensor) for tensor in reader.tensors):
            unchanged.touch()
            return source
        logger.info("re-quantising %s to %s (once)", source, target)
        handle, name = tempfile.mkstemp(prefix=f".{target.name}-", dir=cache_dir)
        os.close(handle)
        staging = Path(name)
        try:
            _write_iq4_nl(reader, staging)
            os.replace(staging, target)
        finally:
            staging.unlink(missing_ok=True)
    except (ValueError, KeyError, IndexError) as exc:  # what the reader raises for a broken file
        raise InvalidConfig(f"cannot re-quantise {source} (set requantize off): {exc}") from exc
    return target
