"""Training of the encoders behind the index kinds (`python -m indexers.train.xtr`)."""

from __future__ import annotations

__all__: list[str] = []
