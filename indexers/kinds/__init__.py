"""Index kinds, one module per kind (file name = kind name), plus the shared token-index base."""

from __future__ import annotations
