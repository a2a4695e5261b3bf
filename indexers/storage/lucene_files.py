"""Where a Lucene-backed index keeps its Lucene files, who owns them, and the searcher open on them.

`build` and `add` write into a temporary folder owned by the instance (removed by `clear()` or
when the instance is garbage collected). `save_to` copies it into the saved version; a loaded index
searches the saved folder in place and copies it into a fresh owned folder on its first write
(`writable()`), so a saved version is never modified.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from indexers.errors import CorruptIndex

__all__ = ["LuceneFiles"]


def _copy_lucene(source: Path, target: Path) -> None:
    """Copy a committed Lucene index folder (the writer's lock file is left behind)."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("write.lock"), dirs_exist_ok=True)


class LuceneFiles:
    """The Lucene folder of one index instance and its lazily opened searcher (thread-safe opening)."""

    def __init__(self, prefix: str, open_searcher: Callable[[str], Any]) -> None:
        """
        Args:
            prefix: name prefix of the temporary folders.
            open_searcher: opens a pyserini searcher on a folder (importing pyserini through
                `indexers.storage.lucene_jvm.import_pyserini`).
        """
        self.prefix = prefix
        self.path: Path | None = None  # folder holding the live Lucene files
        self._open_searcher = open_searcher
        self._owned: Path | None = None  # temporary folder this instance owns
        self._cleanup: Callable[[], Any] | None = None  # a weakref.finalize
        self._searcher: Any = None
        self._close_once: Callable[[], Any] | None = None  # a weakref.finalize
        self._lock = threading.Lock()

    def new_folder(self) -> Path:
        """A fresh empty temporary folder (not yet adopted)."""
        return Path(tempfile.mkdtemp(prefix=self.prefix))

    def adopt(self, folder: Path) -> None:
        """Serve and own `folder` from now on, releasing the previous one."""
        self.release()
        self._owned = self.path = folder
        self._cleanup = weakref.finalize(self, shutil.rmtree, folder, ignore_errors=True)

    def writable(self) -> Path:
        """The owned folder, first copying loaded (saved) files into a fresh one if needed."""
        if self._owned is not None:
            self.close_searcher()
            return self._owned
        folder = self.new_folder()
        if self.path is not None:
            _copy_lucene(self.path, folder)
        self.adopt(folder)
        return folder

    def searcher(self) -> Any:
        """The searcher over the live folder, opened on first use."""
        with self._lock:
            if self._searcher is None:
                searcher = self._open_searcher(str(self.path))
                self._searcher = searcher
                self._close_once = weakref.finalize(self, searcher.close)
                self._close_once.atexit = False  # the JVM goes away with the process
            return self._searcher

    def close_searcher(self) -> None:
        with self._lock:
            if self._close_once is not None:
                self._close_once()
            self._searcher = self._close_once = None

    def release(self) -> None:
        """Close the searcher and remove the owned folder, if any."""
        self.close_searcher()
        if self._cleanup is not None:
            self._cleanup()
        self._owned = self._cleanup = None

    def clear(self) -> None:
        """Release everything; no folder is served afterwards."""
        self.release()
        self.path = None

    def save_to(self, target: Path, write_empty: Callable[[Path], None]) -> None:
        """Copy the live files into `target` (an empty index through `write_empty` if none)."""
        if self.path is not None and target.resolve() == self.path.resolve():
            return
        if target.exists():
            shutil.rmtree(target)
        if self.path is None:  # never built: an empty Lucene index keeps the folder loadable
            write_empty(target)
        else:
            _copy_lucene(self.path, target)

    def open_saved(self, folder: Path) -> None:
        """Serve a saved folder in place (read-only until the first write).

        Raises:
            CorruptIndex: the folder holds no Lucene index.
        """
        if not any(folder.glob("segments_*")):
            raise CorruptIndex(f"{folder.parent}: no Lucene index in {folder.name}/")
        self.release()
        self.path = folder
