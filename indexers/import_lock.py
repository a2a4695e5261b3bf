"""One process-wide lock for first imports of libraries that import lazily: transformers and pyserini.

transformers resolves its names (`AutoModel`, `DistilBertConfig`, ...) on first use through a lazy
module, and two threads doing that for the first time at once can get an `ImportError`; pyserini
imports transformers too. So every model load through transformers and every pyserini import in the
library holds this lock. It is re-entrant (a load may import what another one also imports), and it
costs nothing once the models a process uses are loaded, since each is loaded once per process.
"""

from __future__ import annotations

import threading

__all__ = ["IMPORT_LOCK"]

IMPORT_LOCK = threading.RLock()
